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
    """How to run this command from here: its name when ``PATH`` finds this one, else a path.

    ``pipeline-collector`` when that name on ``PATH`` is this installation's
    (beside this interpreter); else the script as it was run
    (``/opt/env/bin/pipeline-collector``); else ``<python> -m pipeline_collector``.

    >>> invocation().endswith(("pipeline-collector", "-m pipeline_collector"))
    True
    """
    found = shutil.which(COMMAND)
    here = Path(sys.executable).absolute().parent
    if found is not None and Path(found).absolute().parent == here:
        return COMMAND
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == COMMAND and script.is_file():
        return shown_path(script)
    python = Path(sys.executable).absolute()
    on_path = shutil.which(python.name)
    if on_path is not None and Path(on_path).absolute() == python:
        return f"{python.name} -m pipeline_collector"  # the python the PATH finds first
    return f"{shown_path(python)} -m pipeline_collector"
