"""Peak RSS of the processes a case starts, watched from the driver.

A case runs in a process of its own and reads its own peak (``VmHWM``) at the
end; the processes it starts (the compressor process) have ended by then.
``TreeWatch`` samples, from a thread of the driver (outside the measured
tree), the ``VmHWM`` of every process below the case, so a case's figure
is its whole tree's: its own peak plus each descendant's.  ``VmHWM`` only
grows, so sampling misses at most what a process adds in its last
``every`` seconds.  Summed peaks count twice the pages processes share (the
interpreter's code, its libraries): an upper bound of the tree's memory.
The peak of each descendant's ``RssAnon`` (its own memory, sampled) is kept
too: the case's peak plus those counts the shared pages once.
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


def memory_mib(pid: int) -> tuple[float, float] | None:
    """``pid``'s peak RSS and its anonymous RSS now, in MiB; None once it is gone."""
    found: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "RssAnon:")):
                found[line.split(":")[0]] = int(line.split()[1]) / 1024
    if len(found) < 2:
        return None
    return found["VmHWM"], found["RssAnon"]


class TreeWatch:
    """The peak RSS of each process below ``pid`` while the block runs, in MiB."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.peaks: dict[int, float] = {}
        self.anon: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tree-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            for pid in descendants(self.pid):
                seen = memory_mib(pid)
                if seen is not None:
                    self.peaks[pid] = max(seen[0], self.peaks.get(pid, 0.0))
                    self.anon[pid] = max(seen[1], self.anon.get(pid, 0.0))

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

    @property
    def total(self) -> float:
        """The descendants' peaks, summed."""
        return sum(self.peaks.values())

    @property
    def own(self) -> float:
        """The descendants' peak anonymous memory, summed: what they hold that is theirs."""
        return sum(self.anon.values())
