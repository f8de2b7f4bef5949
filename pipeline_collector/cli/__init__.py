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
import base64
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, cast
from urllib.parse import urlsplit, urlunsplit

import attrs
import structlog

from ..checks import STATUS_HEADER, ArchiveReport, Member, check_archive, inspect_archive
from ..discover import discover
from ..errors import ConfigurationError, PipelineError
from ..gather import MAX_DATA_SIZE, MAX_UPLOAD_SIZE, gather
from ..plan import HORIZON, plan
from ..protocols import Lock, StateStore, Transport
from ..records import Mode, Plan, Run, State
from .progress import Progress, Screen, Ticker, human_bytes, report_table, summary_line

__all__ = [
    "ENV_CLIENT_SECRET",
    "ENV_IDENTITY",
    "ENV_PASSWORD",
    "ENV_PROXY",
    "EXIT_GATED",
    "EXIT_LOCK_HELD",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "ArchiveReport",
    "Member",
    "UsageError",
    "build_parser",
    "check_archive",
    "inspect_archive",
    "load_config",
    "main",
    "parse_size",
    "parse_when",
    "run_json",
]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_LOCK_HELD = 3
EXIT_GATED = 4

ENV_PASSWORD = "PIPELINE_COLLECTOR_PASSWORD"  # noqa: S105 - the name of a variable
ENV_IDENTITY = "PIPELINE_COLLECTOR_IDENTITY"
ENV_CLIENT_SECRET = "PIPELINE_COLLECTOR_CLIENT_SECRET"  # noqa: S105
ENV_PROXY = "PIPELINE_COLLECTOR_PROXY"
_SECRET_ENV = (
    ENV_PASSWORD,
    ENV_IDENTITY,
    ENV_CLIENT_SECRET,
    ENV_PROXY,
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PGPASSWORD",
)
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-rh-identity", "x-api-key"}
)
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "client-secret",
        "token",
        "access-token",
        "api-key",
        "access-key-id",
        "secret-access-key",
        "session-token",
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
    }
)

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_PARTIAL}  partial failure: a collection, an upload or the bookkeeping failed
  {EXIT_USAGE}  bad configuration or usage (options, config file, module, collectors)
  {EXIT_LOCK_HELD}  another run holds the lock; nothing was done
  {EXIT_GATED}  gated off (--is-licensed or --is-shipping-configured said no)"""


class UsageError(Exception):
    """The command was given something it cannot use; exit code 2."""


# -- values ------------------------------------------------------------------

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([kmgt])(i)?(b)?|(b))?$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """A size in bytes: ``1048576``, ``50MiB``, ``100M`` (binary), ``100MB`` (decimal).

    >>> parse_size("50MiB"), parse_size("100M"), parse_size("1kB"), parse_size("512")
    (52428800, 104857600, 1000, 512)
    """
    match = _SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; use bytes or a unit, e.g. 50MiB, 100M, 200MB"
        )
    number, letter, binary, decimal_b, _ = match.groups()
    factor = 1
    if letter:
        base = 1000 if decimal_b and not binary else 1024
        factor = base ** _POWERS[letter.lower()]
    value = int(float(number) * factor)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be positive")
    return value


def parse_when(text: str) -> datetime:
    """An ISO-8601 datetime with a timezone; a naive one is refused.

    >>> parse_when("2026-11-01T00:00:00Z").isoformat()
    '2026-11-01T00:00:00+00:00'
    """
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 datetime, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return _aware(when, text)


def _aware(when: datetime, shown: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        example = when.replace(tzinfo=timezone.utc).isoformat()
        raise argparse.ArgumentTypeError(
            f"{shown!r} has no timezone; naive datetimes are refused because guessing"
            f" the zone would shift every window: write e.g. {example}"
        )
    return when


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([wdhms]?)$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "days"}


def parse_duration(text: str) -> timedelta:
    """A duration: a number of days, or with a unit ``w``, ``d``, ``h``, ``m``, ``s``.

    >>> parse_duration("4w") == parse_duration("28")
    True
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration, e.g. 28d, 4w, 12h")
    value = timedelta(**{_UNITS[match[2].lower()]: float(match[1])})
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be positive")
    return value


