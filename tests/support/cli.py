"""The command line as a user runs it: ``python -m pipeline_collector`` in a subprocess.

Every test that runs the command starts from this process's environment
without any ``PIPELINE_COLLECTOR_*`` variable, so a variable set where the
tests run never changes what a test sees; the test adds its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ROOT", "clean_env", "run_cli"]

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without ``PIPELINE_COLLECTOR_*`` variables, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline_collector ARGS`` with exactly ``env``'s ``PIPELINE_COLLECTOR_*``."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline_collector", *args],
        capture_output=True,
        text=True,
        env=clean_env(**(env or {})),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
