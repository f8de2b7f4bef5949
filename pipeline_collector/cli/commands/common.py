"""What gather and plan share: their settings, their console, how errors end them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import Any

from ...config import RunConfig
from ...errors import (
    ConfigurationError,
    PipelineError,
    StateError,
    UnrecordedError,
    describe_exception,
)
from ...log import logger
from ..config import settings
from ..console import Console, make_console, routed_logs
from ..declarations import SECRET_ENV, SETTINGS_COMMANDS
from ..effects import cli_words
from ..environment import unknown_env
from ..exits import EXIT_PARTIAL, EXIT_STATE, EXIT_UNRECORDED, EXIT_USAGE, UsageError
from ..secrets import redactor_from_env

__all__ = ["Work", "run_command", "run_config"]

Work = Callable[[Mapping[str, Any], Console, Mapping[str, str]], int]
"""A command's work: its settings, its console and the environment -> the exit code."""


def run_command(
    args: argparse.Namespace,
    command: str,
    work: Work,
    *,
    quiet: bool = False,
    with_progress: bool = False,
) -> int:
    """Settle ``command``'s settings, route the logs, do ``work``, turn errors into exits."""
    env = os.environ
    redactor = redactor_from_env(env, SECRET_ENV)
    try:
        o = settings(args, command, env)
    except UsageError as e:
        return make_console({}, redactor).error(str(e), EXIT_USAGE)
    console = make_console(o, redactor, quiet=quiet)
    with routed_logs(console, with_progress=with_progress):
        if command in SETTINGS_COMMANDS:
            for name, closest in unknown_env(env):
                logger("cli").warning(
                    "env.unknown",
                    variable=name,
                    closest=closest,
                    reason="not a variable this command reads; it is ignored"
                    + (f" (did you mean {closest}?)" if closest else ""),
                )
        try:
            return work(o, console, env)
        except (UsageError, ConfigurationError) as e:
            return console.error(str(e), EXIT_USAGE)
        except UnrecordedError as e:  # delivered, not recorded: a retry would resend it
            return console.error(describe_exception(e), EXIT_UNRECORDED)
        except StateError as e:  # a retry would meet the same state: fix the store first
            return console.error(describe_exception(e), EXIT_STATE)
        except PipelineError as e:
            return console.error(describe_exception(e), EXIT_PARTIAL)


def run_config(o: Mapping[str, Any], **given: Any) -> RunConfig:
    """The run's ``RunConfig`` from the settled options (flag, environment, config file).

    Only what was given is passed on, so every default is the record's own;
    an error names the option (``--max-data-size``), not the Python field.
    """
    values = {name: o.get(name) for name in RunConfig.setting_names()}
    values.update(given)
    try:
        return RunConfig.from_values(**values)
    except ConfigurationError as e:
        raise UsageError(cli_words(str(e))) from None