def parse_keys(text: str) -> list[str]:
    """Comma-separated collector keys."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise argparse.ArgumentTypeError("expected one or more keys, e.g. jobs,job_events")
    return keys


def parse_header(text: str) -> tuple[str, str]:
    """``NAME=VALUE``; headers that carry credentials are refused."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text.partition('=')[0]!r}: expected NAME=VALUE")
    if name.lower() in _SECRET_HEADERS:
        raise argparse.ArgumentTypeError(
            f"header {name} carries credentials and is refused here (command lines and"
            " config files are readable by others); use --user, --identity or --client-id"
            " with their environment variables"
        )
    return name, value.strip()


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def show_url(url: str) -> str:
    """A URL fit to print: no user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


def _no_password(url: str, what: str, env: str | None = None) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        where = f" (put the whole URL in {env})" if env else " (PostgreSQL reads PGPASSWORD)"
        raise UsageError(
            f"{what} {show_url(url)} carries a password; secrets are never taken from"
            f" options or config files{where}"
        )
    return url


# -- secrets -----------------------------------------------------------------


class Redactor:
    """Cuts known secret values out of any text the command writes."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self._secrets: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "<redacted>")
        return text

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secrets>"


def _env_secrets(env: Mapping[str, str]) -> Redactor:
    redactor = Redactor()
    for name in _SECRET_ENV:
        value = env.get(name)
        redactor.add(value)
        if value and name == ENV_PROXY:
            with contextlib.suppress(ValueError):
                redactor.add(urlsplit(value).password)
    return redactor


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
        if key in _SECRET_KEYS or "password" in key or "secret" in key:
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
            converted = _aware(value, str(value))
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (convert in (parse_size, _positive_float, _count))
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


# -- loading user code ---------------------------------------------------------------


def load_module(name: str) -> ModuleType:
    """Import a collector module by import path or by file path."""
    if name.endswith(".py") or os.sep in name or (os.altsep and os.altsep in name):
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"collector module file not found: {name}")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        stem = path.stem if path.stem.isidentifier() else "collectors"
        module_name = stem if stem not in sys.modules else f"_pipeline_collector_{stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot load {name} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[module_name]
            raise UsageError(f"importing {name} failed: {type(e).__name__}: {e}") from None
        return module
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise UsageError(f"cannot import collector module {name!r}: {e}") from None
    except Exception as e:
        raise UsageError(f"importing {name} failed: {type(e).__name__}: {e}") from None


def load_callable(spec: str, option: str) -> Callable[[], bool]:
    """``module:function`` (module by import or file path) -> the function."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{option} {spec!r}: expected MODULE:FUNCTION")
    func = getattr(load_module(module_name), attr, None)
    if not callable(func):
        raise UsageError(f"{option} {spec!r}: {attr} is not a function of {module_name}")
    return cast(Callable[[], bool], func)


# -- building the effects --------------------------------------------------------------


def build_store(spec: str | None) -> StateStore | None:
    """``FILE`` (JSON), ``sqlite:///PATH`` or ``postgresql://...`` -> a state store."""
    if not spec:
        return None
    if spec.startswith("sqlite://"):
        path = spec[len("sqlite:///") :] if spec.startswith("sqlite:///") else ""
        if not path:
            raise UsageError(f"--state {spec!r}: write sqlite:///relative.db or sqlite:////abs.db")
        from ..stores import SqliteStore

        return SqliteStore(path)
    if spec.startswith(("postgresql://", "postgres://")):
        from ..stores import PostgresStore

        return PostgresStore.from_dsn(_no_password(spec, "--state"))
    from ..stores import JsonFileStore

    return JsonFileStore(spec)


