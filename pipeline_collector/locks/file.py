"""A lock held as an ``flock`` on a file: one run at a time on one machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockError
from ..log import logger
from .polling import check_timeout, poll_delays

__all__ = ["FileLock"]

log = logger("lock")


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
        self.timeout = check_timeout(timeout)

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
        delays = poll_delays(self.timeout)
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
