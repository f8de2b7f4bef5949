"""The options of a run, gather's and plan's: the module, the window, the
bookkeeping, the report and the output.

Each record is one option of ``declarations.OPTIONS``; the order is the
order of ``--help``.
"""

from __future__ import annotations

import functools
from typing import Final

from ..config import DEFAULT_PREFIX, HORIZON, MAX_DATA_SIZE, MAX_UPLOAD_SIZE
from .option import ENV_PREFIX, GATHER, PLAN, PREFLIGHT, RUN, Option
from .options import (
    LOG_LEVELS,
    parse_duration,
    parse_keys,
    parse_run_size,
    parse_when,
    positive_float,
)

__all__ = ["OUTPUT_OPTIONS", "RUN_OPTIONS", "STATE_HELP"]

# Shorthands: the commands and the section of --help a run of records shares.
_run = functools.partial(Option, commands=GATHER, group="the run")
_window = functools.partial(Option, commands=RUN, group="the run")
_books = functools.partial(Option, commands=GATHER, group="bookkeeping and gating")
_report = functools.partial(Option, commands=GATHER, group="report")
_output = functools.partial(Option, commands=RUN | PREFLIGHT, group="output")

STATE_HELP: Final = (
    "bookkeeping: a JSON file, sqlite:///PATH or postgresql://HOST/DB;"
    " #NAME at the end keeps a tenant's state apart in a shared store"
)
_LEVEL_HELP = "lowest level of log events shown (default: {})"

RUN_OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        name="module",
        commands=GATHER,
        kind="positional",
        nargs="?",
        metavar="MODULE",
        env=ENV_PREFIX + "MODULE",
        help="collector module: an import path (mypackage.collectors) or a file (mycollectors.py)",
    ),
    Option(
        name="module",
        commands=PLAN,
        kind="positional",
        nargs="?",
        metavar="MODULE",
        env=ENV_PREFIX + "MODULE",
        help="collector module (as for gather)",
    ),
    Option(
        name="config",
        commands=RUN,
        metavar="FILE.toml",
        in_file=False,
        help="read settings from a TOML file",
    ),
    _run(
        name="mode",
        choices=("dry-run", "manual", "scheduled"),
        help="dry-run keeps the archives and ships nothing (default); manual and scheduled"
        " ship and save progress (scheduled logs skips quietly)",
    ),
    _window(
        name="since",
        parse=parse_when,
        metavar="ISO",
        help="start of the window, with a timezone (default: where each collector left off)",
    ),
    _window(
        name="until",
        parse=parse_when,
        metavar="ISO",
        help="end of the window, excluded (default: now)",
    ),
    _window(
        name="horizon",
        parse=parse_duration,
        metavar="DURATION",
        help=f"how far back a run may reach: days, or 4w, 12h (default {HORIZON.days} days)",
    ),
    _window(
        name="subset",
        kind="extend",
        parse=parse_keys,
        metavar="KEY,KEY",
        help="collect only these keys (the config collector always runs; repeatable)",
    ),
    _run(
        name="max-data-size",
        parse=parse_run_size,
        metavar="SIZE",
        help="largest uncompressed CSV part and archive content"
        f" (default {MAX_DATA_SIZE // 2**20}MiB)",
    ),
    _run(
        name="max-upload-size",
        parse=parse_run_size,
        metavar="SIZE",
        help=f"largest compressed archive (default {MAX_UPLOAD_SIZE // 2**20}MiB,"
        " the ingress limit)",
    ),
    _run(
        name="workdir",
        metavar="DIR",
        help="folder for temporary files and kept archives (default: a new temporary folder)",
    ),
    _run(
        name="prefix",
        metavar="NAME",
        help=f"archive names start with it (default {DEFAULT_PREFIX})",
    ),
    _run(
        name="preflight",
        kind="flag",
        help="before collecting, prove the destination takes an upload (a test upload that"
        " stores nothing, as the preflight command sends); stop if it does not",
    ),
    _run(
        name="task-timeout",
        parse=positive_float,
        metavar="SECONDS",
        help="a task running longer fails by name and ends the run, releasing the lock"
        " (default: no limit)",
    ),
    _books(name="state", metavar="FILE|URL", help=STATE_HELP),
    _window(name="state", commands=PLAN, metavar="FILE|URL", help=STATE_HELP),
    _books(
        name="lock",
        metavar="FILE|URL",
        help="one run at a time: a lock file, or postgresql://HOST/DB for an advisory lock"
        " (default: a file in the temporary folder when shipping)",
    ),
    _books(
        name="lock-name", metavar="NAME", help="advisory lock name (default gather_analytics_lock)"
    ),
    _books(
        name="lock-scheme",
        choices=("sha512", "crc32", "hashtext"),
        help="how the advisory lock name becomes a key (default sha512)",
    ),
    _books(
        name="is-licensed",
        metavar="MODULE:FUNC",
        help="a function returning whether the run is licensed; false gates the run off",
    ),
    _books(
        name="is-shipping-configured",
        metavar="MODULE:FUNC",
        help="a function returning whether shipping is configured; false gates the run off",
    ),
)

OUTPUT_OPTIONS: Final[tuple[Option, ...]] = (
    _report(
        name="report-json",
        metavar="FILE",
        help="write the run report (collections, archives, shipments, state, status) as"
        " JSON; - for stdout",
    ),
    _report(
        name="metrics-file",
        metavar="FILE.prom",
        help="write the run's figures in the Prometheus text format, replacing FILE"
        " atomically (for node_exporter's textfile collector)",
    ),
    _report(
        name="progress",
        choices=("auto", "line", "events", "off"),
        help="live status line, periodic 'progress' log events, or none"
        " (default auto: a line on a terminal, else events)",
    ),
    _report(
        name="progress-interval",
        parse=positive_float,
        metavar="SECONDS",
        help="seconds between 'progress' events off a terminal (default 10; 0: only at the end)",
    ),
    Option(name="json", commands=PLAN, kind="flag", help="print the plan as JSON"),
    _output(
        name="verbose",
        short="-v",
        kind="count",
        help="show more log events: -v info, -vv debug",
    ),
    _output(
        name="log-level",
        commands=GATHER,
        choices=tuple(LOG_LEVELS),
        help=_LEVEL_HELP.format("warning on a terminal, else info"),
    ),
    _output(
        name="log-level",
        commands=PLAN | PREFLIGHT,
        choices=tuple(LOG_LEVELS),
        help=_LEVEL_HELP.format("warning"),
    ),
    _output(
        name="log-format",
        choices=("auto", "console", "json"),
        help="console lines or JSON lines on stderr (default auto: console on a terminal)",
    ),
)
