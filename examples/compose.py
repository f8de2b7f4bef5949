"""Compose the stages by hand with ``toolz.pipe``: what ``gather`` does, minus bookkeeping.

Use this shape when a service needs a stage of its own between two of ours,
say a filter that drops collections, or a transport chosen per archive.

    python examples/compose.py [--database PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from toolz import curried, pipe

import pipeline_collector as pc
from pipeline_collector.demo import grow, jobs_collectors
from pipeline_collector.stages.plan import config_task

LIMIT = 1 * 2**20  # bytes of CSV per part
UPLOAD = 100 * 2**20  # compressed bytes per archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="examples/data/jobs.sqlite3")
    parser.add_argument("--out", default="examples/out-composed")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc)
    grow(Path(args.database), now)
    work = Path(tempfile.mkdtemp(prefix="compose-"))
    transport = pc.DirectoryTransport(args.out)

    plan = pc.plan(pc.discover(jobs_collectors(args.database)), pc.State(), now=now)
    collect = partial(
        pc.collect, workdir=work, max_data_size=LIMIT, collection_type="manual", clock=lambda: now
    )
    split = partial(pc.split, directory=work, max_data_size=LIMIT)
    config = split(collect(config_task(plan))).parts[0]

    shipments = pipe(
        plan.tasks,
        curried.map(collect),  # call each collector over its window
        curried.map(split),  # cut CSV into parts, compressed as they are cut
        partial(
            pc.pack,
            max_data_size=LIMIT,
            max_upload_size=UPLOAD,
            config=config,
            config_version=plan.config.version,
        ),
        curried.map(
            partial(
                pc.write_archive,
                config=config,
                config_version=plan.config.version,
                directory=work,
                until=plan.until,
            )
        ),
        curried.map(partial(pc.ship, transport)),
        list,
    )
    for s in shipments:
        print(f"{s.archive.name}: {'shipped to ' + str(s.receipt.location) if s.ok else s.error}")
    return 0 if all(s.ok for s in shipments) else 1


if __name__ == "__main__":
    raise SystemExit(main())
