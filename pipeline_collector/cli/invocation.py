"""How to run this command again, as the person reading its output can.

A hint such as ``pipeline-collector inspect ...`` helps only where that name
is on ``PATH`` and is this installation's; run as ``.venv/bin/python
examples/quickstart.py`` it is not, and the hint must say
``.venv/bin/python -m pipeline_collector inspect ...`` instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["COMMAND", "invocation", "shown_path"]

COMMAND = "pipeline-collector"


def shown_path(path: Path) -> str:
    """``path`` relative to the current folder when it is under it, else as it is.

    Links are not followed: ``.venv/bin/python`` stays that, whatever it points to.
    """
    try:
        here = os.getcwd()
    except OSError:
        return str(path)
    absolute = os.path.abspath(path)
    inside = os.path.commonpath([absolute, here]) == here
    return os.path.relpath(absolute, here) if inside else str(path)


def invocation() -> str:
    """``pipeline-collector`` when it is on ``PATH`` beside this interpreter, else ``python -m``.

    >>> invocation().endswith(("pipeline-collector", "-m pipeline_collector"))
    True
    """
    found = shutil.which(COMMAND)
    here = Path(sys.executable).absolute().parent
    if found is not None and Path(found).absolute().parent == here:
        return COMMAND
    python = Path(sys.executable).absolute()
    on_path = shutil.which(python.name)
    if on_path is not None and Path(on_path).absolute() == python:
        return f"{python.name} -m pipeline_collector"  # the python the PATH finds first
    return f"{shown_path(python)} -m pipeline_collector"
