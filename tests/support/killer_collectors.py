"""Collectors that kill the worker process running them, importable by name.

``doomed`` yields a few rows (so its first part file exists) and then sends
SIGKILL to its own process, once: it leaves a mark in the folder named by
``KILLER_COLLECTORS_MARKS`` first, and a later attempt (an executor running
the task again) finds the mark and completes.  It never kills the process
named by ``KILLER_COLLECTORS_PARENT`` (the test's own).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline_collector import register, slicers

MARKS = "KILLER_COLLECTORS_MARKS"
PARENT = "KILLER_COLLECTORS_PARENT"
ROWS = 300


@register("config", "1.0", description="the platform", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"platform": "test"}


def _rows(name: str, since: datetime) -> Iterator[str]:
    yield "id,day,name\n"
    for i in range(ROWS):
        yield f"{i},{since.date().isoformat()},{name}-{i}\n"


@register("steady", "1.0", format="csv", description="rows by day", fnc_slicing=slicers.daily)
def steady(since: datetime, **kwargs: Any) -> Iterator[str]:
    yield from _rows("steady", since)


@register("doomed", "1.0", format="csv", description="kills its worker once")
def doomed(since: datetime, **kwargs: Any) -> Iterator[str]:
    rows = _rows("doomed", since)
    for _ in range(ROWS // 2):
        yield next(rows)
    mark = Path(os.environ[MARKS], "killed")
    if os.getpid() != int(os.environ[PARENT]) and not mark.exists():
        mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    yield from rows
