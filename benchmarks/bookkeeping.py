"""Bookkeeping at scale: the cost per task from 1,400 to 56,000 tasks.

    python benchmarks/bookkeeping.py [--keys 50,2000] [--reps 3] [--only book,e2e]
                                     [--modes dry-run,json,sqlite]

A plan of ``KEYS`` collectors, each sliced into 28 daily windows (50 keys:
1,400 tasks; 2,000 keys: 56,000), on a first run, serially.  Two sections:

* ``book``: the bookkeeper alone, driven with ready-made records (one
  collection of one part per task, each shipped in an archive of its own
  and confirmed): no store, a JSON file store, a SQLite store.  This is the
  ledger's and the saves' own cost; the records are made beforehand and
  frozen out of the garbage collector's sight (``gc.freeze``), which would
  otherwise walk them all, a cost of holding them, not of bookkeeping.
* ``e2e``: a whole ``gather`` of trivial collectors (a one-row JSON
  document per window, so every window is an archive), dry-run, or shipping
  to a ``DirectoryTransport`` with a JSON file or SQLite store.

Each case runs in a fresh interpreter.  Figures are medians with min-max of
``--reps`` runs, in microseconds per task, and the ratio of the large plan's
cost to the small one's; every row says how many cores other processes
used while it ran, and the load average (``uptime``'s one-minute figure)
at its end.  Results go to ``benchmarks/results/bookkeeping.md`` and
``.json``, rewritten after every case.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import machine_busy, median, spread, table  # noqa: E402

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)
WINDOWS = 28
SECTIONS = ("book", "e2e")
MODES = {"book": ("none", "json", "sqlite"), "e2e": ("dry-run", "json", "sqlite")}


def _collectors(keys: int) -> list[Any]:
    """``keys`` trivial collectors sliced by day, and the config."""
    from pipeline_collector import register, slicers

    def make(n: int) -> Any:
        @register(f"k{n:05d}", "1.0", fnc_slicing=slicers.daily)
        def collector(since: datetime, until: datetime, **kwargs: Any) -> list[int]:
            return [1]

        return collector

    @register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"benchmark": "bookkeeping"}

    return [config, *(make(n) for n in range(keys))]


def _store(kind: str, folder: Path) -> Any:
    from pipeline_collector.stores import JsonFileStore, SqliteStore

    if kind == "json":
        return JsonFileStore(folder / "state.json")
    if kind == "sqlite":
        return SqliteStore(folder / "state.db")
    return None


def case_book(keys: int, kind: str, folder: Path) -> dict[str, Any]:
    """Drive a bookkeeper over a first run of ``keys`` x 28 windows; time its own work."""
    from pipeline_collector.book.bookkeeper import Bookkeeper
    from pipeline_collector.records import (
        Archive,
        Batch,
        Collection,
        Part,
        Receipt,
        Shipment,
        State,
    )
    from pipeline_collector.stages.discover import discover
    from pipeline_collector.stages.plan import plan

    p = plan(discover(_collectors(keys)), State(), now=NOW)
    assert len(p.tasks) == keys * WINDOWS
    steps = []
    for n, task in enumerate(p.tasks):
        part = Part(
            key=task.key, seq=task.seq, index=0, filename=f"{task.key}.json",
            path=folder / "part", raw_size=3, deflated_size=5, crc32=0,
        )  # fmt: skip
        c = Collection(task=task, status="ok", started_at=NOW, elapsed=0.0, parts=(part,))
        name = f"analytics-{n}.tar.gz"
        archive = Archive(
            path=folder / name, size=100, sha256="0" * 64, members=(f"./{task.key}.json",),
            batch=Batch(group="default", number=n, parts=(part,), collections=(c,)), until=NOW,
        )  # fmt: skip
        receipt = Receipt(archive=name, sha256="0" * 64, destination="dir")
        steps.append((c, archive, Shipment(archive=archive, receipt=receipt)))
    store = _store(kind, folder)
    state = store.load() if store is not None else State()
    # The records a run makes as it goes are made here beforehand; out of the
    # garbage collector's sight, they cost it nothing: what is timed is the
    # bookkeeper's own work (a whole run's cost is the e2e section's).
    gc.freeze()
    started = time.perf_counter()
    book = Bookkeeper(p, state, store)
    for c, archive, shipment in steps:
        book.collected(c)
        book.archived(archive)
        book.shipped(shipment)
    book.close(last_gather=p.until, run=book.record("manual", "ok", 0.0))
    seconds = time.perf_counter() - started
    assert len(book.state.entries) == keys
    return {"tasks": len(p.tasks), "seconds": seconds, "status": "ok"}


def case_e2e(keys: int, mode: str, folder: Path) -> dict[str, Any]:
    """A whole first run of ``keys`` trivial sliced collectors, serially."""
    from pipeline_collector import gather
    from pipeline_collector.transports import DirectoryTransport

    collectors = _collectors(keys)
    shipping = mode != "dry-run"
    started = time.perf_counter()
    run = gather(
        collectors,
        mode="manual" if shipping else "dry-run",
        state=_store(mode, folder) if shipping else None,
        transport=DirectoryTransport(folder / "outbox") if shipping else None,
        clock=lambda: NOW,
        workdir=folder / "work",
    )
    seconds = time.perf_counter() - started
    return {
        "tasks": len(run.collections),
        "seconds": seconds,
        "status": run.status,
        "archives": len(run.archives),
    }


def run_case(section: str, keys: int, mode: str) -> dict[str, Any]:
    """One case in a fresh interpreter, with the cores others used meanwhile."""
    folder = Path(tempfile.mkdtemp(prefix="bench-book-"))
    try:
        b0, t0 = machine_busy(), time.monotonic()
        done = subprocess.run(
            [sys.executable, __file__, "--case", section, str(keys), mode, str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - t0
        if done.returncode != 0:
            raise RuntimeError(f"{section} {keys} {mode} failed:\n{done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        # The case's own process uses one core: the rest is the machine's other load.
        result["others"] = max(0.0, (machine_busy() - b0) / wall - 1.0)
        result["load"] = os.getloadavg()[0]  # uptime's figure, over the last minute
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", default="50,2000", help="plan sizes in keys (x 28 windows)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default=",".join(SECTIONS), help="book, e2e")
    ap.add_argument(
        "--modes", default=None, help="e2e: dry-run,json,sqlite; book: none,json,sqlite"
    )
    ap.add_argument("--case", nargs=4, metavar=("SECTION", "KEYS", "MODE", "FOLDER"))
    args = ap.parse_args()
    if args.case:
        section, keys, mode, folder = args.case
        case = case_book if section == "book" else case_e2e
        print(json.dumps(case(int(keys), mode, Path(folder))))
        return
    sizes = [int(k) for k in args.keys.split(",")]
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    data: dict[str, Any] = {"machine": os.uname().nodename, "cores": os.cpu_count(), "cases": {}}
    report: list[str] = []
    for section in args.only.split(","):
        modes = args.modes.split(",") if args.modes else MODES[section]
        rows = []
        for mode in modes:
            per: dict[int, list[float]] = {}
            others: list[float] = []
            loads: list[float] = []
            for keys in sizes:
                for rep in range(args.reps):
                    r = run_case(section, keys, mode)
                    us = r["seconds"] / r["tasks"] * 1e6
                    per.setdefault(keys, []).append(us)
                    others.append(r["others"])
                    loads.append(r["load"])
                    data["cases"].setdefault(f"{section}/{mode}/{keys}", []).append(r)
                    print(
                        f"{section} {mode} {keys} keys ({r['tasks']} tasks) rep {rep + 1}:"
                        f" {r['seconds']:.2f} s, {us:.0f} us/task, {r['status']},"
                        f" others {r['others']:.2f} cores",
                        file=sys.stderr,
                        flush=True,
                    )
            small, large = min(sizes), max(sizes)
            ratio = median(per[large]) / median(per[small])
            seconds = [us * large * WINDOWS / 1e6 for us in per[large]]
            rows.append(
                [mode]
                + [spread(per[k], "{:.0f}") for k in sizes]
                + [f"{ratio:.2f}", spread(seconds, "{:.1f}"), f"{median(others):.2f}"]
                + [spread(loads, "{:.1f}")]
            )
            header = (
                ["store" if section == "book" else "mode"]
                + [f"us/task at {k * WINDOWS:,} tasks" for k in sizes]
                + ["ratio", f"seconds at {max(sizes) * WINDOWS:,}", "others' cores", "load"]
            )
            part = f"### {section}: {', '.join(str(k) for k in sizes)} keys x {WINDOWS} windows\n\n"
            current = [*report, part + table(header, rows)]
            (results_dir / "bookkeeping.md").write_text("\n\n".join(current) + "\n")
            (results_dir / "bookkeeping.json").write_text(json.dumps(data, indent=2))
        report.append(part + table(header, rows))
    print("\n\n".join(report))


if __name__ == "__main__":
    main()