def build_lock(spec: str | None, name: str | None, scheme: str | None) -> Lock | None:
    """``FILE`` or ``postgresql://...`` (an advisory lock) -> a lock."""
    if not spec:
        return None
    if spec.startswith(("postgresql://", "postgres://")):
        from ..locks import PostgresAdvisoryLock

        return PostgresAdvisoryLock.from_dsn(
            _no_password(spec, "--lock"),
            name or "gather_analytics_lock",
            scheme=cast(Any, scheme or "sha512"),
        )
    from ..locks import FileLock

    return FileLock(spec)


_HTTP_ONLY = (
    "content_type",
    "user",
    "cert",
    "key",
    "identity",
    "token_url",
    "client_id",
    "scope",
    "ca_bundle",
    "proxy",
    "headers",
    "timeout",
    "retries",
    "allow_insecure",
)
_S3_ONLY = ("s3_endpoint", "s3_region", "s3_prefix", "s3_expected_owner")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_transport(
    o: Mapping[str, Any], env: Mapping[str, str], redactor: Redactor
) -> tuple[Transport | None, str | None]:
    """The destination the options name, and how to show it."""
    chosen = [n for n in ("dir", "url", "s3_bucket") if o.get(n)]
    if len(chosen) > 1:
        raise UsageError("give one destination, not " + " and ".join(_flag(n) for n in chosen))
    stray_http = [n for n in _HTTP_ONLY if o.get(n)]
    if stray_http and "url" not in chosen:
        raise UsageError(f"{_flag(stray_http[0])} is an HTTP setting and needs --url")
    stray_s3 = [n for n in _S3_ONLY if o.get(n)]
    if stray_s3 and "s3_bucket" not in chosen:
        raise UsageError(f"{_flag(stray_s3[0])} is an S3 setting and needs --s3-bucket")
    if not chosen:
        return None, None
    if chosen[0] == "dir":
        from ..transports import DirectoryTransport

        return DirectoryTransport(Path(o["dir"])), f"directory {o['dir']}"
    if chosen[0] == "s3_bucket":
        from ..s3 import S3Transport

        endpoint = o.get("s3_endpoint")
        if endpoint:
            _no_password(endpoint, "--s3-endpoint")
        transport = S3Transport(
            bucket=o["s3_bucket"],
            prefix=o.get("s3_prefix") or "",
            endpoint_url=endpoint,
            region=o.get("s3_region"),
            expected_bucket_owner=o.get("s3_expected_owner"),
            verify=o.get("ca_bundle") or True,
        )
        return transport, f"s3://{o['s3_bucket']}/{transport.prefix}"
    return _http_transport(o, env, redactor)


