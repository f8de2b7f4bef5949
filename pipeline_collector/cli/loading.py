"""Loading the user's code: the collector module and the gate functions."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from ..errors import describe_exception, message_of
from .exits import UsageError

__all__ = ["collector_module", "load_callable", "load_module"]


def load_module(name: str) -> ModuleType:
    """Import a collector module by import path or by file path."""
    if name.endswith(".py") or os.sep in name or (os.altsep and os.altsep in name):
        return _load_file(name)
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise UsageError(f"cannot import collector module {name!r}: {message_of(e)}") from None
    except Exception as e:
        raise UsageError(f"importing {name} failed: {describe_exception(e)}") from None


def _load_file(name: str) -> ModuleType:
    """A module from a file, its folder put on the path for its own imports."""
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
        raise UsageError(f"importing {name} failed: {describe_exception(e)}") from None
    return module


def load_callable(spec: str, option: str) -> Callable[[], bool]:
    """``module:function`` (module by import or file path) -> the function."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{option} {spec!r}: expected MODULE:FUNCTION")
    func = getattr(load_module(module_name), attr, None)
    if not callable(func):
        raise UsageError(f"{option} {spec!r}: {attr} is not a function of {module_name}")
    return cast(Callable[[], bool], func)


def collector_module(o: Mapping[str, Any]) -> tuple[ModuleType, list[str] | None]:
    """The collector module the options name, and the keys of ``--subset`` if any."""
    if not o.get("module"):
        raise UsageError(
            "name a collector module: MODULE, PIPELINE_COLLECTOR_MODULE, or module = ..."
            " in the config file"
        )
    module = load_module(o["module"])
    subset = o.get("subset")
    return module, (list(subset) if subset else None)
