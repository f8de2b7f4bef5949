"""The argparse parser, built from the declarations, and the help texts.

Only how the command line reads and what ``--help`` says live here: every
option comes from ``declarations.OPTIONS``; the work is in ``commands``.
A bad command line gets the command's one usage line, the error and where
to read more, not the whole option list.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import NoReturn

from ..tools.checks import STATUS_HEADER
from .declarations import ENV_CONFIG, SETTINGS_COMMANDS, Option, options_of
from .exit_help import EXIT_CODES, STATE_EXIT, USAGE_EXIT, exit_codes
from .exits import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STATE,
    EXIT_USAGE,
)
from .links import DOCS
from .secrets import ENV_CLIENT_SECRET, ENV_IDENTITY, ENV_PASSWORD, ENV_PROXY

__all__ = ["EXIT_CODES", "build_parser", "environment", "exit_codes", "parse_args"]


_DESCRIPTION = """\
Collect a service's analytics with its collector module, cut them into
size-limited parts, pack them into .tar.gz archives and ship them, keeping
bookkeeping of what was sent."""


def environment(command: str) -> str:
    """How ``command`` reads the environment, naming only the list options it has."""
    names = {o.name for o in options_of(command)}
    lists = [
        note
        for name, note in (
            ("subset", "--subset takes KEY,KEY"),
            ("retired", "--retired takes KEY,KEY"),
            ("header", "--header takes one NAME=VALUE per line"),
        )
        if name in names
    ]
    text = (
        "Every option shown with [env NAME] can also be set by that environment"
        f" variable, and the config file by {ENV_CONFIG}. The command line wins over"
        " the environment, the environment over the config file, and the config file"
        " over the defaults. Booleans are 1/0, true/false or yes/no; "
        + "".join(f"{note}; " for note in lists)
        + "an empty variable is unset. A PIPELINE_COLLECTOR_ variable the command"
        " does not know is named in a warning."
    )
    return textwrap.fill(text, 76)


_MAIN_EPILOG = f"""\
examples:
  pipeline-collector demo --dir demo/
  pipeline-collector init mycollectors.py
  pipeline-collector plan mycollectors.py --state state.json
  pipeline-collector gather mycollectors.py --mode manual \\
      --state state.json --dir out/
  pipeline-collector inspect out/data/*/*/*/*.tar.gz
  pipeline-collector preflight --dir out/
  pipeline-collector status --state state.json --max-lag 2d
  pipeline-collector ingress --port 8080 --dir received/
  pipeline-collector bench --csv job_events.csv --compressor zlib-ng:5,zlib:9

Run 'pipeline-collector COMMAND --help' for a command's options; 'demo' runs
the pipeline over a database it builds, and 'init' writes a collector module
over the same data, with nothing else to install. Docs:
{DOCS}

gather's {EXIT_CODES}
(each command's --help lists the codes it ends with)"""

_GATHER_EPILOG = f"""\
Windows are half-open, [since, until). Datetimes need a timezone
(2026-11-01T00:00:00Z). Sizes are bytes or take a unit: 50MiB and 100M are
binary (x1024), 100MB is decimal (x1000). Secrets are read only from the
environment, never from options or the config file:

  {ENV_PASSWORD}       password for --user
  {ENV_IDENTITY}       x-rh-identity header value for --identity
  {ENV_CLIENT_SECRET}  OAuth2 client secret for --client-id
  {ENV_PROXY}          proxy URL with credentials (instead of --proxy)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   for S3
  PGPASSWORD                        for postgresql:// state and lock

--config FILE.toml holds the same settings by their long option names
(module = "...", mode = "manual", max-data-size = "50MiB",
header = {{"User-Agent" = "..."}}).

{environment("gather")}

examples:
  # build the archives and keep them, ship nothing
  pipeline-collector gather mycollectors.py --workdir /tmp/out

  # ship to a folder, keep bookkeeping in a JSON file (an import path works too)
  pipeline-collector gather mypackage.collectors --mode manual \\
      --state state.json --lock run.lock --dir shipped/

  # ship to an ingress with basic auth
  export {ENV_PASSWORD}=...
  pipeline-collector gather mycollectors.py --mode scheduled \\
      --state sqlite:///state.db --url https://ingress.example.com/api/ingress/v1/upload \\
      --content-type application/vnd.redhat.tower.analytics+tgz --user me

  # ship to S3 (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
  pipeline-collector gather mycollectors.py --mode manual --state state.json \\
      --s3-bucket analytics --s3-prefix tower/

On a terminal a live status line shows the progress and a table per
collection ends the run; otherwise logs are JSON lines on stderr with a
'progress' event every --progress-interval seconds. In a dry run the paths
of the archives kept are printed on stdout.

{EXIT_CODES}"""

_PLAN_EPILOG = f"""\
The collection window, what the state says (last_gather and the entry of
each key), and every collector and slicer window a run would collect, in
order, with full-sync flags. Slicers are called; collectors are not.

examples:
  pipeline-collector plan mycollectors.py --state state.json
  pipeline-collector plan mypackage.collectors --since 2026-11-20T00:00:00Z --json
  pipeline-collector plan --config collector.toml

{environment("plan")}

{
    exit_codes(
        (EXIT_OK, "the plan was made"),
        (EXIT_PARTIAL, "a slicer failed (its key is listed as a problem)"),
        USAGE_EXIT,
        STATE_EXIT,
    )
}"""

_INSPECT_EPILOG = f"""\
Checks each archive against the contract: required members ./config.json,
./manifest.json and ./data_collection_status.csv; the manifest lists exactly
the other members with MAJOR.MINOR versions; the status CSV header is
{",".join(STATUS_HEADER)} and its rows
name members or failed collections; member names are ./<key>.json or
./<key>.csv, each once; JSON members parse; the compressed size is within
--max-upload-size and each data CSV within --max-data-size.

examples:
  pipeline-collector inspect analytics-2026-11-27-000000+0000-0.tar.gz
  pipeline-collector inspect --max-data-size 200MiB --json out/*.tar.gz

exit codes:
  {EXIT_OK}  every archive meets the contract
  {EXIT_PARTIAL}  an archive does not (each problem is printed)
  {EXIT_USAGE}  bad usage"""


_BENCH_EPILOG = f"""\
Runs the data through chunking and packing (a dry run: nothing shipped, no
state touched, archives in a temporary folder, removed) once per compressor,
and prints rows/s, MiB/s, the compression ratio, parts, archives and how
full they are against --max-upload-size, and the peak resident memory. Times
are this machine's as it is: run it on a quiet machine, more than once.

examples:
  pipeline-collector bench --csv job_events.csv --max-data-size 50MiB \\
      --compressor zlib-ng:5,zlib-ng:6,zlib:9,isal:1
  pipeline-collector bench mycollectors.py --key job_events \\
      --since 2026-11-01T00:00:00Z --until 2026-11-02T00:00:00Z --json

exit codes:
  {EXIT_OK}  measured
  {EXIT_PARTIAL}  the collector failed
  {EXIT_USAGE}  bad usage (no source, unknown compressor or key)"""
_STATUS_EPILOG = f"""\
Per key: the end of the last window that reached the destination, its lag
behind now, its last full sync and its last failure (when, which window,
why); then the recent runs (the state keeps the last 50). A table on a
terminal, JSON otherwise (or with --json).

examples:
  pipeline-collector status --state state.json
  pipeline-collector status --state sqlite:///state.db --max-lag 2d --json
  pipeline-collector status --config collector.toml --max-lag 36h

{environment("status")}

{
    exit_codes(
        (EXIT_OK, "no key is behind --max-lag (or no --max-lag was given)"),
        (EXIT_PARTIAL, "a key is behind --max-lag, or failed and never shipped"),
        (EXIT_USAGE, "bad usage"),
        (
            EXIT_STATE,
            "the state cannot be read (a corrupt or unreadable file, a database out of reach)",
        ),
    )
}"""


_PREFLIGHT_EPILOG = f"""\
Proves, before anything is collected, that the destination takes an upload
and stores nothing there. An ingress gets a test upload (a form field
test=test, which it answers 200 with a request id and stages nothing): the
answer proves the host is reached, through the proxy, over verified TLS,
with credentials it accepts (an OAuth2 token is fetched first), and the
content type is checked against application/vnd.redhat.<service>.<category>+tgz
(the ingress answers 415 otherwise). A folder is probed with a file made
and removed at once; an S3 bucket with head_bucket. The destination's
options, their variables and the config file are gather's; secrets come
from the environment only. gather --preflight runs the same check first.

examples:
  pipeline-collector preflight --dir shipped/
  pipeline-collector preflight --url https://console.redhat.com/api/ingress/v1/upload \\
      --content-type application/vnd.redhat.tower.analytics+tgz --user rh-user
  pipeline-collector preflight --s3-bucket analytics --s3-prefix tower/ --json

{environment("preflight")}

{
    exit_codes(
        (EXIT_OK, "the destination takes an upload"),
        (EXIT_PARTIAL, "it did not answer, or answered 5xx or 429: a later try may pass"),
        (EXIT_USAGE, "bad usage, or it refused: TLS, credentials, URL or content type"),
    )
}"""

_FORMATTER = argparse.RawDescriptionHelpFormatter

# Each command: its line in the command list, its description, its epilog.
_COMMANDS = {
    "gather": (
        "collect, pack and ship (or keep, in a dry run) the archives",
        "Run the pipeline over a collector module: discover, plan, collect,\n"
        "chunk, archive and ship.",
        _GATHER_EPILOG,
    ),
    "plan": (
        "show the window, the state and every window a run would collect",
        "Show what a run would collect, without calling any collector.",
        _PLAN_EPILOG,
    ),
    "inspect": (
        "list archives' members and check them against the contract",
        "List each archive's members with their sizes and sha256, and check\n"
        "it against the archive contract.",
        _INSPECT_EPILOG,
    ),
    "bench": (
        "measure chunking and packing on your own data, per compressor",
        "Benchmark chunking on a CSV file, or on one collector of a module over\n"
        "a window, for the sizes and compressors given.",
        _BENCH_EPILOG,
    ),
    "preflight": (
        "prove the destination takes an upload, storing nothing there",
        "Ask the destination whether it takes an upload, before anything is\n"
        "collected: a folder, an HTTP ingress or an S3 bucket, as gather names it.",
        _PREFLIGHT_EPILOG,
    ),
    "status": (
        "show what shipped, how far behind each key is, and what failed last",
        "Show, from the state, where each collector key stands and the recent runs.",
        _STATUS_EPILOG,
    ),
}


AddArgument = Callable[..., argparse.Action]


class _Parser(argparse.ArgumentParser):
    """A parser whose errors are three lines: the usage, the error, where to read more."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {message}\nRun '{self.prog} --help' to see every option.\n",
        )


def _usage(command: str) -> str:
    """The command's one usage line: its arguments, and [OPTIONS] for the rest."""
    words = [f"pipeline-collector {command} [OPTIONS]"]
    for option in options_of(command):
        if option.kind == "positional":
            name = option.metavar or option.dest
            words.append(f"[{name}]" if option.nargs == "?" else f"{name} [{name} ...]")
    return " ".join(words)


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from .. import __version__

    parser = _Parser(
        prog="pipeline-collector",
        description=_DESCRIPTION,
        epilog=_MAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands: dict[str, argparse.ArgumentParser] = {}
    for command, (summary, description, epilog) in _COMMANDS.items():
        commands[command] = sub.add_parser(
            command,
            help=summary,
            usage=_usage(command),
            description=description,
            epilog=epilog,
            formatter_class=_FORMATTER,
            argument_default=argparse.SUPPRESS if command in SETTINGS_COMMANDS else None,
        )
        _add_options(commands[command], command)
    sub.add_parser(
        "ingress",
        help="run a local ingress that accepts uploads like the cloud's (see ingress --help)",
        add_help=False,
    )
    sub.add_parser(
        "init",
        help="write a small, commented collector module to start from (see init --help)",
        add_help=False,
    )
    sub.add_parser(
        "demo",
        help="run the pipeline over a demo database it builds; ship to a folder or a local"
        " ingress (see demo --help)",
        add_help=False,
    )
    return parser, commands


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, for ``main`` and for documentation."""
    return _build()[0]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line; a bad one ends with the command's short usage (exit 2)."""
    parser, commands = _build()
    args, extra = parser.parse_known_args(list(argv))
    if extra:
        commands[args.command].error("unrecognized arguments: " + " ".join(extra))
    return args


def _add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Each option ``command`` takes, in its section of the help, in declaration order."""
    sections: dict[str | None, AddArgument] = {None: parser.add_argument}
    for option in options_of(command):
        if option.secret:
            continue  # never on a command line
        if option.group not in sections:
            sections[option.group] = parser.add_argument_group(option.group).add_argument
        _add(sections[option.group], option, command)


def _add(add_argument: AddArgument, option: Option, command: str) -> None:
    """One declared option, in argparse's words, with its variable in its help."""
    shown = f"{option.help} [env {option.env}]" if option.reads_env(command) else option.help
    settings: dict[str, object] = {"help": shown, "default": option.default}
    if option.kind in ("flag", "count"):
        settings["action"] = "store_true" if option.flag else "count"
    else:
        if option.kind in ("append", "extend"):
            settings["action"] = option.kind
        if option.parse is not str:
            settings["type"] = option.parse
        for name in ("metavar", "choices", "nargs", "const"):
            if getattr(option, name) is not None:
                settings[name] = getattr(option, name)
    if option.kind == "positional":
        add_argument(option.dest, **settings)
    else:
        add_argument(*option.flags, dest=option.dest, **settings)