def _http_transport(
    o: Mapping[str, Any], env: Mapping[str, str], redactor: Redactor
) -> tuple[Transport, str]:
    from ..transports import (
        RHSM_KEY,
        Auth,
        BasicAuth,
        ClientCertAuth,
        HttpTransport,
        IdentityAuth,
        OAuth2ClientCredentials,
        RetryPolicy,
    )

    url = _no_password(o["url"], "--url")
    if not o.get("content_type"):
        raise UsageError(
            "--url needs --content-type, the service's registered type,"
            " e.g. application/vnd.redhat.<service>.<name>+tgz"
        )
    modes = [
        n
        for n in ("user", "cert", "identity", "token_url")
        if o.get(n) or (n == "cert" and o.get("key"))
    ]
    if len(modes) > 1:
        raise UsageError(
            "give one way to authenticate, not " + " and ".join(_flag(n) for n in modes)
        )
    insecure = bool(o.get("allow_insecure"))
    auth: Auth | None = None
    if o.get("user"):
        password = env.get(ENV_PASSWORD)
        if not password:
            raise UsageError(f"--user needs the password in the environment: {ENV_PASSWORD}")
        auth = BasicAuth(user=o["user"], password=password)
        redactor.add(base64.b64encode(f"{o['user']}:{password}".encode()).decode("ascii"))
    elif o.get("cert") or o.get("key"):
        cert = o.get("cert") or ClientCertAuth().cert
        key = o.get("key") or RHSM_KEY
        for path in (cert, key):
            if not os.path.isfile(path):
                raise UsageError(f"client certificate file not found: {path}")
        auth = ClientCertAuth(cert=cert, key=key)
    elif o.get("identity"):
        identity = env.get(ENV_IDENTITY)
        if not identity:
            raise UsageError(
                f"--identity needs the header value in the environment: {ENV_IDENTITY}"
            )
        auth = IdentityAuth(identity=identity)
    elif o.get("token_url") or o.get("client_id"):
        if not (o.get("token_url") and o.get("client_id")):
            raise UsageError("OAuth2 needs both --token-url and --client-id")
        secret = env.get(ENV_CLIENT_SECRET)
        if not secret:
            raise UsageError(
                f"--client-id needs the client secret in the environment: {ENV_CLIENT_SECRET}"
            )
        auth = OAuth2ClientCredentials(
            token_url=_no_password(o["token_url"], "--token-url"),
            client_id=o["client_id"],
            client_secret=secret,
            scope=o.get("scope"),
            allow_insecure=insecure,
        )
    proxy = o.get("proxy")
    if proxy:
        _no_password(proxy, "--proxy", ENV_PROXY)
    else:
        proxy = env.get(ENV_PROXY) or None
    timeout = float(o.get("timeout") or 31.0)
    retry = RetryPolicy() if o.get("retries") is None else RetryPolicy(total=int(o["retries"]))
    transport = HttpTransport(
        url=url,
        content_type=o["content_type"],
        auth=auth,
        headers=dict(o.get("headers") or ()),
        proxy=proxy,
        verify=o.get("ca_bundle") or True,
        timeout=(timeout, timeout),
        retry=retry,
        allow_insecure=insecure,
    )
    return transport, show_url(url)


# -- logging and progress ----------------------------------------------------------------

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_METHOD_LEVELS = {**_LEVELS, "warn": 30, "exception": 40, "msg": 20, "fatal": 50, "err": 40}


