"""What every benchmark section shares: progress, waiting for a quiet machine, the report.

The machine may be shared.  Before each case the harness may wait (up to
``Harness.wait`` seconds) for the other processes to leave the cores alone,
and says so on stderr, with the load it sees; every case records the cores
others used while it ran, so a figure taken on a busy machine says it.  The
report is rewritten (Markdown and JSON) after every case, so an interrupted
run keeps what it measured.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["Harness", "machine_busy", "median", "spread", "table"]


def machine_busy() -> float:
    """CPU seconds spent by the whole machine so far (all cores, all processes)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _busy_cores(seconds: float) -> float:
    b0, t0 = machine_busy(), time.monotonic()
    time.sleep(seconds)
    return (machine_busy() - b0) / (time.monotonic() - t0)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Iterable[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of the values, as text."""
    v = sorted(values)
    if len(v) == 1:
        return fmt.format(v[0])
    return f"{fmt.format(statistics.median(v))} ({fmt.format(v[0])}-{fmt.format(v[-1])})"


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


class Harness:
    """Progress on stderr, the quiet-machine wait, and the report written as it grows."""

    def __init__(self, md: Path, data: Path, wait: float) -> None:
        self.md = md
        self.json = data
        self.wait = wait  # seconds a case may wait for a quiet machine; 0: never
        self.parts: list[str] = []
        self.data: dict[str, Any] = {}
        self.started = time.monotonic()
        self.cores = os.cpu_count() or 1

    def say(self, text: str) -> None:
        """One progress line on stderr, with the time since the start."""
        print(f"[{time.monotonic() - self.started:6.0f}s] {text}", file=sys.stderr, flush=True)

    def quiet(self) -> float:
        """Wait until other processes use under 0.15 cores (three samples in a row).

        Returns the cores they used at the last look.  Says why it waits, and
        what it found when it gives up.
        """
        busy = _busy_cores(0.3)
        if self.wait <= 0 or busy < 0.15:
            return busy
        self.say(
            f"waiting for a quiet machine: other processes use {busy:.2f} of {self.cores} cores"
            f" (up to {self.wait:.0f} s; --no-wait measures at once)"
        )
        deadline = time.monotonic() + self.wait
        calm = 0
        while time.monotonic() < deadline:
            busy = _busy_cores(0.5)
            calm = calm + 1 if busy < 0.15 else 0
            if calm >= 3:
                self.say(f"quiet ({busy:.2f} cores used by others)")
                return busy
        self.say(f"still busy after {self.wait:.0f} s ({busy:.2f} cores used by others); measuring")
        return busy

    def record(self, section: str, item: dict[str, Any]) -> None:
        """Keep one case's figures and write the JSON at once."""
        self.data.setdefault(section, []).append(item)
        self.save()

    def add(self, text: str) -> None:
        """A finished section: print it and write the Markdown at once."""
        print(text, flush=True)
        self.parts.append(text)
        self.save()

    def save(self) -> None:
        self.md.write_text("\n".join(self.parts))
        self.json.write_text(json.dumps(self.data, indent=1, default=str))
