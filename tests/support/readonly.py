"""Make a folder truly read-only for a while, for root as for anyone.

Permission bits do not stop root, so as root the folder becomes a read-only
bind mount of itself (writes fail with ``EROFS``, as on a read-only volume);
otherwise its files and itself lose their write bits.  ``python -m
support.readonly FOLDER`` does it from another process (a collector, say);
``writable`` undoes it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


class CannotProtect(RuntimeError):
    """This machine cannot make a folder read-only for this user."""


def protect(folder: Path) -> None:
    """Make ``folder`` (and what is in it) read-only."""
    if os.geteuid() != 0:
        for item in folder.iterdir():
            item.chmod(0o444 if item.is_file() else 0o555)
        folder.chmod(0o555)
        return
    for argv in (
        ["mount", "--bind", str(folder), str(folder)],
        ["mount", "-o", "remount,bind,ro", str(folder)],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            if argv[1] != "--bind":
                subprocess.run(["umount", str(folder)], capture_output=True, check=False)
            raise CannotProtect(f"{' '.join(argv)}: {done.stderr.strip()}")


def writable(folder: Path) -> None:
    """Undo ``protect``."""
    if os.geteuid() != 0:
        folder.chmod(0o755)
        for item in folder.iterdir():
            item.chmod(0o644 if item.is_file() else 0o755)
        return
    while _mounted(folder):
        subprocess.run(["umount", str(folder)], capture_output=True, check=True)


def _mounted(folder: Path) -> bool:
    """Whether ``folder`` is a mount point (a bind mount of itself included)."""
    target = str(folder.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return any(line.split()[1] == target for line in mounts)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only while the block runs."""
    protect(folder)
    try:
        yield
    finally:
        writable(folder)


if __name__ == "__main__":
    protect(Path(sys.argv[1]))
