"""Every option of the command, declared once, as data.

``OPTIONS`` is the one list: ``parser.py`` builds the argparse parser from
it and ``config.py`` maps config-file keys onto it, so an option's name,
type, default and help are written in one place and nothing reads argparse's
insides.  The order is the order of ``--help``; an option a command takes
with another help or section is a second record for that command.

Reading ``PIPELINE_COLLECTOR_<OPTION>`` from the environment is meant to be
a few lines in ``config.settings``: each record names its variable (``env``,
None where that name is taken), and the precedence would be the command
line, then the environment, then the file, then the defaults.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any, Final, Literal

import attrs

from ..limits import MAX_DATA_SIZE, MAX_UPLOAD_SIZE
from .options import (
    LOG_LEVELS,
    count,
    parse_compressors,
    parse_duration,
    parse_header,
    parse_keys,
    parse_size,
    parse_when,
    positive_float,
)
from .secrets import ENV_CLIENT_SECRET, ENV_IDENTITY, ENV_PASSWORD, ENV_PROXY

__all__ = [
    "FILE_COMMAND",
    "OPTIONS",
    "SECRET_ENV",
    "UNSET",
    "Kind",
    "Option",
    "options_of",
]

Kind = Literal["value", "flag", "count", "append", "extend", "positional"]
"""``value`` takes one value; ``flag`` is true when given; ``count`` counts
uses (``-vv``); ``append`` keeps each use's value; ``extend`` joins the
lists each use gives (``KEY,KEY``); ``positional`` is an argument, no flag."""

UNSET: Final = argparse.SUPPRESS
"""The default of an option absent from the settings unless given."""

ENV_PREFIX: Final = "PIPELINE_COLLECTOR_"

# The config file holds a run's settings, gather's; plan reads the same file
# and passes over the settings it has no use for.
FILE_COMMAND: Final = "gather"

_GATHER = frozenset({"gather"})
_PLAN = frozenset({"plan"})
_RUN = _GATHER | _PLAN
_INSPECT = frozenset({"inspect"})
_BENCH = frozenset({"bench"})
_STATUS = frozenset({"status"})


def _dest(option: Option) -> str:
    return option.name.replace("-", "_")


def _env(option: Option) -> str | None:
    if option.kind == "positional":
        return None
    return ENV_PREFIX + option.name.upper().replace("-", "_")


@attrs.frozen(kw_only=True)
class Option:
    """One option: how it is written, parsed, defaulted, shown and where it may come from."""

    name: str  # the long option without dashes, and the config-file key
    commands: frozenset[str]
    help: str = ""
    kind: Kind = "value"
    parse: Callable[[str], Any] = str
    short: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    nargs: str | None = None  # "?": the flag may come alone, meaning ``const``
    const: str | None = None
    default: Any = UNSET
    group: str | None = None  # the section of --help; None: "options"
    dest: str = attrs.field(default=attrs.Factory(_dest, takes_self=True))
    in_file: bool = True  # may be set in the config file
    secret: bool = False  # only from ``env``: no flag, never in the file, redacted
    env: str | None = attrs.field(default=attrs.Factory(_env, takes_self=True))

    @property
    def flag(self) -> bool:
        """Whether the option is a boolean flag (true when given)."""
        return self.kind == "flag"

    @property
    def flags(self) -> tuple[str, ...]:
        """How the option is written on the command line (none for a secret).

        >>> Option(name="verbose", short="-v", kind="count", commands=_RUN).flags
        ('-v', '--verbose')
        """
        if self.kind == "positional" or self.secret:
            return ()
        return (self.short, f"--{self.name}") if self.short else (f"--{self.name}",)


# Shorthands: the commands and the section of --help a run of records shares.
_run = functools.partial(Option, commands=_GATHER, group="the run")
_window = functools.partial(Option, commands=_RUN, group="the run")
_books = functools.partial(Option, commands=_GATHER, group="bookkeeping and gating")
_http = functools.partial(Option, commands=_GATHER, group="destination: an HTTP ingress")
_s3 = functools.partial(Option, commands=_GATHER, group="destination: S3")
_report = functools.partial(Option, commands=_GATHER, group="report")
_output = functools.partial(Option, commands=_RUN, group="output")
_inspect = functools.partial(Option, commands=_INSPECT, in_file=False)
_bench = functools.partial(Option, commands=_BENCH, in_file=False)


def _secret(name: str, env: str, commands: frozenset[str] = _GATHER) -> Option:
    return Option(name=name, env=env, commands=commands, secret=True, in_file=False)


_STATE_HELP = "bookkeeping: a JSON file, sqlite:///PATH or postgresql://HOST/DB"
_LEVEL_HELP = "lowest level of log events shown (default: {})"

OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        name="module",
        commands=_GATHER,
        kind="positional",
        nargs="?",
        metavar="MODULE",
        help="collector module: an import path (mypackage.collectors) or a file (mycollectors.py)",
    ),
    Option(
        name="module",
        commands=_PLAN,
        kind="positional",
        nargs="?",
        metavar="MODULE",
        help="collector module (as for gather)",
    ),
    Option(
        name="config",
        commands=_RUN,
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
        help="how far back a run may reach: days, or 4w, 12h (default 28 days)",
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
        parse=parse_size,
        metavar="SIZE",
        help="largest uncompressed CSV part and archive content (default 200MiB)",
    ),
    _run(
        name="max-upload-size",
        parse=parse_size,
        metavar="SIZE",
        help="largest compressed archive (default 100MiB, the ingress limit)",
    ),
    _run(
        name="workdir",
        metavar="DIR",
        help="folder for temporary files and kept archives (default: a new temporary folder)",
    ),
    _run(name="prefix", metavar="NAME", help="archive names start with it (default analytics)"),
    _books(name="state", metavar="FILE|URL", help=_STATE_HELP),
    _window(name="state", commands=_PLAN, metavar="FILE|URL", help=_STATE_HELP),
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
    Option(
        name="dir",
        commands=_GATHER,
        group="destination: a folder",
        metavar="DIR",
        help="copy archives into DIR/data/YYYY/MM/DD/ (DirectoryTransport)",
    ),
    _http(name="url", metavar="URL", help="upload URL (HttpTransport)"),
    _http(
        name="content-type",
        metavar="TYPE",
        help="the service's registered type, application/vnd.redhat.<service>.<name>+tgz",
    ),
    _http(
        name="user",
        metavar="USER",
        help=f"basic auth user; the password is read from {ENV_PASSWORD}",
    ),
    _http(
        name="cert",
        nargs="?",
        const="/etc/pki/consumer/cert.pem",
        metavar="PEM",
        help="mutual TLS client certificate (given alone: RHSM's /etc/pki/consumer/cert.pem)",
    ),
    _http(name="key", metavar="PEM", help="client key (default RHSM's /etc/pki/consumer/key.pem)"),
    _http(
        name="identity",
        kind="flag",
        env=None,  # PIPELINE_COLLECTOR_IDENTITY is the header itself, a secret
        help=f"send an x-rh-identity header read from {ENV_IDENTITY}",
    ),
    _http(
        name="token-url",
        metavar="URL",
        help=f"OAuth2 token URL; the client secret is read from {ENV_CLIENT_SECRET}",
    ),
    _http(name="client-id", metavar="ID", help="OAuth2 client id (service account)"),
    _http(name="scope", metavar="SCOPE", help="OAuth2 scope to ask for"),
    _http(name="ca-bundle", metavar="PEM", help="verify TLS against this CA bundle (HTTP and S3)"),
    _http(
        name="proxy",
        metavar="URL",
        env=None,  # PIPELINE_COLLECTOR_PROXY is the secret proxy URL, below
        help=f"HTTP(S) proxy without credentials (else {ENV_PROXY})",
    ),
    _http(
        name="header",
        dest="headers",
        kind="append",
        parse=parse_header,
        metavar="NAME=VALUE",
        help="an extra header, e.g. User-Agent=... (repeatable; credentials refused)",
    ),
    _http(
        name="timeout",
        parse=positive_float,
        metavar="SECONDS",
        help="connect and read timeout (default 31)",
    ),
    _http(name="retries", parse=count, metavar="N", help="retries of a failed upload (default 5)"),
    _http(
        name="allow-insecure",
        kind="flag",
        help="allow credentials over plain http:// (local testing only)",
    ),
    _s3(name="s3-bucket", metavar="BUCKET", help="upload to this bucket (S3Transport)"),
    _s3(name="s3-endpoint", metavar="URL", help="an S3-compatible endpoint"),
    _s3(name="s3-region", metavar="REGION", help="the bucket's region"),
    _s3(name="s3-prefix", metavar="PREFIX", help="object key prefix, e.g. tower/"),
    _s3(name="s3-expected-owner", metavar="ACCOUNT", help="refuse a bucket owned by anyone else"),
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
    Option(name="json", commands=_PLAN, kind="flag", help="print the plan as JSON"),
    Option(
        name="config",
        commands=_STATUS,
        metavar="FILE.toml",
        in_file=False,
        help="read --state from a TOML file (gather's)",
    ),
    Option(name="state", commands=_STATUS, metavar="FILE|URL", help=_STATE_HELP),
    Option(
        name="max-lag",
        commands=_STATUS,
        parse=parse_duration,
        metavar="DURATION",
        help="exit 1 when a key's shipped data is further behind now than this: days, or"
        " 2d, 12h (a key that failed and never shipped is behind too)",
    ),
    Option(
        name="json",
        commands=_STATUS,
        kind="flag",
        help="print the status as JSON (the default off a terminal)",
    ),
    _output(
        name="verbose",
        short="-v",
        kind="count",
        help="show more log events: -v info, -vv debug",
    ),
    _output(
        name="log-level",
        commands=_GATHER,
        choices=tuple(LOG_LEVELS),
        help=_LEVEL_HELP.format("warning on a terminal, else info"),
    ),
    _output(
        name="log-level",
        commands=_PLAN,
        choices=tuple(LOG_LEVELS),
        help=_LEVEL_HELP.format("warning"),
    ),
    _output(
        name="log-format",
        choices=("auto", "console", "json"),
        help="console lines or JSON lines on stderr (default auto: console on a terminal)",
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
        parse=parse_size,
        default=MAX_DATA_SIZE,
        metavar="SIZE",
        help="largest uncompressed CSV part (default 200MiB)",
    ),
    _bench(
        name="max-upload-size",
        parse=parse_size,
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
    # Secrets: read only from the environment (by the command, boto3 or libpq).
    _secret("password", ENV_PASSWORD),
    _secret("identity-header", ENV_IDENTITY),
    _secret("client-secret", ENV_CLIENT_SECRET),
    _secret("proxy-url", ENV_PROXY),
    _secret("aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"),
    _secret("aws-session-token", "AWS_SESSION_TOKEN"),
    _secret("pgpassword", "PGPASSWORD", _RUN),
)

# Every variable whose value is cut out of what the command writes.
SECRET_ENV: Final = tuple(o.env for o in OPTIONS if o.secret and o.env)


def options_of(command: str) -> tuple[Option, ...]:
    """The options ``command`` takes, in the order of its ``--help``.

    >>> [o.name for o in options_of("inspect")]
    ['archives', 'max-upload-size', 'max-data-size', 'json']
    """
    return tuple(o for o in OPTIONS if command in o.commands)
