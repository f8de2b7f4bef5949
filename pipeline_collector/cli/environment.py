"""Settings from ``PIPELINE_COLLECTOR_<OPTION>`` variables, parsed like their flags.

A container or a CronJob sets a run up with environment variables alone:
each option of gather, plan and status has one (``declarations``), and its
value goes through the option's own converter, so ``50MiB``, ``4w`` or
``jobs,job_events`` mean what they mean on the command line.  A value that
does not parse stops the command with one line naming the variable.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping
from typing import Any, Final

from .declarations import ENV_CONFIG, ENV_PREFIX, Option, env_names, options_of
from .exits import UsageError
from .secrets import ENV_INGRESS_CLIENT_SECRET, ENV_INGRESS_PASSWORD

__all__ = ["BOOLEANS", "from_env", "parse_bool", "unknown_env"]

BOOLEANS: Final = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
"""The spellings of a boolean variable; any other is refused, never guessed."""


def parse_bool(text: str) -> bool:
    """``1``/``0``, ``true``/``false`` or ``yes``/``no``, in any case.

    >>> parse_bool("Yes"), parse_bool("0")
    (True, False)
    """
    value = BOOLEANS.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a boolean; write 1 or 0, true or false, yes or no"
        )
    return value


def from_env(env: Mapping[str, str], command: str) -> dict[str, Any]:
    """The settings ``command`` finds in ``env``, by option ``dest``.

    An empty variable counts as unset (templates often render one), and the
    config file's own variable is read by ``config.settings``.

    >>> from_env({"PIPELINE_COLLECTOR_MAX_DATA_SIZE": "1MiB", "PIPELINE_COLLECTOR_DIR": ""},
    ...          "gather")
    {'max_data_size': 1048576}
    """
    found: dict[str, Any] = {}
    for option in options_of(command):
        if option.name == "config" or not option.reads_env(command):
            continue
        assert option.env is not None
        raw = env.get(option.env)
        if raw is None or not raw.strip():
            continue
        try:
            found[option.dest] = _convert(option, raw)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"environment variable {option.env}: {e}") from None
    return found


def _convert(option: Option, raw: str) -> Any:
    """One variable's text as the option's value."""
    text = raw.strip()
    if option.flag:
        return parse_bool(text)
    if option.kind == "count":
        from .options import count

        return count(text)
    if option.kind == "append":  # one value per line: header values may hold commas
        return [option.parse(line.strip()) for line in text.splitlines() if line.strip()]
    value = option.parse(text)
    if option.choices is not None and value not in option.choices:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(option.choices)}")
    return value


def unknown_env(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each ``PIPELINE_COLLECTOR_*`` variable the command does not read, and the closest it does.

    A misspelt variable would be passed over in silence, and a misspelt
    ``..._STATE`` starts a run from scratch: the command warns of each.

    >>> unknown_env({"PIPELINE_COLLECTOR_SATE": "s.json", "PIPELINE_COLLECTOR_DIR": "out"})
    [('PIPELINE_COLLECTOR_SATE', 'PIPELINE_COLLECTOR_STATE')]
    """
    known = {*env_names(), ENV_CONFIG, ENV_INGRESS_PASSWORD, ENV_INGRESS_CLIENT_SECRET}
    # Compared without the prefix all share, so that only the option's own name counts.
    ours = sorted(k.removeprefix(ENV_PREFIX) for k in known if k.startswith(ENV_PREFIX))
    found = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), ours, 1, 0.6)
            found.append((name, ENV_PREFIX + close[0] if close else None))
    return found
