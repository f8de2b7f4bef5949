"""``demo``: try the pipeline from the installed package alone, with its own options.

It builds the embedded SQLite database of job events, gathers it with the
demo's collectors and ships the archives to a folder, or to a local
ingress started for the run, then says where they went and how to look at
them.  Like ``ingress`` it reads no config file and no environment, so its
options live here rather than in ``declarations``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from ...demo import Demo, run_demo
from ...errors import ConfigurationError, PipelineError, StateError, describe_exception
from ..exits import EXIT_FOR, EXIT_LOCK_HELD, EXIT_OK, EXIT_PARTIAL, EXIT_STATE, EXIT_USAGE
from ..invocation import invocation
from ..links import source

__all__ = ["DEFAULT_DIR", "build_parser", "run"]

DEFAULT_DIR = "pipeline-collector-demo"

_EPILOG = f"""\
Everything goes under --dir: jobs.sqlite3 (the database, grown on each run),
state.json (the bookkeeping), work/ and the archives, in data/YYYY/MM/DD/
or, with --ingress, in received/ as the local ingress saved them. Run it
again and it ships only the events added since.

examples:
  pipeline-collector demo
  pipeline-collector demo --dir /tmp/demo --ingress
  pipeline-collector demo --dry-run

exit codes:
  {EXIT_OK}  the run went through (in a dry run: the archives were built)
  {EXIT_PARTIAL}  a collection or an upload failed
  {EXIT_USAGE}  bad usage: --dir or --database cannot be used
  {EXIT_LOCK_HELD}  another demo run holds the lock of --dir
  {EXIT_STATE}  the state file under --dir cannot be read (corrupt or unreadable)

Its collectors are made by pipeline_collector.demo.jobs_collectors(database)
  {source("pipeline_collector/demo/collectors.py")}
and 'pipeline-collector init mycollectors.py' writes a module of the same
kind to run with plan, gather and bench."""


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    parser = argparse.ArgumentParser(
        prog="pipeline-collector demo",
        description="Run the pipeline over an embedded SQLite database of job events and ship"
        "\nthe archives to a folder, or to a local ingress started for the run.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dir",
        default=DEFAULT_DIR,
        metavar="DIR",
        help="where the database, the state and the archives go (default: %(default)s)",
    )
    parser.add_argument(
        "--ingress",
        action="store_true",
        help="ship over HTTP to a local ingress on 127.0.0.1, started for the run",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="build the archives and keep them; ship nothing"
    )
    parser.add_argument(
        "--database", metavar="PATH", help="the SQLite file (default: DIR/jobs.sqlite3)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the pipeline's log events on stderr"
    )
    return parser


def run(argv: Sequence[str]) -> int:
    """Run the demo with ``argv``; print what it did; return the exit code."""
    args = build_parser().parse_args(list(argv))
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    database = args.database or os.path.join(args.dir, "jobs.sqlite3")
    try:
        demo = run_demo(args.dir, ingress=args.ingress, dry_run=args.dry_run, database=database)
    except sqlite3.DatabaseError as exc:
        return _fail(
            f"{database} is not the demo's SQLite database ({exc}):"
            " give another --database or --dir",
            EXIT_USAGE,
        )
    except OSError as exc:
        where = exc.filename if exc.filename is not None else args.dir
        return _fail(f"cannot use {where}: {exc.strerror}; give another --dir", EXIT_USAGE)
    except ConfigurationError as exc:
        return _fail(f"{exc}; give another --dir", EXIT_USAGE)
    except StateError as exc:
        return _fail(f"{describe_exception(exc)}; give another --dir", EXIT_STATE)
    except PipelineError as exc:
        return _fail(describe_exception(exc), EXIT_PARTIAL)
    out = sys.stdout
    run_ = demo.run
    out.write(f"database {_shown(demo.database)}: {demo.events_added} new events\n")
    out.write(f"run: {run_.status}{'' if run_.reason is None else ' - ' + run_.reason}\n")
    empty = sum(c.status == "empty" for c in run_.collections)
    for c in run_.collections:
        if c.status != "empty":
            out.write(
                f"  {c.key:<12} {c.task.window!s:<60} {c.status:<7}"
                f" rows={c.rows:<6} bytes={c.bytes}\n"
            )
    if empty:
        out.write(f"  and {empty} windows with no rows (before the database's first day)\n")
    if not run_.collections:
        out.write("  nothing new since the last run\n")
    out.write(_where(demo, dry_run=args.dry_run))
    out.flush()
    return EXIT_FOR.get(run_.status, EXIT_PARTIAL)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"pipeline-collector demo: {message}\n")
    return code


def _where(demo: Demo, *, dry_run: bool) -> str:
    """Where the archives went, and the commands that show what is in them."""
    if not demo.archives:
        return ""
    count = f"{len(demo.archives)} archive{'' if len(demo.archives) == 1 else 's'}"
    if dry_run:
        head = f"kept {count} (a dry run ships nothing):"
    elif demo.url:
        head = f"shipped {count} to the local ingress at {demo.url}, which saved:"
    else:
        head = f"shipped {count} to {_shown(demo.directory)}:"
    lines = [head]
    lines += [f"  {_shown(p)}" for p in demo.archives]
    folders = sorted({p.parent for p in demo.archives})
    command = invocation()
    lines.append("look inside:")
    lines += [f"  {command} inspect {_shown(f)}/*.tar.gz" for f in folders]
    lines.append(f"  tar -tzvf {_shown(demo.archives[0])}")
    if not dry_run:
        lines.append(f"  {command} status --state {_shown(demo.state)}")
        lines.append("run the demo again: it ships only what is new")
    lines.append(f"write collectors of your own to start from: {command} init mycollectors.py")
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is under it, else as it is."""
    try:
        inside = path.resolve().is_relative_to(Path.cwd().resolve())
    except OSError:
        return str(path)
    return os.path.relpath(path) if inside else str(path)
