"""Play many model-based fault schedules (tests/support/schedules.py) and print the counts.

    python benchmarks/fault_schedules.py [--count 10000] [--seed N] [--runs 3]

Each schedule plays ``--runs`` runs with faults plus a clean last run, and
checks after each that no entry passes what was delivered and no row was sent
twice unflagged.  The seed is printed first (a random one unless given), so a
failure can be replayed with ``--seed`` (the failing schedule's seed is in the
error).  The suite plays 1,000 in every CI run; this plays more.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.schedules import run_schedules  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"seed {seed}, {args.count} schedules of {args.runs} runs and a clean one", flush=True)
    started = time.perf_counter()
    counts = run_schedules(args.count, seed, runs=args.runs)
    seconds = time.perf_counter() - started
    for name, n in sorted(counts.items()):
        print(f"{name:>16}  {n}")
    print(f"all held, in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
