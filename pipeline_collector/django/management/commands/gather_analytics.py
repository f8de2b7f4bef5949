"""``manage.py gather_analytics``: the command AWX's users know, over ``PIPELINE_COLLECTOR``.

``--dry-run`` (the default) collects and keeps the archives, printing their
paths; ``--ship`` sends them and saves the bookkeeping.  The exit code is
the ``pipeline-collector`` command's: 0 ok, 1 partial or failed, 2 bad
usage or settings, 3 another run holds the lock, 4 gated off, 6 the state
cannot be read or written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ....cli.exits import EXIT_FOR, EXIT_PARTIAL, exit_for_error
from ....cli.options import parse_keys, parse_when
from ....cli.report import report_table, run_json, summary_line
from ....errors import ConfigurationError, PipelineError, describe_exception
from ....records import Mode
from ...run import gather_analytics


class Command(BaseCommand):  # type: ignore[misc]  # Django is untyped here
    """Gather analytics; keep the archives (``--dry-run``) or ship them (``--ship``)."""

    help = (
        "Gather analytics as settings.PIPELINE_COLLECTOR describes; keep the archives"
        " (--dry-run, the default) or ship them and save the bookkeeping (--ship)."
    )

    def add_arguments(self, parser: Any) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="collect and keep the archives; nothing is shipped or saved (the default)",
        )
        mode.add_argument(
            "--ship", action="store_true", help="ship the archives and save the bookkeeping"
        )
        parser.add_argument(
            "--since", type=parse_when, help="start of the window, ISO-8601 with a timezone"
        )
        parser.add_argument(
            "--until", type=parse_when, help="end of the window, ISO-8601 with a timezone"
        )
        parser.add_argument(
            "--subset", type=parse_keys, help="only these collector keys, comma-separated"
        )
        parser.add_argument(
            "--report-json", metavar="PATH", help="write the run's report as JSON to PATH"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mode: Mode = "manual" if options["ship"] else "dry-run"
        try:
            run = gather_analytics(
                mode,
                since=options["since"],
                until=options["until"],
                subset=options["subset"],
            )
        except ConfigurationError as e:
            raise CommandError(str(e), returncode=exit_for_error(e)) from None
        except PipelineError as e:  # a StateError exits 6: a retry meets the same state
            raise CommandError(describe_exception(e), returncode=exit_for_error(e)) from None
        code = EXIT_FOR.get(run.status, EXIT_PARTIAL)
        if options["verbosity"] > 1 and run.plan is not None:
            self.stdout.write(report_table(run))
        self.stdout.write(summary_line(run))
        for archive in run.archives:
            if archive.path.exists():
                self.stdout.write(str(archive.path))
        if options["report_json"]:
            text = json.dumps(run_json(run, code), indent=2) + "\n"
            Path(options["report_json"]).write_text(text, encoding="utf-8")
        if code:
            raise CommandError(f"run {run.status}: {run.reason or run.status}", returncode=code)
