"""Loading the user's code: the collector module and the gate functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, cast

from ..errors import ConfigurationError
from ..stages.modules import load_collector_module
from .exits import UsageError

__all__ = ["collector_module", "load_callable", "load_module"]


def load_module(name: str) -> ModuleType:
    """Import a collector module by import path (the current folder first) or by file path."""
    try:
        return load_collector_module(name, search_cwd=True)
    except ConfigurationError as e:
        raise UsageError(str(e)) from None


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
            " in the config file (pipeline-collector init mycollectors.py writes one to try)"
        )
    module = load_module(o["module"])
    subset = o.get("subset")
    return module, (list(subset) if subset else None)
