"""The demo's embedded SQLite database of job events, grown up to a moment.

The first call creates the tables with ten days of jobs and their events;
each later call adds what happened since the last one, so a second run of
the demo has new rows to ship.  The rows are made by a random generator
seeded from where the last call stopped: the same calls give the same rows.
"""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["EVENTS", "HOSTS", "grow"]

EVENTS = ("runner_on_start", "runner_on_ok", "runner_on_failed", "playbook_on_stats")
HOSTS = tuple(f"node{n:02d}.example.com" for n in range(12))
_FIRST = timedelta(days=10)  # how far back a new database starts

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, status TEXT, finished TEXT);"
    "CREATE TABLE IF NOT EXISTS job_events (id INTEGER PRIMARY KEY, job_id INTEGER,"
    " created TEXT, host TEXT, event TEXT, stdout TEXT);"
    "CREATE TABLE IF NOT EXISTS grown (until TEXT);"
)


def grow(path: str | os.PathLike[str], now: datetime) -> int:
    """Create the database at ``path`` on first use, then add events up to ``now``.

    Returns how many events were added.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        last = db.execute("SELECT max(until) FROM grown").fetchone()[0]
        start = datetime.fromisoformat(last) if last else now - _FIRST
        job = db.execute("SELECT coalesce(max(id), 0) FROM jobs").fetchone()[0]
        added = _add_jobs(db, random.Random(start.timestamp()), job, start, now)
        db.execute("INSERT INTO grown VALUES (?)", (now.isoformat(),))
        db.commit()
    finally:
        db.close()
    return added


def _add_jobs(
    db: sqlite3.Connection, rng: random.Random, job: int, start: datetime, now: datetime
) -> int:
    """Jobs from ``start`` to ``now``, 5 to 30 events each; returns the events added."""
    added = 0
    t = start
    while t < now:
        job += 1
        status = rng.choice(["successful", "successful", "failed"])
        db.execute("INSERT INTO jobs VALUES (?, ?, ?)", (job, status, t.isoformat()))
        for _ in range(rng.randint(5, 30)):
            task, event_id = rng.randint(1, 40), uuid.UUID(int=rng.getrandbits(128))
            # A newline inside a quoted field: rows are records, not lines.
            stdout = f'{{"task": "step {task}", "uuid": "{event_id}",\n "msg": "ok, done"}}'
            db.execute(
                "INSERT INTO job_events (job_id, created, host, event, stdout) VALUES (?,?,?,?,?)",
                (job, t.isoformat(), rng.choice(HOSTS), rng.choice(EVENTS), stdout),
            )
            added += 1
        t += timedelta(seconds=rng.randint(1, 2700))
    return added
