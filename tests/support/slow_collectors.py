"""Collectors of which one never returns in time, importable by name.

``hangs`` sleeps ``SLOW_COLLECTORS_SECONDS`` (30 by default) before its rows;
``quick`` answers at once.  For the per-task time limit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from pipeline_collector import register

SECONDS = "SLOW_COLLECTORS_SECONDS"


@register("config", "1.0", description="the platform", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"platform": "test"}


@register("quick", "1.0", description="answers at once")
def quick(**kwargs: Any) -> dict[str, int]:
    return {"hosts": 3}


@register("hangs", "1.0", format="csv", description="sleeps past any sane limit")
def hangs(**kwargs: Any) -> Iterator[str]:
    time.sleep(float(os.environ.get(SECONDS, "30")))
    yield "id\n"
    yield "1\n"
