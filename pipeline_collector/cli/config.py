"""Settings: the command line, over the environment, over the TOML config file.

The config file is ``--config`` or ``PIPELINE_COLLECTOR_CONFIG``.  Its keys
are the long option names (``max-data-size`` or ``max_data_size``), checked
and converted the way the option would be, and secrets are refused: they
belong in environment variables.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .declarations import ENV_CONFIG, FILE_COMMAND, Option, options_of
from .environment import from_env
from .exits import UsageError
from .options import aware, count, parse_run_size, parse_size, parse_when, positive_float
from .secrets import ENV_CLIENT_SECRET, ENV_IDENTITY, ENV_PASSWORD, is_secret_key

__all__ = ["DESTINATIONS", "Settled", "from_file", "load_config", "settings", "shown"]

# Parsers that also take a TOML number (``max-data-size = 1048576``).
_NUMBERS = (parse_size, parse_run_size, positive_float, count)


class Settled(dict[str, Any]):
    """The options in force, and where each came from (``--dir``, ``PIPELINE_COLLECTOR_DIR``...)."""

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
        super().__init__(values)
        self.sources = dict(sources)


def shown(o: Mapping[str, Any], dest: str) -> str:
    """How the user gave ``dest``: the flag, the variable or the file's key."""
    if isinstance(o, Settled) and dest in o.sources:
        return o.sources[dest]
    return "--" + dest.replace("_", "-")


# A destination is one setting taken whole from the highest layer that names
# one: a flag --dir wins over PIPELINE_COLLECTOR_URL, and the settings of the
# destination it replaced go with it.
DESTINATIONS = ("dir", "url", "s3_bucket")
_OF_KIND = {
    "url": (
        "content_type", "user", "cert", "key", "identity", "token_url", "client_id", "scope",
        "proxy", "headers", "timeout", "retries", "allow_insecure",
    ),
    "s3_bucket": ("s3_endpoint", "s3_region", "s3_prefix", "s3_expected_owner"),
}  # fmt: skip


def settings(
    args: argparse.Namespace, command: str, env: Mapping[str, str] | None = None
) -> Settled:
    """The options in force for ``command``: flags, then ``env``, then the file, then defaults.

    ``env`` is ``os.environ`` unless given; a setting absent from all three
    is absent here, and the command's own default applies.  The destination
    comes whole from the highest layer that names one.
    """
    env = os.environ if env is None else env
    parsed = vars(args)
    options = {o.dest: o for o in options_of(command)}
    given = {dest: parsed[dest] for dest in options if dest in parsed}
    path = given.pop("config", None)
    reads_env = any(o.reads_env(command) for o in options.values())
    if path is None and reads_env:
        path = env.get(ENV_CONFIG, "").strip() or None
    layers: list[tuple[dict[str, Any], Callable[[str], str]]] = []
    if path is not None:
        layers.append(
            (
                from_file(load_config(path), command, str(path)),
                lambda d: f"{options[d].name} in config file {path}",
            )
        )
    if reads_env:
        layers.append((from_env(env, command), lambda d: options[d].env or d))
    layers.append(
        (
            {k: v for k, v in given.items() if v is not None},
            lambda d: "--" + options[d].name,
        )
    )
    top = max(
        (n for n, (values, _) in enumerate(layers) if any(d in values for d in DESTINATIONS)),
        default=None,
    )
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for n, (layer, where) in enumerate(layers):
        values = layer
        if top is not None and n < top:
            winner = next(d for d in DESTINATIONS if d in layers[top][0])
            gone = [d for d in DESTINATIONS if d != winner]
            gone += [k for d in gone for k in _OF_KIND.get(d, ())]
            gone += ["ca_bundle"] if winner == "dir" else []
            values = {k: v for k, v in layer.items() if k not in gone}
        merged.update(values)
        sources.update({d: where(d) for d in values})
    return Settled(merged, sources)


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
    """Read a TOML config file into ``{option name: value}``; secrets are refused."""
    tomllib = _toml()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path} is not valid TOML: {e}") from None
    except RecursionError:  # the reader recurses once per level of nesting
        raise UsageError(f"config file {path} nests too deep to be read") from None
    found: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-").lower()
        if is_secret_key(key):
            raise UsageError(
                f"config file {path}: {raw_key!r} is a secret and is refused in a config file;"
                f" set it in the environment ({ENV_PASSWORD}, {ENV_CLIENT_SECRET},"
                f" {ENV_IDENTITY}, AWS_SECRET_ACCESS_KEY)"
            )
        found[key] = value
    return found


def from_file(found: Mapping[str, Any], command: str, where: str) -> dict[str, Any]:
    """Config-file values as ``command``'s settings, by option ``dest``."""
    options = {o.name: o for o in options_of(command) if o.in_file}
    others = {o.name for o in options_of(FILE_COMMAND) if o.in_file}
    merged: dict[str, Any] = {}
    for key, value in found.items():
        option = options.get(key)
        if option is None:
            if key in others:
                continue  # meant for another command
            known = ", ".join(sorted(options))
            raise UsageError(f"config file {where}: unknown setting {key!r}; known: {known}")
        merged[option.dest] = _convert(option, value, where)
    return merged


def _toml_list(option: Option, value: Any) -> list[str] | None:
    if option.name == "header" and isinstance(value, dict):  # a TOML table of headers
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _convert(option: Option, value: Any, where: str) -> Any:
    """Check and convert one config value the way the option would be."""
    key = option.name

    def fail(expected: str) -> UsageError:
        # The value is not shown: it may be a secret put in the wrong place.
        return UsageError(
            f"config file {where}: {key} must be {expected}, not a {type(value).__name__}"
        )

    if option.kind == "positional":
        if not isinstance(value, str):
            raise UsageError(f"config file {where}: {key} must be a string")
        return value
    if option.kind in ("flag", "count"):
        if key == "identity" and isinstance(value, str):
            raise UsageError(
                f"config file {where}: the identity header is a secret; set {ENV_IDENTITY}"
                " and write identity = true"
            )
        if option.flag != isinstance(value, bool) or not isinstance(value, int):
            raise fail("true or false" if option.flag else "a whole number")
        return value
    converted: Any
    try:
        if option.kind in ("append", "extend"):
            items = _toml_list(option, value)
            if items is None:
                raise fail("a string or a list of strings")
            converted = [option.parse(item) for item in items]
            if option.kind == "extend":  # each item gives a list
                converted = [v for values in converted for v in values]
        elif option.parse is parse_when and isinstance(value, datetime):
            converted = aware(value, str(value))
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and option.parse in _NUMBERS
        ):
            converted = option.parse(str(value))
        elif isinstance(value, str):
            converted = option.parse(value)
        else:
            raise fail("a string")
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"config file {where}: {key}: {e}") from None
    if option.choices is not None and converted not in option.choices:
        raise fail("one of " + ", ".join(option.choices))
    return converted
