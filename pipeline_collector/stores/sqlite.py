"""A state store in a table of a SQLite database file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..book.codec import DEFAULT_TABLE, check_namespace
from ..book.table import change_to_rows, row_prefix, rows_in, state_from_rows, state_to_rows
from ..database.db import table_parts
from ..errors import StateError
from ..log import logger
from ..records import Change, State

__all__ = ["SqliteStore"]

log = logger("state")


class SqliteStore:
    """State in a table of a SQLite database file, one row per item.

    A save runs inside ``BEGIN IMMEDIATE``, so concurrent writers (threads
    or processes) queue up and a reader sees one whole save or the other.
    ``save`` replaces the rows of its namespace; ``update`` writes only the
    rows of the items it is given (an upsert each), so runs and tenants
    sharing the table never undo each other's saves, and a save costs what
    it changes.  ``namespace`` keeps a tenant's rows apart: they are the
    same rows, their keys prefixed ``ns:<namespace>:``.  A missing file or
    table is an empty state; a new database file is created with mode 0600.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = DEFAULT_TABLE,
        timeout: float = 30.0,
        namespace: str | None = None,
    ) -> None:
        table_parts(table, allow_schema=False)
        self.path = Path(path)
        self.table = table
        self.timeout = timeout
        self.namespace = check_namespace(namespace)
        self._prefix = row_prefix(self.namespace)

    def __repr__(self) -> str:
        tenant = "" if self.namespace is None else f", namespace={self.namespace!r}"
        return f"SqliteStore({str(self.path)!r}, table={self.table!r}{tenant})"

    @property
    def _where(self) -> str:
        tenant = "" if self.namespace is None else f" namespace {self.namespace}"
        return f"{self.path} table {self.table}{tenant}"

    def load(self) -> State:
        """Read the state; an empty ``State`` when the file or table does not exist."""
        if not self.path.exists():
            log.info("state.missing", store="sqlite", path=str(self.path))
            return State(namespace=self.namespace)
        try:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            with contextlib.closing(
                sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
            ) as conn:
                conn.text_factory = bytes  # decoded by the codec, which names a bad row
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (self.table,),
                ).fetchone()
                if found is None:
                    return State(namespace=self.namespace)
                rows = conn.execute(
                    f'SELECT key, value FROM "{self.table}"'  # noqa: S608 (checked identifier)
                ).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"{self._where}: cannot load state: {exc}") from None
        mine = rows_in(rows, self.namespace, self._where)
        state = state_from_rows(mine, self._where)
        log.debug("state.loaded", store="sqlite", path=str(self.path), entries=len(state.entries))
        return State(
            last_gather=state.last_gather,
            entries=state.entries,
            extra=state.extra,
            namespace=self.namespace,
        )

    def save(self, state: State) -> None:
        """Replace this namespace's rows with ``state``'s, in one transaction."""
        rows = self._keyed(state_to_rows(state))

        def replace(conn: sqlite3.Connection) -> None:
            if self.namespace is None:
                conn.execute(
                    f'DELETE FROM "{self.table}" WHERE substr(key, 1, 3) <> ?',  # noqa: S608
                    ("ns:",),
                )
            else:
                conn.execute(
                    f'DELETE FROM "{self.table}" WHERE substr(key, 1, ?) = ?',  # noqa: S608
                    (len(self._prefix), self._prefix),
                )
            conn.executemany(
                f'INSERT INTO "{self.table}" (key, value) VALUES (?, ?)',  # noqa: S608
                rows,
            )

        self._write(replace)

    def update(self, change: Change) -> None:
        """Write the rows of ``change``'s items, in one transaction; the others stay.

        An empty change still takes the write lock and runs a write that
        changes no row: it proves the database writable.
        """
        rows = self._keyed(change_to_rows(change))

        def upsert(conn: sqlite3.Connection) -> None:
            if not rows:  # touches no row, but is a write: a read-only database refuses it
                conn.execute(f'DELETE FROM "{self.table}" WHERE 0')  # noqa: S608
            conn.executemany(
                f'INSERT INTO "{self.table}" (key, value) VALUES (?, ?)'  # noqa: S608
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rows,
            )

        self._write(upsert)

    def _keyed(self, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(self._prefix + k, v) for k, v in rows] if self._prefix else rows

    def _write(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` in a write transaction on a table made if missing."""
        try:
            # Create the file ourselves so that it is private from the start.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StateError(
                f"{self._where}: cannot open database to write: {exc.strerror}"
            ) from None
        try:
            with contextlib.closing(
                sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            ) as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        f'CREATE TABLE IF NOT EXISTS "{self.table}" '
                        "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                    )
                    work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateError(f"{self._where}: cannot save state: {exc}") from None
