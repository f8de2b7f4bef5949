"""A PostgreSQL session-level advisory lock, keyed as the services key theirs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ..database.connection import Session, SessionError, describe, opened, session_of
from ..database.db import require_psycopg
from ..errors import ConfigurationError, LockError
from ..log import logger
from .keys import LOCK_KEYS, Scheme
from .polling import check_timeout, poll_delays

__all__ = ["DBConnection", "PostgresAdvisoryLock"]

log = logger("lock")


class DBConnection(Protocol):
    """Protocol: a DB-API connection with ``%s`` parameters (Django's, psycopg 3's or 2's)."""

    def cursor(self) -> Any: ...


class PostgresAdvisoryLock:
    """A session-level PostgreSQL advisory lock, as the services take today.

    ``connection`` is the service's connection (Django's
    ``django.db.connection`` or ``connections[alias]``, psycopg2's, psycopg
    3's, or any DB-API connection with ``%s`` parameters), or a callable
    returning a new one (then the lock opens it for each ``acquire``, in
    autocommit mode, and closes it afterwards; a Django connection it returns
    is left open, Django's to manage).  A connection that was lent is never
    closed, and a transaction open on it is joined with a savepoint, never
    committed.  The lock lives as long as the session: keep the connection
    open while the run holds it, and give each run its own session
    (advisory locks are re-entrant within one).

    ``scheme`` picks how ``name`` becomes the key, so a service excludes the
    runs of the project it replaces: ``sha512`` (insights-analytics-collector,
    the default), ``crc32`` (AWX through django-pglocks) or ``hashtext``
    (metrics-utility; computed by the server).  With ``timeout`` the lock is
    retried until that many seconds have passed.

    A connection that fails while taking the lock, or is lost while the lock
    is held, raises ``LockError``: the server drops a dead session's locks,
    so the run was not alone any more.
    """

    def __init__(
        self,
        connection: DBConnection | Callable[[], DBConnection],
        name: str = "gather_analytics_lock",
        *,
        scheme: Scheme = "sha512",
        timeout: float | None = None,
    ) -> None:
        if scheme not in LOCK_KEYS:
            raise ConfigurationError(f"scheme must be one of {', '.join(LOCK_KEYS)}: {scheme!r}")
        if not name:
            raise ConfigurationError("lock name must not be empty")
        if not callable(connection):
            session_of(connection, "PostgresAdvisoryLock", dbapi=True)  # fail here, not mid-run
        self._source = connection
        self.name = name
        self.scheme: Scheme = scheme
        self.timeout = check_timeout(timeout)

    @classmethod
    def from_dsn(
        cls,
        dsn: str,
        name: str = "gather_analytics_lock",
        *,
        scheme: Scheme = "sha512",
        timeout: float | None = None,
    ) -> PostgresAdvisoryLock:
        """A lock that opens its own connection from ``dsn`` (psycopg 3) for each acquire."""
        pg = require_psycopg()

        def connect() -> DBConnection:
            conn: DBConnection = pg.connect(dsn, autocommit=True)
            return conn

        return cls(connect, name, scheme=scheme, timeout=timeout)

    def __repr__(self) -> str:
        return (
            f"PostgresAdvisoryLock(name={self.name!r}, scheme={self.scheme!r}, "
            f"timeout={self.timeout!r})"
        )

    @property
    def key(self) -> int:
        """The bigint key this lock takes (``hashtext`` computed here, see ``hashtext_key``)."""
        return LOCK_KEYS[self.scheme](self.name)

    @contextlib.contextmanager
    def acquire(self) -> Iterator[bool]:
        """Try to take the lock (waiting up to ``timeout``); yield whether it was taken."""
        fields = {"kind": "postgres", "name": self.name, "scheme": self.scheme}
        with self._session() as conn:
            key = self._server_key(conn)
            if not self._take(conn, key):
                log.info("lock.held", **fields, key=key)
                yield False
                return
            log.debug("lock.acquired", **fields, key=key)
            try:
                yield True
            except BaseException:
                # Keep the run's own error; a failed release is only logged then.
                with contextlib.suppress(LockError):
                    self._release(conn, key)
                raise
            self._release(conn, key)

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            # A session lock needs no transaction: a connection of our own is autocommit.
            where = "PostgresAdvisoryLock"
            with opened(self._source, where, dbapi=True, autocommit=True) as (session, _):
                yield session
        except SessionError as exc:
            raise LockError(f"advisory lock {self.name!r}: {exc}") from None

    def _scalar(self, conn: Session, query: str, params: tuple[Any, ...], what: str) -> Any:
        """Run one statement; wrap any failure in a LockError that names the lock."""
        # In the service's transaction a savepoint keeps a failure from
        # aborting it; on an idle connection nothing is left open afterwards.
        try:
            with conn.atomic():
                found = conn.rows(query, params)
        except Exception as exc:
            raise LockError(
                f"advisory lock {self.name!r}: {what} failed: {describe(exc)}"
            ) from None
        if not found:
            raise LockError(f"advisory lock {self.name!r}: {what} returned no row")
        return found[0][0]

    def _server_key(self, conn: Session) -> int:
        if self.scheme == "hashtext":
            return int(self._scalar(conn, "SELECT hashtext(%s)::bigint", (self.name,), "hashtext"))
        return self.key

    def _take(self, conn: Session, key: int) -> bool:
        query = "SELECT pg_try_advisory_lock(%s::bigint)"
        delays = poll_delays(self.timeout)
        while not self._scalar(conn, query, (key,), "lock"):
            delay = next(delays, None)
            if delay is None:
                return False
            time.sleep(delay)
        return True

    def _release(self, conn: Session, key: int) -> None:
        fields = {"kind": "postgres", "name": self.name, "scheme": self.scheme, "key": key}
        try:
            released = self._scalar(conn, "SELECT pg_advisory_unlock(%s::bigint)", (key,), "unlock")
        except LockError as exc:
            log.error("lock.lost", **fields, error=str(exc))
            raise LockError(
                f"{exc}; the session holding the lock was lost, so the server had "
                "already released it while the run went on"
            ) from None
        if released:
            log.debug("lock.released", **fields)
        else:
            # The session no longer held it (reset or unlocked behind our back).
            log.warning("lock.release_unheld", **fields)
