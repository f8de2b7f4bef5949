"""The demo's collectors: a small job-running service whose data lives in SQLite.

Two JSON summaries and a job-events table sliced by day, written the way a
service writes them: plain functions registered with ``pc.register``.  They
are made by ``jobs_collectors(database)`` so that each demo reads its own file;
a service's module defines them at module level, as
``examples/jobs_collectors.py`` does with these.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pipeline_collector as pc

__all__ = ["jobs_collectors"]


def jobs_collectors(database: str | os.PathLike[str]) -> tuple[Callable[..., Any], ...]:
    """The four collectors, each reading the SQLite file ``database``."""
    path = os.fspath(database)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path)

    @pc.register("config", "1.0", config=True, description="service settings and version")
    def config(**kwargs: Any) -> dict[str, Any]:
        with connect() as db:
            hosts = db.execute("SELECT count(DISTINCT host) FROM job_events").fetchone()[0]
        return {"service": "jobs-example", "version": "1.4.2", "hosts": hosts}

    @pc.register("job_summary", "1.0", description="jobs by status in the window")
    def job_summary(since: datetime, until: datetime, **kwargs: Any) -> dict[str, int]:
        with connect() as db:
            rows = db.execute(
                "SELECT status, count(*) FROM jobs WHERE finished >= ? AND finished < ?"
                " GROUP BY status",
                (since.isoformat(), until.isoformat()),
            ).fetchall()
        return dict(rows)

    @pc.register("host_counts", "1.0", description="events per host in the window")
    def host_counts(since: datetime, until: datetime, **kwargs: Any) -> dict[str, int]:
        with connect() as db:
            rows = db.execute(
                "SELECT host, count(*) FROM job_events WHERE created >= ? AND created < ?"
                " GROUP BY host ORDER BY host",
                (since.isoformat(), until.isoformat()),
            ).fetchall()
        return dict(rows)

    @pc.register(
        "job_events",
        "1.1",
        format="csv",
        fnc_slicing=pc.slicers.daily,
        description="job events, one CSV part per day",
    )
    def job_events(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
        db = connect()
        try:
            cursor = db.execute(
                "SELECT id, job_id, created, host, event, stdout FROM job_events"
                " WHERE created >= ? AND created < ? ORDER BY id",
                (since.isoformat(), until.isoformat()),
            )
            yield from pc.csv_lines([d[0] for d in cursor.description], cursor)
        finally:
            db.close()

    return (config, job_summary, host_counts, job_events)
