"""What gather and plan share: their settings, their console, how errors end them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ConfigurationError, PipelineError, UnrecordedError
from ..config import settings
from ..console import Console, make_console, routed_logs
from ..declarations import SECRET_ENV
from ..exits import EXIT_PARTIAL, EXIT_UNRECORDED, EXIT_USAGE, UsageError
from ..secrets import redactor_from_env

__all__ = ["Work", "run_command"]

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
        try:
            return work(o, console, env)
        except (UsageError, ConfigurationError) as e:
            return console.error(str(e), EXIT_USAGE)
        except UnrecordedError as e:  # delivered, not recorded: a retry would resend it
            return console.error(f"{type(e).__name__}: {e}", EXIT_UNRECORDED)
        except PipelineError as e:
            return console.error(f"{type(e).__name__}: {e}", EXIT_PARTIAL)
