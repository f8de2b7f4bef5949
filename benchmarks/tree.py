"""Peak RSS of a case's whole process tree, watched from the driver.

A case runs in a process of its own and reads its own peak (``VmHWM``) at the
end; the processes it starts (the compressor process) have ended by then.
``TreeWatch`` samples, every ``every`` seconds from a thread of the driver
(outside the measured tree), the RSS of the case's process and of every
process below it, and keeps:

* ``peak``: the largest sum of their RSS at one moment, the tree's peak RSS
  (at least the case's own ``VmHWM``, which the case adds at the end);
* ``shared_once``: the same with each started process's anonymous RSS only:
  the pages a started interpreter shares with the case's (its code,
  libpython, libc, the deflate library: about 6 MiB) counted once;
* ``children``: each started process's own peak (``VmHWM``).

Sampling misses a peak shorter than ``every``: the case's own ``VmHWM`` is
exact, so the tree's figure is never below it.  A process forked and not yet
running a program of its own still maps the case's memory: it is skipped
until its command line changes.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import TracebackType

__all__ = ["TreeWatch", "descendants", "memory_mib"]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, theirs, ...), from ``/proc``."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids = [int(x) for x in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
    return found


def memory_mib(pid: int) -> dict[str, float]:
    """``pid``'s ``VmHWM``, ``VmRSS`` and ``RssAnon`` in MiB; empty once it is gone."""
    found: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:", "RssAnon:")):
                found[line.split(":")[0]] = int(line.split()[1]) / 1024
    return found if len(found) == 3 else {}


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class TreeWatch:
    """The peak RSS of ``pid``'s process tree while the block runs, in MiB."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.peak = self.shared_once = 0.0
        self.children: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tree-watch", daemon=True)

    def _watch(self) -> None:
        command = _command(self.pid)
        while not self._stop.wait(self.every):
            root = memory_mib(self.pid)
            if not root:
                continue
            total = once = root["VmRSS"]
            for pid in descendants(self.pid):
                if _command(pid) in (command, b""):
                    continue  # forked, not yet a program of its own: the case's memory
                seen = memory_mib(pid)
                if seen:
                    total += seen["VmRSS"]
                    once += seen["RssAnon"]
                    self.children[pid] = max(seen["VmHWM"], self.children.get(pid, 0.0))
            self.peak = max(self.peak, total)
            self.shared_once = max(self.shared_once, once)

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
