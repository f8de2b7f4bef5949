"""The ``pipeline-collector`` command: gather, plan, inspect, ingress.

Everything the command does is the library's public functions with options
turned into arguments: ``gather`` runs ``pipeline_collector.gather``,
``plan`` runs ``discover`` and ``plan`` (slicers are called, collectors are
not), ``inspect`` checks archives against the contract with
``check_archive``, and ``ingress`` runs the local ingress.

Secrets come only from the environment, are refused in the config file and
in URLs, and are cut out of everything the command writes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import attrs
import structlog

from ..checks import STATUS_HEADER, ArchiveReport, inspect_archive
from ..discover import discover
from ..errors import ConfigurationError, PipelineError
from ..gather import MAX_DATA_SIZE, MAX_UPLOAD_SIZE, gather
from ..plan import HORIZON, plan
from ..protocols import StateStore
from ..records import Mode, Plan, State
from ..units import human_bytes
from .console import Console, live, make_console, routed_logs
from .effects import build_lock, build_store, build_transport, flag
from .exits import (
    EXIT_FOR,
    EXIT_GATED,
    EXIT_LOCK_HELD,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    UsageError,
)
from .loading import collector_module, load_callable
from .options import (
    LOG_LEVELS,
    aware,
    count,
    parse_duration,
    parse_header,
    parse_keys,
    parse_size,
    parse_when,
    positive_float,
)
from .report import iso, plan_json, report_table, run_json, state_json, summary_line
from .secrets import (
    ENV_CLIENT_SECRET,
    ENV_IDENTITY,
    ENV_PASSWORD,
    ENV_PROXY,
    is_secret_key,
    redactor_from_env,
)

__all__ = ["main"]

_SECRET_ENV = (
    ENV_PASSWORD,
    ENV_IDENTITY,
    ENV_CLIENT_SECRET,
    ENV_PROXY,
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PGPASSWORD",
)

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_PARTIAL}  partial failure: a collection, an upload or the bookkeeping failed
  {EXIT_USAGE}  bad configuration or usage (options, config file, module, collectors)
  {EXIT_LOCK_HELD}  another run holds the lock; nothing was done
  {EXIT_GATED}  gated off (--is-licensed or --is-shipping-configured said no)"""


