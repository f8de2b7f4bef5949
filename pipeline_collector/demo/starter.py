"""A collector module to start from, written by ``pipeline-collector init``.

The module is text here, not code of the package: loaded, it builds and
grows a database next to itself, which the package must never do to its own
folder.  It holds the config collector, a JSON collector and a CSV collector
sliced by day, over the demo's SQLite database of job events, each with a
comment that says what it shows; ``plan``, ``gather`` and ``bench`` run it as
the README shows.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["STARTER", "write_starter"]

STARTER = '''\
"""Collectors to try pipeline-collector with, written by `pipeline-collector init`.

They read a small SQLite database of job events, jobs.sqlite3 next to this
file: it is made the first time this module is loaded and grows each time
after, as a service's tables grow between runs (a real module queries the
service's own database instead).  Try them with:

    pipeline-collector plan {name} --state state.json
    pipeline-collector gather {name} --mode manual --state state.json --dir shipped/
    pipeline-collector bench {name} --key job_events

A collector is a plain function registered with @pc.register.  It is called
with the window to collect, [since, until) (timezone-aware datetimes), and
with other keywords it may ignore, so it must take **kwargs.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pipeline_collector as pc
from pipeline_collector.demo import grow

DATABASE = Path(__file__).with_name("jobs.sqlite3")
grow(DATABASE, datetime.now(timezone.utc))  # made on first use, then new events up to now


def connect() -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(DATABASE))


# Exactly one collector says config=True: its document is ./config.json in
# every archive, and a run ships nothing when it fails.
@pc.register("config", "1.0", config=True, description="the service and its version")
def config(**kwargs: Any) -> dict[str, str]:
    return {{"service": "jobs-example", "version": "1.0"}}


# A JSON collector returns any JSON value; it is collected once a run, over
# the run's window, and goes into the run's first archive.
@pc.register("job_summary", "1.0", description="jobs by status in the window")
def job_summary(since: datetime, until: datetime, **kwargs: Any) -> dict[str, int]:
    with connect() as db:
        rows = db.execute(
            "SELECT status, count(*) FROM jobs WHERE finished >= ? AND finished < ?"
            " GROUP BY status",
            (since.isoformat(), until.isoformat()),
        ).fetchall()
    return dict(rows)


# A CSV collector yields records, the header first.  Sliced by day, each
# day is collected, packed and shipped on its own, and the state moves one
# day at a time; parts are cut between records, never inside one (a record
# may hold newlines inside quotes: these stdout fields do).
@pc.register(
    "job_events", "1.0", format="csv", fnc_slicing=pc.slicers.daily,
    description="job events, one part per day",
)
def job_events(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
    with connect() as db:
        cursor = db.execute(
            "SELECT id, job_id, created, host, event, stdout FROM job_events"
            " WHERE created >= ? AND created < ? ORDER BY id",
            (since.isoformat(), until.isoformat()),
        )
        yield from pc.csv_lines([d[0] for d in cursor.description], cursor)
'''


def write_starter(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the starter module at ``path``; an existing file is kept unless ``force``.

    ``FileExistsError`` when the file is there and ``force`` is not given.
    """
    target = Path(path)
    text = STARTER.format(name=target.name)
    mode = "w" if force else "x"
    with target.open(mode, encoding="utf-8") as f:
        f.write(text)
    return target
