"""A state store in a PostgreSQL table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..db import describe_db_error, require_psycopg, table_parts
from ..errors import StateError
from ..log import logger
from ..records import State
from .codec import DEFAULT_TABLE, state_from_rows, state_to_rows

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

log = logger("state")

# "pcst" as a signed 32-bit integer: the first key of the writers' lock.
_XACT_NAMESPACE = int.from_bytes(b"pcst", "big", signed=True)


class PostgresStore:
    """State in a PostgreSQL table, one row per item.

    Takes a psycopg 3 connection, or a callable that returns a new one (the
    store then closes it after each load or save).  ``save`` replaces every
    row in one transaction, serialised with other writers by a
    transaction-scoped advisory lock, so concurrent saves never interleave and
    a reader sees one whole state.  The table is created on the first save.
    Connection strings never appear in the repr or in errors.
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any] | Callable[[], psycopg.Connection[Any]],
        *,
        table: str = DEFAULT_TABLE,
    ) -> None:
        self._parts = table_parts(table, allow_schema=True)
        self._pg = require_psycopg()
        self._source = connection
        self.table = table

    @classmethod
    def from_dsn(cls, dsn: str, *, table: str = DEFAULT_TABLE) -> PostgresStore:
        """A store that opens its own connection from ``dsn`` for each operation."""
        pg = require_psycopg()

        def connect() -> psycopg.Connection[Any]:
            conn: psycopg.Connection[Any] = pg.connect(dsn)
            return conn

        return cls(connect, table=table)

    def __repr__(self) -> str:
        return f"PostgresStore(table={self.table!r})"

    @property
    def _where(self) -> str:
        return f"PostgreSQL table {self.table}"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not callable(self._source):
            yield self._source
            return
        conn = self._source()
        try:
            yield conn
        finally:
            conn.close()

    def load(self) -> State:
        """Read the state; an empty ``State`` when the table does not exist."""
        sql = self._pg.sql
        name = sql.Identifier(*self._parts)
        try:
            with self._connection() as conn, conn.transaction():
                found = conn.execute("SELECT to_regclass(%s)", (name.as_string(conn),)).fetchone()
                if found is None or found[0] is None:
                    return State()
                rows = conn.execute(sql.SQL("SELECT key, value FROM {}").format(name)).fetchall()
        except self._pg.Error as exc:
            raise StateError(
                f"{self._where}: cannot load state: {describe_db_error(exc)}"
            ) from None
        state = state_from_rows([(str(k), str(v)) for k, v in rows], self._where)
        log.debug("state.loaded", store="postgres", table=self.table, entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Replace the stored state with ``state`` in one transaction."""
        rows = state_to_rows(state)
        sql = self._pg.sql
        name = sql.Identifier(*self._parts)
        try:
            with self._connection() as conn, conn.transaction():
                # Two-key form: its own key space, apart from single-key run locks.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))",
                    (_XACT_NAMESPACE, self.table),
                )
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL)"
                    ).format(name)
                )
                conn.execute(sql.SQL("DELETE FROM {}").format(name))
                with conn.cursor() as cursor:
                    cursor.executemany(
                        sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s)").format(name), rows
                    )
        except self._pg.Error as exc:
            raise StateError(
                f"{self._where}: cannot save state: {describe_db_error(exc)}"
            ) from None
