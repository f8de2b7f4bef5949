"""One ``gather`` run in its own process, for the crash and full-disk tests.

Run as ``python tests/support/crash_worker.py --db ... --state ... --dest ... --now ISO``.
It ships with a ``JsonFileStore`` and a ``DirectoryTransport``, prints
``@<event> <archive>`` on stdout for every log event as it happens (the
markers a test kills on), and ends with one ``RESULT <json>`` line that
describes the run.  ``--fsize`` caps the size of any file it writes
(``RLIMIT_FSIZE``), to play a full disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time
from collections.abc import MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog


def _configure_logs(
    log_file: Path | None,
    pause: float,
    hold: str | None,
    die_at: int | None = None,
    die_on: str | None = None,
) -> None:
    """Markers on stdout, the events themselves as JSON lines in ``log_file``.

    After each marker the process waits ``pause`` seconds, so that a kill
    timed from a marker lands right at that point of the run; after the
    ``hold`` event it waits for good, until it is killed.  With ``die_at``
    it kills itself with SIGKILL right after its ``die_at``-th marker (of
    event ``die_on`` when given): a kill point that depends on nothing but
    the run, so that a campaign reproduces exactly from its seed.
    """
    seen = 0

    def marker(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        nonlocal seen
        name = event.get("event")
        print(f"@{name} {event.get('archive', '')}".rstrip(), flush=True)
        if die_at is not None and (die_on is None or name == die_on):
            seen += 1
            if seen == die_at:
                os.kill(os.getpid(), signal.SIGKILL)
        if name == hold:
            time.sleep(600)
        elif pause:
            time.sleep(pause)
        return event

    sink = log_file.open("a", encoding="utf-8") if log_file else sys.stderr
    structlog.configure(
        processors=[marker, structlog.processors.JSONRenderer(default=str)],
        logger_factory=structlog.PrintLoggerFactory(file=sink),
        cache_logger_on_first_use=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run ``gather`` once, print its report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temp folder")
    parser.add_argument("--now", required=True, help="the run's clock, ISO-8601 with offset")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each collector takes")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to wait per event")
    parser.add_argument("--hold", default=None, help="event after which to wait to be killed")
    parser.add_argument("--die-at", type=int, default=None, help="SIGKILL itself at this event")
    parser.add_argument("--die-on", default=None, help="count only this event for --die-at")
    parser.add_argument("--fsize", type=int, default=None, help="largest file it may write")
    parser.add_argument("--max-data-size", type=int, default=200 * 2**20)
    parser.add_argument("--log-file", type=Path, default=None)
    args = parser.parse_args(argv)

    _configure_logs(args.log_file, args.pause, args.hold, args.die_at, args.die_on)
    if args.fsize is not None:
        # A write past the limit then fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize, args.fsize))

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pipeline_collector import DirectoryTransport, JsonFileStore, gather
    from support.reliability import collectors

    now = datetime.fromisoformat(args.now)
    print("ready", flush=True)
    run = gather(
        collectors(args.db, delay=args.delay),
        state=JsonFileStore(args.state),
        transport=DirectoryTransport(args.dest, clock=lambda: now),
        mode="scheduled",
        clock=lambda: now,
        workdir=args.workdir,
        max_data_size=args.max_data_size,
    )
    report = {
        "status": run.status,
        "reason": run.reason,
        "shipped": [s.archive.name for s in run.shipments if s.ok],
        "failed": [s.archive.name for s in run.shipments if not s.ok],
        "failures": [c.error for c in run.failures],
        "entries": {k: v.isoformat() for k, v in (run.state.entries if run.state else {}).items()},
    }
    print("RESULT " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
