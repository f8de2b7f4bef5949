"""Collectors importable by name, for runs whose tasks go to other processes.

A process pool or a dask worker receives a task's collector function by
reference (module and name), so these live in a module of their own, not in a
test.  Everything they produce depends only on their window, so a run is the
same whichever process runs which task.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pipeline_collector import register, slicers
from pipeline_collector.compat import CsvFileSplitter

#: The daily window of ``jobs`` that fails: later windows of ``jobs`` must wait.
FAILING_DAY = datetime(2026, 11, 25, tzinfo=timezone.utc)


#: When set, each task leaves a file named after the process and thread that ran it.
WHERE = "EXECUTOR_COLLECTORS_WHERE"


def _rng(key: str, since: datetime) -> random.Random:
    folder = os.environ.get(WHERE)
    if folder:
        name = f"{os.getpid()}-{threading.current_thread().name}-{key}-{since.timestamp():.0f}"
        Path(folder, name).touch()
    return random.Random(f"{key}/{since.isoformat()}")


@register("config", "1.0", description="the platform", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"platform": "test", "version": "1.0"}


@register("counts", "1.2", description="a small JSON document")
def counts(since: datetime, until: datetime, **kwargs: Any) -> dict[str, Any]:
    _rng("counts", since)
    return {"since": since, "hours": (until - since) // timedelta(hours=1)}


@register("hosts", "1.1", format="csv", description="rows with quoted commas and newlines")
def hosts(since: datetime, **kwargs: Any) -> Iterator[str]:
    rng = _rng("hosts", since)
    yield "id,name,note\n"
    for i in range(1500):
        yield f'{i},host-{i}.example.com,"{rng.getrandbits(48):x}, line\nbreak"\n'


@register(
    "events",
    "1.0",
    format="csv",
    description="hourly rows, sliced by day",
    fnc_slicing=slicers.daily,
)
def events(since: datetime, until: datetime, **kwargs: Any) -> Iterator[bytes]:
    rng = _rng("events", since)
    yield b"id,created,payload\n"
    t, n = since, 0
    while t < until:
        for _ in range(40):
            yield f"{n},{t.isoformat()},{rng.randbytes(60).hex()}\n".encode()
            n += 1
        t += timedelta(hours=1)


@register("jobs", "1.0", format="csv", description="fails on one day", fnc_slicing=slicers.daily)
def jobs(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
    if since == FAILING_DAY:
        raise RuntimeError(f"database went away at {since.isoformat()}")
    rng = _rng("jobs", since)
    yield "id,started,status\n"
    for i in range(200):
        yield f"{i},{since.isoformat()},{rng.choice(['ok', 'failed', 'canceled'])}\n"


@register("files", "1.0", format="csv", description="an old-style collector writing files")
def files(full_path: str, max_data_size: int, since: datetime, **kwargs: Any) -> list[str]:
    rng = _rng("files", since)
    out = CsvFileSplitter(os.path.join(full_path, "files.csv"), max_file_size=max_data_size)
    out.write("path,size\n")
    for i in range(2500):
        out.write(f"/var/lib/data/{i:05d}-{rng.getrandbits(32):08x},{rng.randrange(10**6)}\n")
    return out.file_list()
