"""Structured loggers, one per stage."""

from __future__ import annotations

from typing import Any

import structlog


def logger(stage: str, **fields: Any) -> Any:
    """Return a structlog logger bound with ``stage=<stage>``."""
    return structlog.get_logger("pipeline_collector").bind(stage=stage, **fields)
