"""A service's own database connection, seen one way whatever its kind.

The PostgreSQL store and lock run on the connection a service lends them:
Django's (``django.db.connection``, ``connections[alias]``), psycopg2's or
psycopg 3's.  ``Session.atomic`` joins a transaction the service has open
with a savepoint, so a failure undoes only our statements and the service's
own commit or rollback decides the rest; only on an idle connection does it
open a transaction of its own and commit it.  A borrowed connection is
never closed; one a factory made for us is, once we are done with it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ..errors import PipelineError
from .db import describe_db_error

__all__ = [
    "ACCEPTED",
    "Session",
    "SessionError",
    "borrowed",
    "describe",
    "opened",
    "session_of",
]

ACCEPTED = (
    "a Django connection (django.db.connection or connections[alias]), "
    "a psycopg2 connection or a psycopg 3 connection"
)

# libpq's PQtransactionStatus, which psycopg2 and psycopg 3 both report.
_IDLE, _ACTIVE, _INTRANS, _INERROR = 0, 1, 2, 3

_SAVEPOINT = "pipeline_collector"


class SessionError(PipelineError):
    """The connection cannot be used as it stands (its transaction is aborted)."""


def describe(exc: BaseException) -> str:
    """A database error in one line, without secrets (our own errors as they are)."""
    return str(exc) if isinstance(exc, SessionError) else describe_db_error(exc)


class Session(Protocol):
    """Protocol: statements on a service's connection, in its transaction or our own."""

    kind: str
    errors: tuple[type[BaseException], ...]

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, or ``[]`` when it returns none."""
        ...

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        ...

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """A savepoint inside an open transaction; else a transaction of our own, committed."""
        ...

    def close(self) -> None:
        """Close the connection (only ever called on one a factory made for us)."""
        ...


def _describe(obj: object) -> str:
    kind = type(obj)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _is_django(obj: object) -> bool:
    # The wrapper or its per-thread proxy; attribute access on the proxy
    # reaches the wrapper, so both answer the same.
    return all(hasattr(obj, a) for a in ("in_atomic_block", "ensure_connection", "alias", "vendor"))


def _django_owner(obj: object) -> Any:
    """The Django connection (of this thread) whose driver connection ``obj`` is, if any."""
    db = sys.modules.get("django.db")
    if db is None:
        return None
    try:
        wrappers = db.connections.all(initialized_only=True)
    except Exception:  # settings not configured: no Django connection can own it
        return None
    return next((w for w in wrappers if getattr(w, "connection", None) is obj), None)


def _driver(obj: object) -> str | None:
    """``"psycopg"`` or ``"psycopg2"`` for a connection of that driver; else ``None``."""
    # A connection of a driver means the driver is imported: never import one here.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(obj, psycopg.Connection):
        return "psycopg"
    extensions = sys.modules.get("psycopg2.extensions")
    if extensions is not None and isinstance(obj, extensions.connection):
        return "psycopg2"
    return None


def session_of(obj: object, where: str, *, dbapi: bool = False) -> Session:
    """The session over ``obj``; a ``TypeError`` naming its type when it is none we take.

    With ``dbapi`` any object with a ``cursor()`` is taken as well, its
    statements run as they come (the caller keeps its transactions).

    >>> session_of(object(), "PostgresStore")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: PostgresStore takes a Django connection (...), ...; got object
    """
    if _is_django(obj):
        vendor = getattr(obj, "vendor", None)
        if vendor != "postgresql":
            raise TypeError(
                f"{where} needs a PostgreSQL database; Django's connection "
                f"{getattr(obj, 'alias', '?')!r} is {vendor}"
            )
        return _DjangoSession(obj)
    driver = _driver(obj)
    if driver is not None:
        # Django's own driver connection (``connection.connection``) goes through
        # Django, whose atomic block it cannot see from the driver's side.
        owner = _django_owner(obj)
        return _DriverSession(obj, driver) if owner is None else _DjangoSession(owner)
    if dbapi and callable(getattr(obj, "cursor", None)):
        return _DbApiSession(obj)
    also = ", any DB-API connection with a cursor()" if dbapi else ""
    raise TypeError(
        f"{where} takes {ACCEPTED}{also}, or a callable that returns a new one; "
        f"got {_describe(obj)}"
    )


def borrowed(obj: object) -> bool:
    """Whether a factory's connection still belongs to the service (Django's does)."""
    return _is_django(obj)


@contextlib.contextmanager
def opened(
    source: object, where: str, *, dbapi: bool = False, autocommit: bool = False
) -> Iterator[tuple[Session, bool]]:
    """The session over ``source`` (a connection, or a factory of new ones) and whether we own it.

    A connection a factory made is closed on exit, unless it is Django's:
    Django opens and closes its own connections.  A factory that fails
    raises ``SessionError`` ("cannot connect: ...").  With ``autocommit`` a
    connection we own is switched to autocommit mode.
    """
    if not callable(source):
        yield session_of(source, where, dbapi=dbapi), False
        return
    try:
        made = source()
    except Exception as exc:
        raise SessionError(f"cannot connect: {describe_db_error(exc)}") from None
    owned = not borrowed(made)
    try:
        session = session_of(made, where, dbapi=dbapi)
    except TypeError:
        if owned:
            with contextlib.suppress(Exception):
                made.close()
        raise
    if owned and autocommit and not getattr(made, "autocommit", True):
        with contextlib.suppress(Exception):
            made.autocommit = True
    try:
        yield session, owned
    finally:
        if owned:
            with contextlib.suppress(Exception):
                session.close()


class _Cursors:
    """Statements through ``cursor()``, the one thing all three kinds share."""

    conn: Any

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return [tuple(r) for r in cursor.fetchall()] if cursor.description is not None else []
        finally:
            cursor.close()

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        cursor = self.conn.cursor()
        try:
            cursor.executemany(sql, list(params))
        finally:
            cursor.close()

    def close(self) -> None:
        self.conn.close()


class _DjangoSession(_Cursors):
    """Django's connection: its cursor, its ``atomic`` (a savepoint when one is open)."""

    kind = "django"

    def __init__(self, conn: Any) -> None:
        from django.db import Error

        self.conn = conn
        self.errors: tuple[type[BaseException], ...] = (Error, SessionError)

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        from django.db import transaction

        # Inside the service's atomic block (or with autocommit off) this is a
        # savepoint and commits nothing; in autocommit mode, a transaction of ours.
        atomic: contextlib.AbstractContextManager[None] = transaction.atomic(using=self.conn.alias)
        return atomic


