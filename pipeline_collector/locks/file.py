"""A lock held as an ``flock`` on a file: one run at a time on one machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigurationError, LockError
from ..log import logger
from .polling import check_timeout, poll_delays

__all__ = ["FileLock", "default_lock_path"]

log = logger("lock")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,100}")


class FileLock:
    """An exclusive ``flock`` on a file, held by this process while in use.

    Works across processes on one machine (and between threads: each
    ``acquire`` opens its own file description).  The lock file is created
    with mode 0600 and left in place; removing it would let a second run lock
    a new file while the first still holds the old one.  The kernel drops the
    lock when the process dies, so a crash never leaves it stuck.

    The file is opened without following a symbolic link, and it must be a
    regular file with no other name: a link planted where the lock goes can
    never make the lock truncate the file it points to (a state file, say).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float | None = None) -> None:
        self.path = Path(path)
        self.timeout = check_timeout(timeout)

    def __repr__(self) -> str:
        return f"FileLock({str(self.path)!r}, timeout={self.timeout!r})"

    @contextlib.contextmanager
    def acquire(self) -> Iterator[bool]:
        """Try to take the lock (waiting up to ``timeout``); yield whether it was taken."""
        fd = _open(self.path)
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


def _open(path: Path) -> int:
    """Open (or create) the lock file itself, never what a link in its place points to."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise LockError(
                f"{path}: the lock file is a symbolic link; refusing to follow it"
            ) from None
        raise LockError(f"{path}: cannot open lock file: {exc.strerror}") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_nlink > 1:
        problem = f"has {info.st_nlink} names (a hard link to another file?)"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    if problem is not None:
        os.close(fd)
        raise LockError(f"{path}: the lock file {problem}; refusing to use it")
    return fd


def default_lock_path(name: str) -> Path:
    """A lock file in a folder private to this user: ``$XDG_RUNTIME_DIR`` or the temp folder.

    The folder (``pipeline-collector-<uid>``) is made with mode 0700, and one
    that is a link, belongs to another user or is open to others is refused,
    so another local user can neither take the lock first nor point it elsewhere.
    """
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"lock name {name!r} must be letters, digits, '.', '_' or '-' (it names a file)"
        )
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"pipeline-collector-{os.geteuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise LockError(f"{folder}: cannot make the lock folder: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise LockError(f"{folder}: the lock folder is not a folder (a link?); refusing it")
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise LockError(
            f"{folder}: the lock folder belongs to another user or is open to others"
            f" (mode {stat.filemode(info.st_mode)}); refusing it"
        )
    return folder / f"{name}.lock"


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