def _drop_below(level: int) -> Callable[[Any, str, MutableMapping[str, Any]], Any]:
    def drop(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        if _METHOD_LEVELS.get(method_name, 20) < level:
            raise structlog.DropEvent
        return event_dict

    return drop


class _Emit:
    """The last processor: write the rendered line, then stop the chain.

    Loggers bound before the command configured logging keep the logger
    they were made with; writing here sends every line to one place.
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def __call__(self, logger: Any, method_name: str, rendered: Any) -> Any:
        self._write(rendered if isinstance(rendered, str) else str(rendered))
        raise structlog.DropEvent


class _StdlibBridge(logging.Handler):
    """Standard-library log records (boto3, urllib3) as structlog events."""

    def emit(self, record: logging.LogRecord) -> None:
        log = structlog.get_logger("pipeline_collector.cli")
        with contextlib.suppress(Exception):
            log.log(record.levelno, "library.log", logger=record.name, message=record.getMessage())


@attrs.define
class Console:
    """Where the command writes and how: a terminal or JSON lines on stderr."""

    stderr: TextIO
    stdout: TextIO
    redact: Redactor
    terminal: bool
    json_logs: bool
    level: int
    progress_mode: str
    interval: float
    screen: Screen | None = None
    progress: Progress | None = None
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def line(self, text: str) -> None:
        """A line on stderr, above the status line when there is one."""
        if self.screen is not None:
            self.screen.print(text)
            return
        with self._lock:  # the progress thread logs too
            self.stderr.write(self.redact(text) + "\n")
            self.stderr.flush()

    def out(self, text: str) -> None:
        """A line of the command's result on stdout."""
        self.stdout.write(self.redact(text) + "\n")
        self.stdout.flush()

    def error(self, message: str, code: int) -> int:
        """Say why the command stops (a JSON line off a terminal); return ``code``."""
        if self.json_logs:
            event = {
                "event": "command.failed",
                "error": message,
                "exit_code": code,
                "level": "error",
                "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            }
            self.line(json.dumps(event))
        else:
            self.line(f"pipeline-collector: error: {message}")
        return code


def _console(o: Mapping[str, Any], redactor: Redactor, *, quiet: bool = False) -> Console:
    terminal = sys.stderr.isatty()
    fmt = o.get("log_format") or "auto"
    json_logs = fmt == "json" or (fmt == "auto" and not terminal)
    verbose = int(o.get("verbose") or 0)
    if o.get("log_level"):
        level = _LEVELS[o["log_level"]]
    elif verbose:
        level = 20 if verbose == 1 else 10
    else:
        level = 20 if json_logs and not quiet else 30
    mode = o.get("progress") or "auto"
    if mode == "auto":
        mode = "line" if terminal else "events"
    interval = o.get("progress_interval")
    return Console(
        stderr=sys.stderr,
        stdout=sys.stdout,
        redact=redactor,
        terminal=terminal,
        json_logs=json_logs,
        level=level,
        progress_mode=mode,
        interval=10.0 if interval is None else float(interval),
    )


@contextlib.contextmanager
def _logging(console: Console, *, with_progress: bool) -> Iterator[Console]:
    """Route every structlog event (the library's included) to the console.

    The processor list is changed in place, as ``structlog.testing.
    capture_logs`` does, so loggers bound at import time follow it; it is
    put back on exit.
    """
    if with_progress and console.progress_mode in ("line", "events"):
        console.progress = Progress()
        if console.progress_mode == "line":
            console.screen = Screen(console.stderr, redact=console.redact)
    renderer: Any
    if console.json_logs:
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = console.terminal and "NO_COLOR" not in os.environ
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if console.progress is not None:
        chain.append(console.progress)
    chain += [
        _drop_below(console.level),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if console.json_logs:
        chain.append(structlog.processors.format_exc_info)
    chain += [renderer, _Emit(console.line)]
    processors = structlog.get_config()["processors"]
    saved = list(processors)
    processors[:] = chain
    structlog.configure(processors=processors)
    bridge = _StdlibBridge(level=logging.WARNING)
    root = logging.getLogger()
    root.addHandler(bridge)
    try:
        yield console
    finally:
        root.removeHandler(bridge)
        if console.screen is not None:
            console.screen.clear()
        processors[:] = saved
        structlog.configure(processors=processors)


@contextlib.contextmanager
def _live(console: Console) -> Iterator[None]:
    """Draw the status line, or log ``progress`` events, while the run goes on."""
    progress = console.progress
    if progress is None:
        yield
        return
    if console.screen is not None:
        screen = console.screen
        ticks = iter(range(1 << 62))

        def draw() -> None:
            screen.status(progress.line(screen.width, next(ticks)))

        draw()
        with Ticker(0.2, draw):
            yield
        return
    log = structlog.get_logger("pipeline_collector.cli").bind(component="progress")

    def emit() -> None:
        log.info("progress", **progress.tally().fields())

    if console.interval > 0:
        with Ticker(console.interval, emit):
            yield
    else:
        yield
    emit()  # the final counts, always


# -- the run report as JSON ------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def run_json(run: Run, exit_code: int | None = None) -> dict[str, Any]:
    """The run's report as plain JSON values."""
    p = run.plan
    return {
        "status": run.status,
        "mode": run.mode,
        "reason": run.reason,
        "exit_code": exit_code,
        "plan": None if p is None else _plan_summary(p),
        "collections": [
            {
                "key": c.key,
                "since": _iso(c.task.window.since),
                "until": _iso(c.task.window.until),
                "full_sync": c.task.full_sync,
                "status": c.status,
                "rows": c.rows,
                "bytes": c.bytes,
                "parts": len(c.parts),
                "seconds": round(c.elapsed, 3),
                "error": c.error,
            }
            for c in run.collections
        ],
        "archives": [
            {
                "name": a.name,
                "path": str(a.path),
                "bytes": a.size,
                "sha256": a.sha256,
                "group": a.group,
                "members": list(a.members),
                "kept": a.path.exists(),
            }
            for a in run.archives
        ],
        "shipments": [
            {
                "archive": s.archive.name,
                "ok": s.ok,
                "skipped": s.skipped,
                "error": s.error,
                "maybe_delivered": s.maybe_delivered,
                "destination": None if s.receipt is None else s.receipt.destination,
                "status": None if s.receipt is None else s.receipt.status,
                "attempts": None if s.receipt is None else s.receipt.attempts,
                "request_id": None if s.receipt is None else s.receipt.request_id,
                "location": None if s.receipt is None else s.receipt.location,
            }
            for s in run.shipments
        ],
        "state": None if run.state is None else _state_json(run.state),
    }


def _state_json(state: State) -> dict[str, Any]:
    return {
        "last_gather": _iso(state.last_gather),
        "entries": {k: v.isoformat() for k, v in sorted(state.entries.items())},
    }


def _plan_summary(p: Plan) -> dict[str, Any]:
    return {
        "now": _iso(p.now),
        "since": _iso(p.since),
        "until": _iso(p.until),
        "last_gather": _iso(p.last_gather),
        "horizon_seconds": p.horizon.total_seconds(),
        "tasks": len(p.tasks),
        "problems": [{"key": pr.key, "message": pr.message} for pr in p.problems],
    }


_EXIT_FOR: dict[str, int] = {
    "ok": EXIT_OK,
    "partial": EXIT_PARTIAL,
    "failed": EXIT_PARTIAL,
    "lock-held": EXIT_LOCK_HELD,
    "gated": EXIT_GATED,
}


# -- gather ------------------------------------------------------------------------------


def _common(o: Mapping[str, Any]) -> tuple[ModuleType, list[str] | None]:
    if not o.get("module"):
        raise UsageError("name a collector module (MODULE, or module = ... in --config)")
    module = load_module(o["module"])
    subset = o.get("subset")
    return module, (list(subset) if subset else None)


def cmd_gather(args: argparse.Namespace) -> int:
    """Run the pipeline once and report on it."""
    env = os.environ
    redactor = _env_secrets(env)
    try:
        o = _settings(args, args._parser, args._everything)
    except UsageError as e:
        return _console({}, redactor).error(str(e), EXIT_USAGE)
    console = _console(o, redactor)
    with _logging(console, with_progress=True):
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
    module, subset = _common(o)
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
        name: load_callable(o[name], _flag(name))
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
        with _live(console):
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
    code = _EXIT_FOR.get(run.status, EXIT_PARTIAL)
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
    redactor = _env_secrets(os.environ)
    try:
        o = _settings(args, args._parser, args._everything)
    except UsageError as e:
        return _console({}, redactor).error(str(e), EXIT_USAGE)
    console = _console(o, redactor, quiet=True)
    with _logging(console, with_progress=False):
        try:
            return _plan(o, console)
        except (UsageError, ConfigurationError) as e:
            return console.error(str(e), EXIT_USAGE)
        except PipelineError as e:
            return console.error(f"{type(e).__name__}: {e}", EXIT_PARTIAL)


def _plan(o: Mapping[str, Any], console: Console) -> int:
    module, subset = _common(o)
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
            **_plan_summary(p),
            "state": {"store": None if store is None else repr(store), **_state_json(state)},
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
        f"  stored last_gather  {_iso(state.last_gather) or '-'}",
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
        choices=tuple(_LEVELS),
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
        type=_positive_float,
        metavar="SECONDS",
        help="connect and read timeout (default 31)",
    )
    http.add_argument(
        "--retries", type=_count, metavar="N", help="retries of a failed upload (default 5)"
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
        type=_positive_float,
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