class _DriverSession(_Cursors):
    """A psycopg2 or psycopg 3 connection: the transaction status says whose transaction it is."""

    def __init__(self, conn: Any, kind: str) -> None:
        self.conn = conn
        self.kind = kind
        error: type[BaseException] = sys.modules[kind].Error
        self.errors: tuple[type[BaseException], ...] = (error, SessionError)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        status = self.conn.info.transaction_status
        if status == _INERROR:
            raise SessionError(
                "the connection's transaction is aborted; roll it back before using it"
            )
        if status in (_ACTIVE, _INTRANS):
            yield from self._savepoint()
        else:
            yield from self._own()

    def _savepoint(self) -> Iterator[None]:
        self.rows(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.rows(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                self.rows(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            raise
        self.rows(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    def _own(self) -> Iterator[None]:
        # Without autocommit the driver begins at the first statement by itself.
        explicit = bool(self.conn.autocommit)
        if explicit:
            self.rows("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._end("ROLLBACK", explicit)
            raise
        self._end("COMMIT", explicit)

    def _end(self, word: str, explicit: bool) -> None:
        if explicit:
            self.rows(word)
        elif word == "COMMIT":
            self.conn.commit()
        else:
            self.conn.rollback()


class _DbApiSession(_Cursors):
    """Any other DB-API connection: statements as they come, transactions left to the caller."""

    kind = "dbapi"
    errors: tuple[type[BaseException], ...] = (Exception,)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()
