"""A pipeline of your own on the default flow: trim a column before it is cut, count what ships.

``default_flow()`` is the flow ``gather`` runs.  This adds a row-level step
after ``collect`` that trims each job event's ``stdout`` to 80 characters,
and an archive-level step before ``ship`` that counts the archives and
bytes about to go out.  The runner keeps what makes a run safe whatever the
flow: the bookkeeping (run it twice: the second run ships only what is new),
the schema guard, the upload bound, the lock, and the removal of its parts
and shipped archives.

    python examples/compose.py [--database PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import pipeline_collector as pc
from pipeline_collector.demo import grow, jobs_collectors


def trim_stdout(row: dict[str, str]) -> dict[str, str]:
    """A row-level step: the rest of a long output line is not worth shipping."""
    return {**row, "stdout": row["stdout"][:80]}


class Counter:
    """An archive-level step: counts archives and bytes, passes each archive on."""

    def __init__(self) -> None:
        self.archives = 0
        self.bytes = 0

    def __call__(self, archive: pc.Archive) -> pc.Archive:
        self.archives += 1
        self.bytes += archive.size
        return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="examples/data/jobs.sqlite3")
    parser.add_argument("--out", default="examples/out-composed")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    grow(Path(args.database), datetime.now(timezone.utc))

    counter = Counter()
    flow = (
        pc.default_flow()
        .after("collect", pc.map_rows("trim_stdout", trim_stdout))
        .before("ship", pc.step("count", counter, on="archive"))
    )
    config = pc.RunConfig(mode="manual", limits=pc.Limits(max_data_size=2**20))  # many archives
    with pc.DirectoryTransport(out) as transport:
        run = pc.gather(
            jobs_collectors(args.database),
            config,
            flow=flow,
            state=pc.JsonFileStore(out / "state.json"),
            transport=transport,
            lock=pc.FileLock(out / ".lock"),
        )
    print(run)
    print(f"counted {counter.archives} archives, {counter.bytes} bytes before shipping")
    return 0 if run.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
