"""``init``: write a collector module to start from, and say what to run next.

The module (``pipeline_collector.demo.starter``) holds the config collector,
a JSON collector and a CSV collector sliced by day over the demo's SQLite
database, each commented; ``plan``, ``gather``, ``bench`` and ``preflight``
then run as the README shows.  Like ``demo`` it reads no config file and no
environment, so its options live here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ...demo.starter import write_starter
from ..exits import EXIT_OK, EXIT_USAGE
from ..invocation import invocation, shown_path
from ..parser import exit_codes

__all__ = ["build_parser", "run"]

_EPILOG = f"""\
The module reads jobs.sqlite3 next to it: a database of job events made the
first time the module is loaded, which grows each time after, as a service's
tables grow between runs. Nothing else is needed: the package carries the
demo's data.

examples:
  pipeline-collector init mycollectors.py
  pipeline-collector init collectors/analytics.py --force

{
    exit_codes(
        (EXIT_OK, "the module was written"),
        (EXIT_USAGE, "bad usage, or the file exists (give --force to replace it)"),
    )
}"""


def build_parser() -> argparse.ArgumentParser:
    """The init command's command line."""
    parser = argparse.ArgumentParser(
        prog="pipeline-collector init",
        description="Write a small, commented collector module to start from: a JSON and a"
        "\nsliced CSV collector over the demo's SQLite database of job events.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "file",
        nargs="?",
        default="mycollectors.py",
        metavar="FILE",
        help="the module to write (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    return parser


def run(argv: Sequence[str]) -> int:
    """Write the module; print what to run next; return the exit code."""
    args = build_parser().parse_args(list(argv))
    if not str(args.file).endswith(".py"):
        return _fail(f"{args.file}: a collector module's file name ends in .py")
    try:
        path = write_starter(args.file, force=args.force)
    except FileExistsError:
        return _fail(f"{args.file} exists: give --force to replace it, or another FILE")
    except OSError as exc:
        return _fail(f"cannot write {args.file}: {exc.strerror or exc}")
    name = shown_path(path)
    command = invocation()
    sys.stdout.write(
        f"wrote {name}: collectors config, job_summary (JSON) and job_events (CSV, by day)"
        f" over {shown_path(path.with_name('jobs.sqlite3'))}, made when first loaded\n"
        "then:\n"
        f"  {command} plan {name} --state state.json\n"
        f"  {command} gather {name} --mode manual --state state.json --dir shipped/\n"
        f"  {command} inspect shipped/data/*/*/*/*.tar.gz\n"
        f"  {command} bench {name} --key job_events\n"
        f"  {command} preflight --dir shipped/\n"
    )
    return EXIT_OK


def _fail(message: str) -> int:
    sys.stderr.write(f"pipeline-collector init: {message}\n")
    return EXIT_USAGE
