"""Ship archives into a local folder, ``<root>/data/YYYY/MM/DD/<archive>`` by default.

``layout=`` changes the relative path (``pipeline_collector.naming``): for
example one folder per day of the archive's first window, as metrics-utility
files its billing data.

The copy appears whole or not at all, is private to its owner, never replaces
a file that is already there and never leaves its root, whatever links or
names it meets on the way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from attrs import field, frozen

from ..errors import ConfigurationError, ShipError
from ..log import logger
from ..naming import ArchiveInfo, Layout, by_ship_date, layout_path
from ..records import Archive, Receipt
from .files import CHUNK, file_sha256, next_number, safe_name

__all__ = ["DirectoryTransport"]

_DIR_MODE = 0o700
_FILE_MODE = 0o600

_log = logger("ship")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _make_private_dirs(root: Path, parts: tuple[str, ...]) -> Path:
    """Create ``root/parts...`` one level at a time with mode 0700.

    Each level is checked to be a real directory (not a symlink), so a link
    planted inside the tree cannot redirect the copy elsewhere.
    """
    current = root
    for part in parts:
        current = current / part
        try:
            os.mkdir(current, _DIR_MODE)
        except FileExistsError:
            pass
        else:
            # mkdir's mode is filtered by the umask; say what we mean.
            os.chmod(current, _DIR_MODE)
        if current.is_symlink() or not current.is_dir():
            raise ShipError(f"refusing to write under {current}: not a plain directory")
    return current


def _fsync_dir(path: Path) -> None:
    """Make a new name in ``path`` survive a crash, not only the file's bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` without ever replacing an existing file.

    Raises ``FileExistsError`` when the name is taken, by an earlier archive
    or by another run shipping into the same folder at the same moment.
    """
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        # Filesystems without hard links: claim the name exclusively, then
        # move the finished copy over our own placeholder.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
        os.replace(tmp, target)
    else:
        tmp.unlink()


def _same(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a plain file holding exactly the archive."""
    return path.is_file() and not path.is_symlink() and file_sha256(path) == sha256


@frozen
class DirectoryTransport:
    """Copy archives into ``<root>/data/YYYY/MM/DD/<archive>``.

    ``DirectoryTransport(root)``: the root is the one positional argument.
    The copy appears whole or not at all (temporary file, fsync, then a link
    that never overwrites), is private to its owner (folders 0700, files
    0600), and is re-hashed before the receipt says it arrived.  A name taken
    by another archive, even by another run shipping into the same folder at
    the same moment, makes the copy take the next free number.  The date is
    today in UTC, from ``clock`` when one is given.  ``layout`` maps the
    archive (``ArchiveInfo``, with its name and the shipping time) to its
    path under the root; by default ``data/YYYY/MM/DD/<name>``.
    """

    root: Path = field(converter=Path)
    clock: Callable[[], datetime] = field(default=_utcnow, eq=False, repr=False, kw_only=True)
    chunk_size: int = field(default=CHUNK, kw_only=True)
    layout: Layout = field(default=by_ship_date, eq=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not str(self.root):
            raise ConfigurationError("DirectoryTransport needs a root folder")
        if self.chunk_size <= 0:
            raise ConfigurationError(f"chunk_size must be positive, got {self.chunk_size}")
        if not callable(self.layout):
            raise ConfigurationError(f"layout={self.layout!r} is not callable")

    def close(self) -> None:
        """Nothing to release: files are closed as each archive is copied."""

    def __enter__(self) -> DirectoryTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def folder_for(self, when: datetime) -> Path:
        """The folder that archives shipped at ``when`` go to."""
        day = when.astimezone(timezone.utc) if when.tzinfo else when
        return self.root / "data" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"

    def send(self, archive: Archive) -> Receipt:
        """Copy the archive into today's folder and prove the copy is intact."""
        try:
            return self._send(archive)
        except OSError as exc:
            raise ShipError(
                f"could not copy {archive.name} under {self.root}: {exc.strerror or exc}"
            ) from exc

    def _send(self, archive: Archive) -> Receipt:
        started = time.monotonic()
        log = _log.bind(archive=archive.name, destination="dir")
        log.debug("ship.attempt", attempt=1, bytes=archive.size, root=str(self.root))
        name = safe_name(archive.name)
        now = self.clock()
        if now.tzinfo is None:
            raise ConfigurationError("DirectoryTransport clock returned a naive datetime")
        info = ArchiveInfo.from_archive(archive, shipped_at=now.astimezone(timezone.utc))
        *folders, filename = layout_path(self.layout, info, "the directory layout")
        root = self.root
        root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        folder = _make_private_dirs(root, tuple(folders))
        real_root = root.resolve()
        real_folder = folder.resolve()
        if not real_folder.is_relative_to(real_root):
            raise ShipError(f"refusing to write {name}: {folder} leads outside {root}")
        target = real_folder / filename
        if os.path.lexists(target) and _same(target, archive.sha256):
            log.info("ship.already_there", location=str(target))
            return self._receipt(name, archive.sha256, target, 0.0)
        tmp = self._copy(archive, name, real_folder)
        try:
            while True:
                try:
                    _publish(tmp, target)
                    break
                except FileExistsError:
                    pass
                if _same(target, archive.sha256):
                    log.info("ship.already_there", location=str(target))
                    tmp.unlink()
                    return self._receipt(name, archive.sha256, target, 0.0)
                # Another archive of the same name (an earlier run ending in the
                # same second, or another run shipping now): never overwrite
                # it, take the next free number instead.
                target = real_folder / next_number(target.name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_dir(real_folder)
        return self._receipt(name, archive.sha256, target, time.monotonic() - started)

    def _copy(self, archive: Archive, name: str, folder: Path) -> Path:
        """A synced private copy of the archive in ``folder``, checked against its record."""
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, _FILE_MODE)
            size = 0
            with os.fdopen(fd, "wb") as out, archive.path.open("rb") as source:
                while chunk := source.read(self.chunk_size):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            copied = file_sha256(tmp, chunk_size=self.chunk_size)
            if copied != archive.sha256 or size != archive.size:
                raise ShipError(
                    f"copy of {name} does not match the archive record "
                    f"(sha256 {copied[:12]}.. vs {archive.sha256[:12]}.., "
                    f"{size} vs {archive.size} bytes)"
                )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return tmp

    @staticmethod
    def _receipt(name: str, sha256: str, target: Path, elapsed: float) -> Receipt:
        return Receipt(
            archive=name,
            sha256=sha256,
            destination="dir",
            location=str(target),
            attempts=1,
            elapsed=elapsed,
        )
