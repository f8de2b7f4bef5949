"""What every part of ``PIPELINE_COLLECTOR`` is read with: where a value sits, and objects.

An error names the key it came from (``PIPELINE_COLLECTOR['TRANSPORT']['URL']``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError

__all__ = ["SETTING", "keys", "load", "obj", "where"]

SETTING = "PIPELINE_COLLECTOR"


def where(key: str, sub: str | None = None) -> str:
    return f"{SETTING}[{key!r}]" + (f"[{sub!r}]" if sub else "")


def load(path: str, where: str) -> Any:
    """``package.module.name`` (or ``package.module:name``) -> the object."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigurationError(f"{where}: cannot import {path!r}: {e}") from None


def obj(value: Any, where: str, fits: Callable[[Any], bool], what: str) -> Any:
    """An object that ``fits``: given, at a dotted path, or made by a callable found either way."""
    if isinstance(value, str):
        value = load(value, where)
    if not fits(value) and callable(value):
        try:
            value = value()
        except (ConfigurationError, TypeError) as e:
            raise ConfigurationError(f"{where}: {e}") from None
    if not fits(value):
        raise ConfigurationError(f"{where}: expected {what}, got {type(value).__name__}")
    return value


def keys(block: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(block) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
