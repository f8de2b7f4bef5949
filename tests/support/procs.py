"""The compressor processes of a process, read from ``/proc``: who runs, who is gone."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipeline_collector.compress.child import WORKER

__all__ = ["compressors", "gone", "open_parts", "wait_gone", "workers_running"]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid``; None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _runs_worker(pid: int) -> bool:
    try:
        return str(WORKER).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def compressors(parent: int | None = None) -> list[int]:
    """The live compressor processes (``worker.py``) whose parent is ``parent`` (us by default)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is not None and stat[1] == parent and stat[0] != "Z" and _runs_worker(pid):
            found.append(pid)
    return found


def workers_running() -> list[int]:
    """Every live compressor process on the machine that is ours (any parent)."""
    return [
        int(e.name)
        for e in os.scandir("/proc")
        if e.name.isdigit() and _runs_worker(int(e.name)) and not gone(int(e.name))
    ]


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its reaper counts as gone)."""
    stat = _stat(pid)
    return stat is None or stat[0] in ("Z", "X")


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    """Wait until ``pid`` has exited; whether it did in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


def open_parts(pid: int) -> list[str]:
    """The part files ``pid`` holds open."""
    found = []
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.endswith(".part"):
                found.append(target)
    except OSError:
        pass
    return found
