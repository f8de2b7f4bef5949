"""A state store in a PostgreSQL table, on the service's own connection or one of its own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..book.codec import DEFAULT_TABLE, check_namespace
from ..book.table import change_to_rows, row_prefix, rows_in, state_from_rows, state_to_rows
from ..database.connection import Session, SessionError, describe, opened, session_of
from ..database.db import require_psycopg, table_parts
from ..errors import StateError
from ..locks.keys import STORE_WRITERS, WRITERS_LOCK
from ..log import logger
from ..records import Change, State

__all__ = ["PostgresStore"]

log = logger("state")

T = TypeVar("T")


class PostgresStore:
    """State in a PostgreSQL table, one row per item.

    Takes the service's connection (Django's ``django.db.connection`` or
    ``connections[alias]``, a psycopg2 or a psycopg 3 connection), or a
    callable that returns a new one (the store then closes it after each
    load or save; a Django connection it returns is left to Django).

    ``save`` replaces the rows of its namespace at once, serialised with
    other writers by a transaction-scoped advisory lock, so concurrent saves
    never interleave and a reader sees one whole save.  ``update`` writes
    only the rows of the items it is given (an upsert each), so runs and
    tenants sharing the table never undo each other's saves, and a save
    costs what it changes.  ``namespace`` keeps a tenant's rows apart: the
    same rows, their keys prefixed ``ns:<namespace>:``.  Inside a transaction the service has
    open (a Django ``atomic`` block, a psycopg connection in a transaction)
    the save is a savepoint of that transaction: it commits nothing, the
    service's rollback undoes it, and its own failure undoes only itself.
    On an idle connection it is a transaction of its own, committed.  The
    table is created on the first save.  Connection strings never appear in
    the repr or in errors.
    """

    def __init__(
        self, connection: Any, *, table: str = DEFAULT_TABLE, namespace: str | None = None
    ) -> None:
        self._parts = table_parts(table, allow_schema=True)
        if not callable(connection):
            session_of(connection, "PostgresStore")  # a wrong kind fails here, not mid-run
        self._source = connection
        self.table = table
        self.namespace = check_namespace(namespace)
        self._prefix = row_prefix(self.namespace)
        # Each part is a checked identifier, so quoting it is enough.
        self._name = ".".join(f'"{p}"' for p in self._parts)

    @classmethod
    def from_dsn(
        cls, dsn: str, *, table: str = DEFAULT_TABLE, namespace: str | None = None
    ) -> PostgresStore:
        """A store that opens its own connection from ``dsn`` (psycopg 3) for each operation."""
        pg = require_psycopg()

        def connect() -> Any:
            return pg.connect(dsn)

        return cls(connect, table=table, namespace=namespace)

    def __repr__(self) -> str:
        tenant = "" if self.namespace is None else f", namespace={self.namespace!r}"
        return f"PostgresStore(table={self.table!r}{tenant})"

    @property
    def _where(self) -> str:
        tenant = "" if self.namespace is None else f" namespace {self.namespace}"
        return f"PostgreSQL table {self.table}{tenant}"

    @contextlib.contextmanager
    def _session(self, what: str) -> Iterator[Session]:
        """The session, every database error said as a ``StateError`` of ``what``."""
        try:
            with opened(self._source, "PostgresStore") as (session, _owned):
                try:
                    yield session
                except session.errors as exc:
                    raise StateError(
                        f"{self._where}: cannot {what} state: {describe(exc)}"
                    ) from None
        except SessionError as exc:  # the factory could not connect
            raise StateError(f"{self._where}: cannot {what} state: {exc}") from None

    def _in_transaction(self, what: str, work: Callable[[Session], T]) -> T:
        with self._session(what) as session, session.atomic():
            return work(session)

    def load(self) -> State:
        """Read the state; an empty ``State`` when the table does not exist."""

        def read(s: Session) -> list[tuple[Any, ...]] | None:
            found = s.rows("SELECT to_regclass(%s)", (self._name,))
            if not found or found[0][0] is None:
                return None
            return s.rows(f"SELECT key, value FROM {self._name}")  # noqa: S608

        rows = self._in_transaction("load", read)
        if rows is None:
            return State(namespace=self.namespace)
        mine = rows_in(rows, self.namespace, self._where)
        state = state_from_rows(mine, self._where)
        log.debug("state.loaded", store="postgres", table=self.table, entries=len(state.entries))
        return State(
            last_gather=state.last_gather,
            entries=state.entries,
            extra=state.extra,
            namespace=self.namespace,
        )

    def save(self, state: State) -> None:
        """Replace this namespace's rows with ``state``'s, in the service's transaction or ours."""
        rows = self._keyed(state_to_rows(state))

        def replace(s: Session) -> None:
            if self.namespace is None:
                s.rows(f"DELETE FROM {self._name} WHERE left(key, 3) <> %s", ("ns:",))  # noqa: S608
            else:
                s.rows(
                    f"DELETE FROM {self._name} WHERE left(key, %s) = %s",  # noqa: S608
                    (len(self._prefix), self._prefix),
                )
            if rows:
                s.many(f"INSERT INTO {self._name} (key, value) VALUES (%s, %s)", rows)  # noqa: S608

        self._write(replace)

    def update(self, change: Change) -> None:
        """Write the rows of ``change``'s items, in the service's transaction or ours.

        An empty change still takes the writers' lock and runs a write that
        changes no row: it proves the table writable.
        """
        rows = self._keyed(change_to_rows(change))

        def upsert(s: Session) -> None:
            if not rows:  # touches no row, but needs the right to write it
                s.rows(
                    f"UPDATE {self._name} SET value = value WHERE false"  # noqa: S608
                )
                return
            s.many(
                f"INSERT INTO {self._name} (key, value) VALUES (%s, %s)"  # noqa: S608
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rows,
            )

        self._write(upsert)

    def _keyed(self, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(self._prefix + k, v) for k, v in rows] if self._prefix else rows

    def _write(self, work: Callable[[Session], None]) -> None:
        def write(s: Session) -> None:
            s.rows(WRITERS_LOCK, (STORE_WRITERS, self.table))
            s.rows(
                f"CREATE TABLE IF NOT EXISTS {self._name}"
                " (key text PRIMARY KEY, value text NOT NULL)"
            )
            work(s)

        self._in_transaction("save", write)
