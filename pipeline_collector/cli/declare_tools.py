"""The options of status, inspect and bench, and the secrets.

Each record is one option of ``declarations.OPTIONS``; the order is the
order of ``--help``.  Secrets are records too, so that every variable the
command reads is named here, but they have no flag and no config-file key.
"""

from __future__ import annotations

import functools
from typing import Final

from ..config import MAX_DATA_SIZE, MAX_UPLOAD_SIZE
from .declare_run import STATE_HELP
from .option import BENCH, INSPECT, PREFLIGHT, RUN, SHIP, STATUS, Option
from .options import (
    parse_compressors,
    parse_duration,
    parse_keys,
    parse_run_size,
    parse_size,
    parse_when,
)
from .secrets import ENV_CLIENT_SECRET, ENV_IDENTITY, ENV_PASSWORD, ENV_PROXY

__all__ = ["SECRET_OPTIONS", "TOOL_OPTIONS"]

_inspect = functools.partial(Option, commands=INSPECT, in_file=False)
_bench = functools.partial(Option, commands=BENCH, in_file=False)


def _secret(name: str, env: str, commands: frozenset[str] = SHIP) -> Option:
    return Option(name=name, env=env, commands=commands, secret=True, in_file=False)


TOOL_OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        name="config",
        commands=STATUS,
        metavar="FILE.toml",
        in_file=False,
        help="read --state from a TOML file (gather's)",
    ),
    Option(name="state", commands=STATUS, metavar="FILE|URL", help=STATE_HELP),
    Option(
        name="max-lag",
        commands=STATUS,
        parse=parse_duration,
        metavar="DURATION",
        help="exit 1 when a key's shipped data is further behind now than this: days, or"
        " 2d, 12h (a key that failed and never shipped is behind too)",
    ),
    Option(
        name="retired",
        commands=STATUS,
        kind="extend",
        parse=parse_keys,
        metavar="KEY,KEY",
        help="keys whose collectors were removed: shown as retired, never behind (repeatable)",
    ),
    Option(
        name="json",
        commands=STATUS,
        kind="flag",
        help="print the status as JSON (the default off a terminal)",
    ),
    # inspect reads no settings: its options only take the command line.
    _inspect(
        name="archives", kind="positional", nargs="+", metavar="ARCHIVE", help=".tar.gz files"
    ),
    _inspect(
        name="max-upload-size",
        parse=parse_size,
        default=MAX_UPLOAD_SIZE,
        metavar="SIZE",
        help="largest compressed size allowed (default 100MiB)",
    ),
    _inspect(
        name="max-data-size",
        parse=parse_size,
        default=None,
        metavar="SIZE",
        help="largest uncompressed data CSV member allowed (default: not checked)",
    ),
    _inspect(name="json", kind="flag", default=False, help="print the reports as JSON"),
    # bench reads no settings either: the command line only.
    _bench(
        name="module",
        kind="positional",
        nargs="?",
        metavar="MODULE",
        help="collector module (as for gather); with --key, collect that key over the window",
    ),
    _bench(name="csv", metavar="FILE", help="a CSV file (header first) instead of a module"),
    _bench(name="key", metavar="KEY", help="the collector to run (the CSV's name with --csv)"),
    _bench(
        name="since", parse=parse_when, metavar="ISO", help="start of the window, with a timezone"
    ),
    _bench(name="until", parse=parse_when, metavar="ISO", help="end of the window (default: now)"),
    _bench(
        name="max-data-size",
        parse=parse_run_size,
        default=MAX_DATA_SIZE,
        metavar="SIZE",
        help="largest uncompressed CSV part (default 200MiB)",
    ),
    _bench(
        name="max-upload-size",
        parse=parse_run_size,
        default=MAX_UPLOAD_SIZE,
        metavar="SIZE",
        help="largest compressed archive (default 100MiB)",
    ),
    _bench(
        name="compressor",
        dest="compressors",
        kind="extend",
        parse=parse_compressors,
        default=None,
        metavar="NAME:LEVEL,...",
        help="compressors to compare, e.g. zlib-ng:5,zlib:9,isal:1 (repeatable; default: the"
        " default compressor)",
    ),
    _bench(name="json", kind="flag", default=False, help="print the results as JSON"),
)

SECRET_OPTIONS: Final[tuple[Option, ...]] = (
    # Secrets: read only from the environment (by the command, boto3 or libpq).
    _secret("password", ENV_PASSWORD),
    _secret("identity-header", ENV_IDENTITY),
    _secret("client-secret", ENV_CLIENT_SECRET),
    _secret("proxy-url", ENV_PROXY),
    _secret("aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"),
    _secret("aws-session-token", "AWS_SESSION_TOKEN"),
    _secret("pgpassword", "PGPASSWORD", RUN),
    # preflight: the destination's options (declare_ship), its config file and its output.
    Option(
        name="config",
        commands=PREFLIGHT,
        metavar="FILE.toml",
        in_file=False,
        help="read the destination's settings from a TOML file (gather's)",
    ),
    Option(
        name="json",
        commands=PREFLIGHT,
        kind="flag",
        help="print the verdict as JSON",
    ),
)
