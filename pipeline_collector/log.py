"""Structured loggers, one per stage."""

from __future__ import annotations

from typing import Any

import structlog


def logger(stage: str, **fields: Any) -> Any:
    """Return a structlog logger bound with ``stage=<stage>``.

    The logger is lazy: it looks up structlog's configuration when it first
    logs, so a service may configure structlog after importing this library.
    """
    return structlog.get_logger("pipeline_collector", stage=stage, **fields)
