"""A state store in a table of a SQLite database file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ..book.codec import DEFAULT_TABLE, state_from_rows, state_to_rows
from ..database.db import table_parts
from ..errors import StateError
from ..log import logger
from ..records import State

__all__ = ["SqliteStore"]

log = logger("state")


class SqliteStore:
    """State in a table of a SQLite database file, one row per item.

    ``save`` replaces every row inside ``BEGIN IMMEDIATE``, so concurrent
    writers (threads or processes) queue up and a reader sees one whole state
    or the other.  A missing file or table is an empty state; a new database
    file is created with mode 0600.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = DEFAULT_TABLE,
        timeout: float = 30.0,
    ) -> None:
        table_parts(table, allow_schema=False)
        self.path = Path(path)
        self.table = table
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, table={self.table!r})"

    @property
    def _where(self) -> str:
        return f"{self.path} table {self.table}"

    def load(self) -> State:
        """Read the state; an empty ``State`` when the file or table does not exist."""
        if not self.path.exists():
            log.info("state.missing", store="sqlite", path=str(self.path))
            return State()
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
                    return State()
                rows = conn.execute(
                    f'SELECT key, value FROM "{self.table}"'  # noqa: S608 (checked identifier)
                ).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"{self._where}: cannot load state: {exc}") from None
        state = state_from_rows(rows, self._where)
        log.debug("state.loaded", store="sqlite", path=str(self.path), entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Replace the stored state with ``state`` in one transaction."""
        rows = state_to_rows(state)
        try:
            # Create the file ourselves so that it is private from the start.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StateError(f"{self._where}: cannot create database: {exc.strerror}") from None
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
                    conn.execute(f'DELETE FROM "{self.table}"')  # noqa: S608 (checked identifier)
                    conn.executemany(
                        f'INSERT INTO "{self.table}" (key, value) VALUES (?, ?)',  # noqa: S608
                        rows,
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateError(f"{self._where}: cannot save state: {exc}") from None
