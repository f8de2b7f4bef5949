"""Locks: one run at a time per service.

Each lock fits the ``Lock`` protocol: ``acquire()`` returns a context manager
that yields ``True`` when it got the lock and ``False`` when someone else holds
it, and on exit releases only what it got.  A lock that cannot even be tried
(or is lost while held) raises ``LockError``: "held by someone else" and
"broken" are different answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog

from .db import describe_db_error, require_psycopg
from .errors import ConfigurationError, LockError

__all__ = [
    "LOCK_KEYS",
    "DBConnection",
    "FileLock",
    "PostgresAdvisoryLock",
    "Scheme",
    "crc32_key",
    "hashtext_key",
    "sha512_key",
]

# Lazy: the configuration in force when a line is logged applies, not the one at import.
log = structlog.get_logger(__name__, component="lock")

_POLL_MIN = 0.05
_POLL_MAX = 0.5


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is not None and not timeout >= 0:
        raise ConfigurationError(f"timeout must be None or >= 0 seconds: {timeout!r}")
    return timeout


def _poll_delays(timeout: float | None) -> Iterator[float]:
    """Yield how long to sleep before each retry, until ``timeout`` has passed.

    ``None`` means a single try: nothing to yield.
    """
    if not timeout:
        return
    deadline = time.monotonic() + timeout
    delay = _POLL_MIN
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(delay * 2, _POLL_MAX)


class FileLock:
    """An exclusive ``flock`` on a file, held by this process while in use.

    Works across processes on one machine (and between threads: each
    ``acquire`` opens its own file description).  The lock file is created
    with mode 0600 and left in place; removing it would let a second run lock
    a new file while the first still holds the old one.  The kernel drops the
    lock when the process dies, so a crash never leaves it stuck.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float | None = None) -> None:
        self.path = Path(path)
        self.timeout = _check_timeout(timeout)

    def __repr__(self) -> str:
        return f"FileLock({str(self.path)!r}, timeout={self.timeout!r})"

    @contextlib.contextmanager
    def acquire(self) -> Iterator[bool]:
        """Try to take the lock (waiting up to ``timeout``); yield whether it was taken."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise LockError(f"{self.path}: cannot open lock file: {exc.strerror}") from None
        try:
            acquired = self._take(fd)
            if not acquired:
                log.info("lock.held", kind="file", path=str(self.path), holder=_read_pid(fd))
                yield False
                return
            _write_pid(fd)
            log.debug("lock.acquired", kind="file", path=str(self.path))
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                log.debug("lock.released", kind="file", path=str(self.path))
        finally:
            os.close(fd)

    def _take(self, fd: int) -> bool:
        delays = _poll_delays(self.timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                delay = next(delays, None)
                if delay is None:
                    return False
                time.sleep(delay)
            except OSError as exc:
                raise LockError(f"{self.path}: cannot lock: {exc.strerror}") from None
            else:
                return True


def _write_pid(fd: int) -> None:
    # Only a hint for people reading the file; the flock is what counts.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


# --------------------------------------------------------------------------- PostgreSQL
#
# How each project turns a lock name into an advisory lock key.  All three end
# up in ``pg_try_advisory_lock(bigint)``: the 32-bit keys of django-pglocks and
# of ``hashtext`` are widened to bigint by PostgreSQL (the two-argument
# ``(int4, int4)`` form is a different key space and would not exclude them).

Scheme = Literal["sha512", "crc32", "hashtext"]


def sha512_key(name: str) -> int:
    """The key of insights-analytics-collector: sha512 of the name, mod 2**63.

    >>> sha512_key("gather_analytics_lock")
    5213266487902095019
    """
    return int(hashlib.sha512(name.encode()).hexdigest(), 16) % 2**63


def crc32_key(name: str) -> int:
    """The key of django-pglocks (AWX): CRC-32 of the UTF-8 name as a signed int32.

    >>> crc32_key("gather_analytics_lock")
    706743891
    """
    unsigned = zlib.crc32(name.encode("utf-8"))
    return unsigned - 2**32 if unsigned & 2**31 else unsigned


def hashtext_key(name: str) -> int:
    """PostgreSQL's ``hashtext(name)`` (metrics-utility), computed here.

    The server's hash of the UTF-8 bytes (Bob Jenkins' lookup3, as PostgreSQL
    computes it on little-endian machines), as a signed int32.  The lock asks
    the server itself, so the two can never disagree on a lock.

    >>> hashtext_key("gather_analytics_lock")
    -2081102714
    """
    data = name.encode("utf-8")
    length = len(data)
    a = b = c = (0x9E3779B9 + length + 3923095) & _MASK
    words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, length, 4)]
    pos = 0
    while length - pos >= 12:
        a = (a + words[pos // 4]) & _MASK
        b = (b + words[pos // 4 + 1]) & _MASK
        c = (c + words[pos // 4 + 2]) & _MASK
        a, b, c = _mix(a, b, c)
        pos += 12
    tail = data[pos:]
    # The lowest byte of c is reserved for the length: c takes bytes 8..10 shifted left by 8.
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + (int.from_bytes(tail[8:11], "little") << 8)) & _MASK
    c = _final(a, b, c)
    return c - 2**32 if c & 2**31 else c


_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _MASK
    a ^= _rot(c, 4)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 6)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 8)
    b = (b + a) & _MASK
    a = (a - c) & _MASK
    a ^= _rot(c, 16)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 19)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 4)
    b = (b + a) & _MASK
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rot(b, 14)) & _MASK
    a ^= c
    a = (a - _rot(c, 11)) & _MASK
    b ^= a
    b = (b - _rot(a, 25)) & _MASK
    c ^= b
    c = (c - _rot(b, 16)) & _MASK
    a ^= c
    a = (a - _rot(c, 4)) & _MASK
    b ^= a
    b = (b - _rot(a, 14)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return c


LOCK_KEYS: Mapping[str, Callable[[str], int]] = {
    "sha512": sha512_key,
    "crc32": crc32_key,
    "hashtext": hashtext_key,
}


class DBConnection(Protocol):
    """Protocol: a DB-API connection with ``%s`` parameters (psycopg 3 or 2)."""

    def cursor(self) -> Any: ...


class PostgresAdvisoryLock:
    """A session-level PostgreSQL advisory lock, as the services take today.

    ``connection`` is an open connection, or a callable returning a new one
    (then the lock opens it for each ``acquire``, in autocommit mode, and
    closes it afterwards).  The lock lives as long as the session: keep the
    connection open while the run holds it, and give each run its own
    session (advisory locks are re-entrant within one).

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
        self._source = connection
        self.name = name
        self.scheme: Scheme = scheme
        self.timeout = _check_timeout(timeout)

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
        conn, owned = self._open()
        fields = {"kind": "postgres", "name": self.name, "scheme": self.scheme}
        try:
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
        finally:
            if owned:
                with contextlib.suppress(Exception):
                    conn.close()  # type: ignore[attr-defined]

    def _open(self) -> tuple[DBConnection, bool]:
        if not callable(self._source):
            return self._source, False
        try:
            conn = self._source()
        except Exception as exc:
            raise LockError(
                f"advisory lock {self.name!r}: cannot connect: {describe_db_error(exc)}"
            ) from None
        with contextlib.suppress(Exception):
            if not getattr(conn, "autocommit", True):
                conn.autocommit = True  # type: ignore[attr-defined]
        return conn, True

    def _scalar(self, conn: DBConnection, query: str, params: tuple[Any, ...], what: str) -> Any:
        """Run one statement; wrap any failure in a LockError that names the lock."""
        # On a psycopg 3 connection outside autocommit, end the transaction we
        # open so the session does not sit idle in a transaction for the run.
        info = getattr(conn, "info", None)
        we_begin = getattr(info, "transaction_status", None) == 0 and not getattr(
            conn, "autocommit", True
        )
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(query, params)
                row = cursor.fetchone()
            finally:
                cursor.close()
            if we_begin:
                conn.commit()  # type: ignore[attr-defined]
        except Exception as exc:
            raise LockError(
                f"advisory lock {self.name!r}: {what} failed: {describe_db_error(exc)}"
            ) from None
        if row is None:
            raise LockError(f"advisory lock {self.name!r}: {what} returned no row")
        return row[0]

    def _server_key(self, conn: DBConnection) -> int:
        if self.scheme == "hashtext":
            return int(self._scalar(conn, "SELECT hashtext(%s)::bigint", (self.name,), "hashtext"))
        return self.key

    def _take(self, conn: DBConnection, key: int) -> bool:
        query = "SELECT pg_try_advisory_lock(%s::bigint)"
        delays = _poll_delays(self.timeout)
        while not self._scalar(conn, query, (key,), "lock"):
            delay = next(delays, None)
            if delay is None:
                return False
            time.sleep(delay)
        return True

    def _release(self, conn: DBConnection, key: int) -> None:
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
