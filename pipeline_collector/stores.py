"""State stores: where bookkeeping lives between runs.

Each store fits the ``StateStore`` protocol: ``load()`` returns the saved
``State`` (an empty one when nothing was ever saved) and raises ``StateError``
when what is stored cannot be read, so that an unreadable state never passes
for an empty one (which would re-send four weeks of data); ``save(state)``
replaces the whole state at once, so a crash or a concurrent writer never
leaves half of one state mixed with half of another.

Datetimes are written as ISO-8601 in UTC with an explicit offset
(``2026-11-27T10:00:00+00:00``).  They are read in that form and in the forms
services store today: a ``Z`` suffix, Django's ``DjangoJSONEncoder`` output
(milliseconds), any offset.  A datetime without an offset is an error, never
a guess.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

from .errors import ConfigurationError, StateError
from .records import State

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DEFAULT_TABLE",
    "JsonFileStore",
    "PostgresStore",
    "SqliteStore",
    "format_datetime",
    "parse_datetime",
]

# Lazy: the configuration in force when a line is logged applies, not the one at import.
log = structlog.get_logger(__name__, component="state")

DEFAULT_TABLE = "pipeline_collector_state"

_ISO = re.compile(
    r"""
    (?P<date>\d{4}-\d{2}-\d{2})
    [T\ ]
    (?P<hour>\d{2}):(?P<minute>\d{2})
    (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
    \s*
    (?P<offset>Z|z|[+-]\d{2}(?::?\d{2})?)?
    """,
    re.VERBOSE,
)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO-8601 datetime that carries an offset (or ``Z``).

    Accepts what ``datetime.isoformat`` and Django's JSON encoder write, on
    every supported Python (3.10's ``fromisoformat`` rejects ``Z``).  Raises
    ``ValueError`` for anything else, a naive datetime included.

    >>> parse_datetime("2026-11-27T10:00:00.123Z")
    datetime.datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=datetime.timezone.utc)
    >>> parse_datetime("2026-11-27T12:00:00+02:00").isoformat()
    '2026-11-27T12:00:00+02:00'
    """
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 datetime: {value!r}")
    offset = match["offset"]
    if offset is None:
        raise ValueError(f"datetime without a UTC offset: {value!r}")
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    try:
        year, month, day = (int(p) for p in match["date"].split("-"))
        if offset in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone.utc if not delta else timezone(sign * delta)
        return datetime(
            year,
            month,
            day,
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise ValueError(f"not a valid datetime: {value!r} ({exc})") from None


def format_datetime(value: datetime) -> str:
    """Write a timezone-aware datetime as ISO-8601 in UTC with its offset.

    >>> format_datetime(parse_datetime("2026-11-27T12:00:00+02:00"))
    '2026-11-27T10:00:00+00:00'
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise StateError(f"cannot store a naive datetime: {value.isoformat()}")
    return value.astimezone(timezone.utc).isoformat()


def _parse_at(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise StateError(f"{where}: expected an ISO-8601 string, got {type(value).__name__}")
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise StateError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- JSON file

EntriesForm = Literal["auto", "object", "string"]


class JsonFileStore:
    """State in one JSON file, replaced atomically on every save.

    The file is an object ``{"last_gather": ISO, "entries": {key: ISO}, ...}``.
    ``entries`` may also be a JSON-encoded string (as AWX keeps
    ``AUTOMATION_ANALYTICS_LAST_ENTRIES``); with ``entries_form="auto"`` it is
    written back in the form it was read in.  Other top-level keys are kept in
    ``State.extra`` and written back as they were.

    A file that cannot be read raises ``StateError`` and is left as it is.
    ``save`` writes a temporary file in the same folder, syncs it, renames it
    over the old one (mode 0600) and syncs the folder: a crash leaves either
    the old state or the new one, never a torn file.
    """

    def __init__(self, path: str | os.PathLike[str], *, entries_form: EntriesForm = "auto") -> None:
        if entries_form not in ("auto", "object", "string"):
            raise ConfigurationError(
                f"entries_form must be auto, object or string: {entries_form!r}"
            )
        self.path = Path(path)
        self.entries_form: EntriesForm = entries_form
        self._entries_as_string = entries_form == "string"

    def __repr__(self) -> str:
        return f"JsonFileStore({str(self.path)!r})"

    def load(self) -> State:
        """Read the state; an empty ``State`` when the file does not exist."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            log.debug("state.missing", store="json", path=str(self.path))
            return State()
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state file: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateError(f"{self.path}: state file is not UTF-8 ({exc.reason})") from None
        if not text.strip():
            raise StateError(f"{self.path}: state file is empty")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(
                f"{self.path}: state file is not valid JSON (line {exc.lineno}, column {exc.colno})"
            ) from None
        state, as_string = _state_from_document(data, str(self.path))
        if self.entries_form == "auto":
            self._entries_as_string = as_string
        log.debug("state.loaded", store="json", path=str(self.path), entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Replace the file with ``state``, atomically."""
        document = _state_to_document(state, entries_as_string=self._entries_as_string)
        try:
            data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise StateError(f"{self.path}: state cannot be written as JSON: {exc}") from None
        _atomic_write(self.path, data)
        log.debug("state.saved", store="json", path=str(self.path), entries=len(state.entries))


def _state_from_document(data: object, where: str) -> tuple[State, bool]:
    """Build a State from a decoded JSON document; also say whether entries was a string."""
    if not isinstance(data, dict):
        raise StateError(f"{where}: state must be a JSON object, got {type(data).__name__}")
    extra = {k: v for k, v in data.items() if k not in ("last_gather", "entries")}
    last = data.get("last_gather")
    last_gather = None if last is None else _parse_at(last, f"{where}: last_gather")
    entries_raw = data.get("entries")
    as_string = isinstance(entries_raw, str)
    if isinstance(entries_raw, str):
        try:
            entries_raw = json.loads(entries_raw) if entries_raw.strip() else {}
        except json.JSONDecodeError:
            raise StateError(f"{where}: entries is a string but not valid JSON") from None
    if entries_raw is None:
        entries_raw = {}
    if not isinstance(entries_raw, dict):
        raise StateError(f"{where}: entries must be an object, got {type(entries_raw).__name__}")
    entries = {
        str(key): _parse_at(value, f"{where}: entries[{key!r}]")
        for key, value in entries_raw.items()
    }
    return State(last_gather=last_gather, entries=entries, extra=extra), as_string


def _state_to_document(state: State, *, entries_as_string: bool) -> dict[str, Any]:
    entries: dict[str, str] = {k: format_datetime(v) for k, v in state.entries.items()}
    document: dict[str, Any] = dict(state.extra)
    document["last_gather"] = (
        None if state.last_gather is None else format_datetime(state.last_gather)
    )
    document["entries"] = json.dumps(entries, sort_keys=True) if entries_as_string else entries
    return document


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StateError(f"{path}: cannot write state file: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StateError(f"{path}: cannot write state file: {exc.strerror}") from None
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder itself is synced.
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------- table rows
#
# A table store keeps one row per item: ``last_gather``, ``entry:<key>`` (ISO
# datetimes) and ``extra:<name>`` (JSON).  One row per key keeps the state
# readable with plain SQL and lets a save replace it in one transaction.

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LAST_GATHER = "last_gather"
_ENTRY = "entry:"
_EXTRA = "extra:"


def _table_parts(table: str, *, allow_schema: bool) -> tuple[str, ...]:
    """Split and check a table name; only plain identifiers can reach SQL text."""
    parts = tuple(table.split(".")) if allow_schema else (table,)
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        form = "[schema.]name" if allow_schema else "name"
        raise ConfigurationError(
            f"table must be a {form} of letters, digits and underscores: {table!r}"
        )
    return parts


def _state_to_rows(state: State) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if state.last_gather is not None:
        rows.append((_LAST_GATHER, format_datetime(state.last_gather)))
    rows.extend((_ENTRY + key, format_datetime(at)) for key, at in state.entries.items())
    for name, value in state.extra.items():
        try:
            rows.append((_EXTRA + name, json.dumps(value, sort_keys=True)))
        except (TypeError, ValueError) as exc:
            raise StateError(f"extra[{name!r}] cannot be stored as JSON: {exc}") from None
    return rows


def _state_from_rows(rows: list[tuple[str, str]], where: str) -> State:
    last_gather = None
    entries: dict[str, datetime] = {}
    extra: dict[str, Any] = {}
    for key, value in rows:
        if key == _LAST_GATHER:
            last_gather = _parse_at(value, f"{where}: {key}")
        elif key.startswith(_ENTRY):
            entries[key[len(_ENTRY) :]] = _parse_at(value, f"{where}: {key}")
        elif key.startswith(_EXTRA):
            try:
                extra[key[len(_EXTRA) :]] = json.loads(value)
            except (TypeError, json.JSONDecodeError):
                raise StateError(f"{where}: {key} is not valid JSON") from None
        else:
            raise StateError(f"{where}: unknown row {key!r}")
    return State(last_gather=last_gather, entries=entries, extra=extra)


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
        _table_parts(table, allow_schema=False)
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
            log.debug("state.missing", store="sqlite", path=str(self.path))
            return State()
        try:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            with contextlib.closing(
                sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
            ) as conn:
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
        state = _state_from_rows([(str(k), str(v)) for k, v in rows], self._where)
        log.debug("state.loaded", store="sqlite", path=str(self.path), entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Replace the stored state with ``state`` in one transaction."""
        rows = _state_to_rows(state)
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
        log.debug("state.saved", store="sqlite", path=str(self.path), entries=len(state.entries))


# --------------------------------------------------------------------------- PostgreSQL

_SECRETS = re.compile(r"(password\s*=\s*)(?:'[^']*'|\S+)|(://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)


def describe_db_error(exc: BaseException) -> str:
    """Name a database error in one line, with anything like a password blanked.

    >>> describe_db_error(OSError("bad dsn password=hunter2 host=db"))
    'OSError: bad dsn password=*** host=db'
    """
    first = (str(exc).strip().splitlines() or [""])[0]
    text = _SECRETS.sub(
        lambda m: f"{m[1]}***" if m[1] else f"{m[2]}***@",
        first,
    )
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def require_psycopg() -> Any:
    """Import psycopg 3, or say how to install it."""
    try:
        import psycopg  # optional dependency: imported only when used
    except ImportError:
        raise ConfigurationError(
            "PostgreSQL support needs psycopg 3: pip install 'pipeline-collector[postgres]'"
        ) from None
    return psycopg


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
        self._parts = _table_parts(table, allow_schema=True)
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
        state = _state_from_rows([(str(k), str(v)) for k, v in rows], self._where)
        log.debug("state.loaded", store="postgres", table=self.table, entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Replace the stored state with ``state`` in one transaction."""
        rows = _state_to_rows(state)
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
        log.debug("state.saved", store="postgres", table=self.table, entries=len(state.entries))


# "pcst" as a signed 32-bit integer: the first key of the writers' lock.
_XACT_NAMESPACE = int.from_bytes(b"pcst", "big", signed=True)