# -- the config file -----------------------------------------------------------


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # Python 3.10
        import tomli  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise UsageError(
            "reading a config file on Python 3.10 needs tomli: pip install tomli"
        ) from None
    return tomli


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML config file into ``{option name: value}``.

    Keys are the long option names (``max-data-size`` or ``max_data_size``).
    Secrets are refused: they belong in environment variables.
    """
    tomllib = _toml()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path} is not valid TOML: {e}") from None
    settings: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-").lower()
        if is_secret_key(key):
            raise UsageError(
                f"config file {path}: {raw_key!r} is a secret and is refused in a config file;"
                f" set it in the environment ({ENV_PASSWORD}, {ENV_CLIENT_SECRET},"
                f" {ENV_IDENTITY}, AWS_SECRET_ACCESS_KEY)"
            )
        settings[key] = value
    return settings


def _option_map(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.dest not in ("help", "config"):
            found[longs[0][2:]] = action
    return found


def _toml_list(key: str, value: Any) -> list[str] | None:
    if key == "header" and isinstance(value, dict):
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _from_toml(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    """Check and convert one config value the way the option would be."""

    def fail(expected: str) -> UsageError:
        # The value is not shown: it may be a secret put in the wrong place.
        return UsageError(
            f"config file {where}: {key} must be {expected}, not a {type(value).__name__}"
        )

    if isinstance(action, argparse._StoreTrueAction | argparse._CountAction):
        if key == "identity" and isinstance(value, str):
            raise UsageError(
                f"config file {where}: the identity header is a secret; set {ENV_IDENTITY}"
                " and write identity = true"
            )
        flag = isinstance(action, argparse._StoreTrueAction)
        if flag != isinstance(value, bool) or not isinstance(value, int):
            raise fail("true or false" if flag else "a whole number")
        return value
    convert: Callable[[str], Any] = action.type or str  # type: ignore[assignment]
    converted: Any
    try:
        if isinstance(action, argparse._AppendAction):  # append and extend
            items = _toml_list(key, value)
            if items is None:
                raise fail("a string or a list of strings")
            converted = [convert(item) for item in items]
            if convert is parse_keys:
                converted = [k for keys in converted for k in keys]
        elif convert is parse_when and isinstance(value, datetime):
            converted = aware(value, str(value))
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (convert in (parse_size, positive_float, count))
        ):
            converted = convert(str(value))
        elif isinstance(value, str):
            converted = convert(value)
        else:
            raise fail("a string")
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"config file {where}: {key}: {e}") from None
    if action.choices is not None and converted not in action.choices:
        raise fail("one of " + ", ".join(map(str, action.choices)))
    return converted


def _settings(
    args: argparse.Namespace, parser: argparse.ArgumentParser, everything: Sequence[str]
) -> dict[str, Any]:
    """The options in force: the command line over the config file."""
    given = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    path = given.pop("config", None)
    if path is None:
        return given
    options = _option_map(parser)
    merged: dict[str, Any] = {}
    for key, value in load_config(path).items():
        if key == "module" and "module" in {a.dest for a in parser._actions}:
            if not isinstance(value, str):
                raise UsageError(f"config file {path}: module must be a string")
            merged["module"] = value
            continue
        action = options.get(key)
        if action is None:
            if key in everything or key == "module":
                continue  # meant for another command
            known = ", ".join(sorted({*options, "module"}))
            raise UsageError(f"config file {path}: unknown setting {key!r}; known: {known}")
        merged[action.dest] = _from_toml(action, key, value, str(path))
    merged.update({k: v for k, v in given.items() if v is not None})
    return merged


# -- gather ------------------------------------------------------------------------------


def cmd_gather(args: argparse.Namespace) -> int:
    """Run the pipeline once and report on it."""
    env = os.environ
    redactor = redactor_from_env(env, _SECRET_ENV)
    try:
        o = _settings(args, args._parser, args._everything)
    except UsageError as e:
        return make_console({}, redactor).error(str(e), EXIT_USAGE)
    console = make_console(o, redactor)
    with routed_logs(console, with_progress=True):
        try:
            return _gather(o, console, env)
        except UsageError as e:
            return console.error(str(e), EXIT_USAGE)
        except ConfigurationError as e:
            return console.error(str(e), EXIT_USAGE)
        except PipelineError as e:
            return console.error(f"{type(e).__name__}: {e}", EXIT_PARTIAL)


def _gather(o: Mapping[str, Any], console: Console, env: Mapping[str, str]) -> int:
    mode = cast(Mode, o.get("mode") or "dry-run")
    module, subset = collector_module(o)
    if console.progress is not None:
        console.progress.config_key = discover(module)[0].key
    transport, destination = build_transport(o, env, console.redact)
    store = build_store(o.get("state"))
    lock = build_lock(o.get("lock"), o.get("lock_name"), o.get("lock_scheme"))
    if (o.get("lock_name") or o.get("lock_scheme")) and not str(o.get("lock", "")).startswith(
        "postgres"
    ):
        raise UsageError("--lock-name and --lock-scheme go with --lock postgresql://...")
    if mode != "dry-run":
        if transport is None:
            raise UsageError(
                f"--mode {mode} ships archives: give a destination (--dir, --url or --s3-bucket)"
            )
        if store is None:
            raise UsageError(f"--mode {mode} keeps bookkeeping: give --state FILE")
    elif transport is not None:
        structlog.get_logger("pipeline_collector.cli").warning(
            "run.dry", reason=f"dry run: nothing is sent to {destination}; use --mode manual"
        )
    checks = {
        name: load_callable(o[name], flag(name))
        for name in ("is_licensed", "is_shipping_configured")
        if o.get(name)
    }
    own_workdir = o.get("workdir") is None
    workdir = (
        Path(o["workdir"])
        if not own_workdir
        else Path(tempfile.mkdtemp(prefix="pipeline-collector-"))
    )
    started = time.monotonic()
    try:
        with live(console):
            run = gather(
                module,
                state=store,
                transport=transport,
                lock=lock,
                mode=mode,
                since=o.get("since"),
                until=o.get("until"),
                subset=subset,
                max_data_size=o.get("max_data_size") or MAX_DATA_SIZE,
                max_upload_size=o.get("max_upload_size") or MAX_UPLOAD_SIZE,
                horizon=o.get("horizon") or HORIZON,
                workdir=workdir,
                prefix=o.get("prefix") or "analytics",
                is_licensed=checks.get("is_licensed"),
                is_shipping_configured=checks.get("is_shipping_configured"),
            )
    finally:
        close = getattr(transport, "close", None)
        if callable(close):
            close()
        if own_workdir and (mode != "dry-run" or not any(workdir.iterdir())):
            shutil.rmtree(workdir, ignore_errors=True)
    code = EXIT_FOR.get(run.status, EXIT_PARTIAL)
    if console.screen is not None:
        console.screen.clear()
        console.screen = None
    if console.terminal and run.plan is not None:
        console.line(report_table(run))
    if console.terminal:
        console.line(summary_line(run, time.monotonic() - started))
    report = o.get("report_json")
    if report != "-":  # else the report on stdout lists them
        for a in run.archives:
            if a.path.exists():
                console.out(str(a.path))
    if report:
        text = console.redact(json.dumps(run_json(run, code), indent=2)) + "\n"
        if report == "-":
            console.stdout.write(text)
            console.stdout.flush()
        else:
            Path(report).write_text(text, encoding="utf-8")
    return code


# -- plan ---------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    """Show what a run would collect, without collecting."""
    redactor = redactor_from_env(os.environ, _SECRET_ENV)
    try:
        o = _settings(args, args._parser, args._everything)
    except UsageError as e:
        return make_console({}, redactor).error(str(e), EXIT_USAGE)
    console = make_console(o, redactor, quiet=True)
    with routed_logs(console, with_progress=False):
        try:
            return _plan(o, console)
        except (UsageError, ConfigurationError) as e:
            return console.error(str(e), EXIT_USAGE)
        except PipelineError as e:
            return console.error(f"{type(e).__name__}: {e}", EXIT_PARTIAL)


def _plan(o: Mapping[str, Any], console: Console) -> int:
    module, subset = collector_module(o)
    collectors = discover(module, subset)
    store = build_store(o.get("state"))
    state = store.load() if store is not None else State()
    p = plan(
        collectors,
        state,
        now=datetime.now(timezone.utc),
        since=o.get("since"),
        until=o.get("until"),
        horizon=o.get("horizon") or HORIZON,
    )
    if o.get("json"):
        planned = {t.key for t in p.tasks}
        document = {
            **plan_json(p),
            "state": {"store": None if store is None else repr(store), **state_json(state)},
            "config": {"key": p.config.key, "version": p.config.version},
            "tasks": [
                {
                    "key": t.key,
                    "format": t.collector.format,
                    "since": t.window.since.isoformat(),
                    "until": t.window.until.isoformat(),
                    "full_sync": t.full_sync,
                    "sliced": t.collector.sliced,
                    "shipping_group": t.collector.shipping_group,
                }
                for t in p.tasks
            ],
            "idle": [c.key for c in collectors if not c.config and c.key not in planned],
        }
        console.out(json.dumps(document, indent=2))
    else:
        console.out(render_plan(p, state, collectors, store))
    return EXIT_PARTIAL if p.problems else EXIT_OK


def render_plan(p: Plan, state: State, collectors: Sequence[Any], store: StateStore | None) -> str:
    """The plan as text: window, state, tasks in order, problems."""
    days = p.horizon.total_seconds() / 86400
    lines = [
        f"now          {p.now.isoformat()}",
        f"since        {p.since.isoformat() if p.since else '(each collector from its entry)'}",
        f"until        {p.until.isoformat()}",
        f"last_gather  {p.last_gather.isoformat()}  (horizon {days:g} days)",
        f"state        {repr(store) if store is not None else '(none: a first run)'}",
        f"  stored last_gather  {iso(state.last_gather) or '-'}",
    ]
    if state.entries:
        width = max(len(k) for k in state.entries)
        lines += [f"  {k.ljust(width)}  {v.isoformat()}" for k, v in sorted(state.entries.items())]
    else:
        lines.append("  (no entries)")
    lines.append(f"config       {p.config.key} {p.config.version} (in every archive)")
    lines.append(f"tasks        {len(p.tasks)}")
    if p.tasks:
        width = max(len(t.key) for t in p.tasks)
        for t in p.tasks:
            flags: list[str] = [t.collector.format]
            if t.collector.sliced:
                flags.append("sliced")
            if t.full_sync:
                flags.append("FULL SYNC")
            if t.collector.shipping_group != "default":
                flags.append(f"group={t.collector.shipping_group}")
            lines.append(f"  {t.seq:>4}  {t.key.ljust(width)}  {t.window}  {' '.join(flags)}")
    planned = {t.key for t in p.tasks}
    idle = [c.key for c in collectors if not c.config and c.key not in planned]
    if idle:
        lines.append(f"nothing new  {', '.join(idle)}")
    for pr in p.problems:
        lines.append(f"problem      {pr.key}: {pr.message}")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    """List and check archives."""
    reports = [
        inspect_archive(
            path, max_upload_size=args.max_upload_size, max_data_size=args.max_data_size
        )
        for path in args.archives
    ]
    out = sys.stdout
    if args.json:
        document = [
            {
                "path": str(r.path),
                "bytes": r.size,
                "sha256": r.sha256,
                "ok": r.ok,
                "members": [attrs.asdict(m) for m in r.members],
                "problems": list(r.problems),
            }
            for r in reports
        ]
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        for n, r in enumerate(reports):
            if n:
                out.write("\n")
            out.write(_render_report(r) + "\n")
    out.flush()
    return EXIT_OK if all(r.ok for r in reports) else EXIT_PARTIAL


def _render_report(r: ArchiveReport) -> str:
    lines = [str(r.path)]
    if r.size is not None:
        lines.append(f"  size    {r.size:,} bytes ({human_bytes(r.size)})")
    if r.sha256 is not None:
        lines.append(f"  sha256  {r.sha256}")
    if r.members:
        width = max(len(m.name) for m in r.members)
        lines.append(f"  members ({len(r.members)})")
        for m in r.members:
            kind = "" if m.kind == "file" else f"  ({m.kind})"
            lines.append(f"    {m.name.ljust(width)}  {m.size:>14,}{kind}")
    if r.ok:
        lines.append("  OK      meets the archive contract")
    else:
        lines += [f"  PROBLEM {p}" for p in r.problems]
    return "\n".join(lines)


# -- the parser ---------------------------------------------------------------------------

_DESCRIPTION = """\
Collect a service's analytics with its collector module, cut them into
size-limited parts, pack them into .tar.gz archives and ship them, keeping
bookkeeping of what was sent."""

_MAIN_EPILOG = f"""\
examples:
  pipeline-collector plan examples/jobs_collectors.py --state state.json
  pipeline-collector gather examples/jobs_collectors.py --mode manual \\
      --state state.json --dir out/
  pipeline-collector inspect out/data/2026/11/27/*.tar.gz
  pipeline-collector ingress --port 8080 --dir received/

Run 'pipeline-collector COMMAND --help' for a command's options.

{EXIT_CODES}"""

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
header = {{"User-Agent" = "..."}}); options on the command line win.

examples:
  # build the archives and keep them, ship nothing
  pipeline-collector gather examples/jobs_collectors.py --workdir /tmp/out

  # ship to a folder, keep bookkeeping in a JSON file
  pipeline-collector gather examples.jobs_collectors --mode manual \\
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
  pipeline-collector plan examples/jobs_collectors.py --state state.json
  pipeline-collector plan examples.jobs_collectors --since 2026-11-20T00:00:00Z --json
  pipeline-collector plan --config collector.toml

{EXIT_CODES}
  (plan exits {EXIT_PARTIAL} when a slicer fails)"""

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


def _output_options(
    parser: argparse.ArgumentParser, default: str = "warning on a terminal, else info"
) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show more log events: -v info, -vv debug",
    )
    group.add_argument(
        "--log-level",
        choices=tuple(LOG_LEVELS),
        default=argparse.SUPPRESS,
        help=f"lowest level of log events shown (default: {default})",
    )
    group.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default=argparse.SUPPRESS,
        help="console lines or JSON lines on stderr (default auto: console on a terminal)",
    )


def _window_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--since",
        type=parse_when,
        default=argparse.SUPPRESS,
        metavar="ISO",
        help="start of the window, with a timezone (default: where each collector left off)",
    )
    group.add_argument(
        "--until",
        type=parse_when,
        default=argparse.SUPPRESS,
        metavar="ISO",
        help="end of the window, excluded (default: now)",
    )
    group.add_argument(
        "--horizon",
        type=parse_duration,
        default=argparse.SUPPRESS,
        metavar="DURATION",
        help="how far back a run may reach: days, or 4w, 12h (default 28 days)",
    )
    group.add_argument(
        "--subset",
        type=parse_keys,
        action="extend",
        default=argparse.SUPPRESS,
        metavar="KEY,KEY",
        help="collect only these keys (the config collector always runs; repeatable)",
    )


def _state_option(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--state",
        default=argparse.SUPPRESS,
        metavar="FILE|URL",
        help="bookkeeping: a JSON file, sqlite:///PATH or postgresql://HOST/DB",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, for ``main`` and for documentation."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="pipeline-collector",
        description=_DESCRIPTION,
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # gather
    g = sub.add_parser(
        "gather",
        help="collect, pack and ship (or keep, in a dry run) the archives",
        description="Run the pipeline over a collector module: discover, plan, collect,\n"
        "chunk, archive and ship.",
        epilog=_GATHER_EPILOG,
        formatter_class=formatter,
        argument_default=argparse.SUPPRESS,
    )
    g.add_argument(
        "module",
        nargs="?",
        metavar="MODULE",
        help="collector module: an import path (examples.jobs_collectors) or a file"
        " (examples/jobs_collectors.py)",
    )
    g.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file")
    run = g.add_argument_group("the run")
    run.add_argument(
        "--mode",
        choices=("dry-run", "manual", "scheduled"),
        help="dry-run keeps the archives and ships nothing (default); manual and scheduled"
        " ship and save progress (scheduled logs skips quietly)",
    )
    _window_options(run)
    run.add_argument(
        "--max-data-size",
        type=parse_size,
        metavar="SIZE",
        help="largest uncompressed CSV part and archive content (default 200MiB)",
    )
    run.add_argument(
        "--max-upload-size",
        type=parse_size,
        metavar="SIZE",
        help="largest compressed archive (default 100MiB, the ingress limit)",
    )
    run.add_argument(
        "--workdir",
        metavar="DIR",
        help="folder for temporary files and kept archives (default: a new temporary folder)",
    )
    run.add_argument(
        "--prefix", metavar="NAME", help="archive names start with it (default analytics)"
    )
    books = g.add_argument_group("bookkeeping and gating")
    _state_option(books)
    books.add_argument(
        "--lock",
        metavar="FILE|URL",
        help="one run at a time: a lock file, or postgresql://HOST/DB for an advisory lock"
        " (default: a file in the temporary folder when shipping)",
    )
    books.add_argument(
        "--lock-name", metavar="NAME", help="advisory lock name (default gather_analytics_lock)"
    )
    books.add_argument(
        "--lock-scheme",
        choices=("sha512", "crc32", "hashtext"),
        help="how the advisory lock name becomes a key (default sha512)",
    )
    books.add_argument(
        "--is-licensed",
        metavar="MODULE:FUNC",
        help="a function returning whether the run is licensed; false gates the run off",
    )
    books.add_argument(
        "--is-shipping-configured",
        metavar="MODULE:FUNC",
        help="a function returning whether shipping is configured; false gates the run off",
    )
    dest = g.add_argument_group("destination: a folder")
    dest.add_argument(
        "--dir", metavar="DIR", help="copy archives into DIR/data/YYYY/MM/DD/ (DirectoryTransport)"
    )
    http = g.add_argument_group("destination: an HTTP ingress")
    http.add_argument("--url", metavar="URL", help="upload URL (HttpTransport)")
    http.add_argument(
        "--content-type",
        metavar="TYPE",
        help="the service's registered type, application/vnd.redhat.<service>.<name>+tgz",
    )
    http.add_argument(
        "--user", metavar="USER", help=f"basic auth user; the password is read from {ENV_PASSWORD}"
    )
    http.add_argument(
        "--cert",
        nargs="?",
        const="/etc/pki/consumer/cert.pem",
        metavar="PEM",
        help="mutual TLS client certificate (given alone: RHSM's /etc/pki/consumer/cert.pem)",
    )
    http.add_argument(
        "--key", metavar="PEM", help="client key (default RHSM's /etc/pki/consumer/key.pem)"
    )
    http.add_argument(
        "--identity",
        action="store_true",
        help=f"send an x-rh-identity header read from {ENV_IDENTITY}",
    )
    http.add_argument(
        "--token-url",
        metavar="URL",
        help=f"OAuth2 token URL; the client secret is read from {ENV_CLIENT_SECRET}",
    )
    http.add_argument("--client-id", metavar="ID", help="OAuth2 client id (service account)")
    http.add_argument("--scope", metavar="SCOPE", help="OAuth2 scope to ask for")
    http.add_argument(
        "--ca-bundle", metavar="PEM", help="verify TLS against this CA bundle (HTTP and S3)"
    )
    http.add_argument(
        "--proxy", metavar="URL", help=f"HTTP(S) proxy without credentials (else {ENV_PROXY})"
    )
    http.add_argument(
        "--header",
        dest="headers",
        type=parse_header,
        action="append",
        metavar="NAME=VALUE",
        help="an extra header, e.g. User-Agent=... (repeatable; credentials refused)",
    )
    http.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="connect and read timeout (default 31)",
    )
    http.add_argument(
        "--retries", type=count, metavar="N", help="retries of a failed upload (default 5)"
    )
    http.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow credentials over plain http:// (local testing only)",
    )
    s3 = g.add_argument_group("destination: S3")
    s3.add_argument("--s3-bucket", metavar="BUCKET", help="upload to this bucket (S3Transport)")
    s3.add_argument("--s3-endpoint", metavar="URL", help="an S3-compatible endpoint")
    s3.add_argument("--s3-region", metavar="REGION", help="the bucket's region")
    s3.add_argument("--s3-prefix", metavar="PREFIX", help="object key prefix, e.g. tower/")
    s3.add_argument(
        "--s3-expected-owner", metavar="ACCOUNT", help="refuse a bucket owned by anyone else"
    )
    report = g.add_argument_group("report")
    report.add_argument(
        "--report-json",
        metavar="FILE",
        help="write the run report (collections, archives, shipments, state, status) as"
        " JSON; - for stdout",
    )
    report.add_argument(
        "--progress",
        choices=("auto", "line", "events", "off"),
        help="live status line, periodic 'progress' log events, or none"
        " (default auto: a line on a terminal, else events)",
    )
    report.add_argument(
        "--progress-interval",
        type=positive_float,
        metavar="SECONDS",
        help="seconds between 'progress' events off a terminal (default 10; 0: only at the end)",
    )
    _output_options(g)
    g.set_defaults(func=cmd_gather, _parser=g)

    # plan
    p = sub.add_parser(
        "plan",
        help="show the window, the state and every window a run would collect",
        description="Show what a run would collect, without calling any collector.",
        epilog=_PLAN_EPILOG,
        formatter_class=formatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("module", nargs="?", metavar="MODULE", help="collector module (as for gather)")
    p.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file")
    what = p.add_argument_group("the run")
    _window_options(what)
    _state_option(what)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    _output_options(p, "warning")
    p.set_defaults(func=cmd_plan, _parser=p)

    # inspect
    i = sub.add_parser(
        "inspect",
        help="list archives' members and check them against the contract",
        description="List each archive's members with their sizes and sha256, and check\n"
        "it against the archive contract.",
        epilog=_INSPECT_EPILOG,
        formatter_class=formatter,
    )
    i.add_argument("archives", nargs="+", metavar="ARCHIVE", help=".tar.gz files")
    i.add_argument(
        "--max-upload-size",
        type=parse_size,
        default=MAX_UPLOAD_SIZE,
        metavar="SIZE",
        help="largest compressed size allowed (default 100MiB)",
    )
    i.add_argument(
        "--max-data-size",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="largest uncompressed data CSV member allowed (default: not checked)",
    )
    i.add_argument("--json", action="store_true", help="print the reports as JSON")
    i.set_defaults(func=cmd_inspect)

    # ingress
    sub.add_parser(
        "ingress",
        help="run a local ingress that accepts uploads like the cloud's (see ingress --help)",
        add_help=False,
    )
    everything = sorted(_option_map(g))
    g.set_defaults(_everything=everything)
    p.set_defaults(_everything=everything)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["ingress"]:
        from ..ingress import main as ingress_main

        return ingress_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    func = cast(Callable[[argparse.Namespace], int], args.func)
    try:
        return func(args)
    except KeyboardInterrupt:
        sys.stderr.write("pipeline-collector: interrupted\n")
        return 130
