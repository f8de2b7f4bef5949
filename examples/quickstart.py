"""Run the pipeline over an embedded SQLite database of job events.

The first run builds ``examples/data/jobs.sqlite3`` with ten days of events
and ships every day to ``examples/out/data/YYYY/MM/DD/``; later runs add the
events that happened since and ship only what is new.  State is kept in
``examples/out/state.json``.

    python examples/quickstart.py [--dry-run] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jobs_collectors  # noqa: E402
import structlog  # noqa: E402

import pipeline_collector as pc  # noqa: E402

EVENTS = ("runner_on_start", "runner_on_ok", "runner_on_failed", "playbook_on_stats")
HOSTS = [f"node{n:02d}.example.com" for n in range(12)]


def grow(path: Path, now: datetime) -> int:
    """Create the database on first use, then add events up to ``now``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, status TEXT, finished TEXT);"
        "CREATE TABLE IF NOT EXISTS job_events (id INTEGER PRIMARY KEY, job_id INTEGER,"
        " created TEXT, host TEXT, event TEXT, stdout TEXT);"
        "CREATE TABLE IF NOT EXISTS grown (until TEXT);"
    )
    last = db.execute("SELECT max(until) FROM grown").fetchone()[0]
    start = datetime.fromisoformat(last) if last else now - timedelta(days=10)
    rng = random.Random(start.timestamp())
    added = 0
    t = start
    job = db.execute("SELECT coalesce(max(id), 0) FROM jobs").fetchone()[0]
    while t < now:
        job += 1
        status = rng.choice(["successful", "successful", "failed"])
        db.execute("INSERT INTO jobs VALUES (?, ?, ?)", (job, status, t.isoformat()))
        for _ in range(rng.randint(5, 30)):
            task, event_id = rng.randint(1, 40), uuid.UUID(int=rng.getrandbits(128))
            stdout = f'{{"task": "step {task}", "uuid": "{event_id}",\n "msg": "ok, done"}}'
            db.execute(
                "INSERT INTO job_events (job_id, created, host, event, stdout) VALUES (?,?,?,?,?)",
                (job, t.isoformat(), rng.choice(HOSTS), rng.choice(EVENTS), stdout),
            )
            added += 1
        t += timedelta(seconds=rng.randint(1, 2700))
    db.execute("INSERT INTO grown VALUES (?)", (now.isoformat(),))
    db.commit()
    db.close()
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="build archives, ship nothing")
    parser.add_argument("--out", default="examples/out", help="destination folder")
    parser.add_argument("--database", default="examples/data/jobs.sqlite3")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the pipeline's log events"
    )
    args = parser.parse_args(argv)
    if not args.verbose:  # only warnings and errors from the pipeline
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))

    now = datetime.now(timezone.utc)
    added = grow(Path(args.database), now)
    jobs_collectors.DATABASE = args.database
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"database {args.database}: {added} new events")

    run = pc.gather(
        jobs_collectors,
        mode="dry-run" if args.dry_run else "manual",
        state=pc.JsonFileStore(out / "state.json"),
        transport=pc.DirectoryTransport(out),
        lock=pc.FileLock(out / ".lock"),
        workdir=out / "work",
        until=now,
    )
    print(f"run: {run.status}{'' if run.reason is None else ' - ' + run.reason}")
    for c in run.collections:
        print(f"  {c.key:<12} {c.task.window!s:<60} {c.status:<7} rows={c.rows:<6} bytes={c.bytes}")
    for a in run.archives:
        print(f"  archive {a.name}  {a.size} bytes  {len(a.members)} members")
    for r in run.receipts:
        print(f"  shipped  {r.location}")
    if not run.collections:
        print("  nothing new since the last run")
    return 0 if run.status in ("ok",) else 1


if __name__ == "__main__":
    raise SystemExit(main())
