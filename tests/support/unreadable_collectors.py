"""Collectors whose exceptions cannot be read: ``str()`` of what they raise raises.

Importable by name, so that a process pool's workers can run them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pipeline_collector import register


class Unreadable(Exception):
    """An exception whose message cannot be read."""

    def __str__(self) -> str:
        raise KeyError("no message here")

    def __reduce__(self) -> tuple[type[Unreadable], tuple[()]]:
        return (Unreadable, ())


@register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"platform": "test"}


@register("broken", "1.0")
def broken(**kwargs: Any) -> dict[str, Any]:
    raise Unreadable


@register("broken_rows", "1.0", format="csv")
def broken_rows(**kwargs: Any) -> Iterator[str]:
    yield "id\n"
    yield "1\n"
    raise Unreadable


def _unreadable_slicer(key: str, last_gather: datetime | None, **kwargs: Any) -> Iterator[Any]:
    raise Unreadable


@register("sliced", "1.0", fnc_slicing=_unreadable_slicer)
def sliced(**kwargs: Any) -> dict[str, Any]:
    return {"n": 1}


@register("fine", "1.0")
def fine(since: datetime, until: datetime, **kwargs: Any) -> dict[str, Any]:
    return {"hours": (until - since) // timedelta(hours=1)}
