"""AWX-style slicers, ``slicer(key, since, until, last_gather, **kwargs)``, called by position.

AWX calls its slicers with ``since=None`` unless an operator asked for one:
the slicer then finds its own start (from the entries, or the table's oldest
row for a full sync).  ``positional_slicer`` adapts one to the keyword form
and marks it, so the plan calls it with AWX's meaning (docs/contract.md, 2).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

__all__ = ["POSITIONAL", "accepts", "positional_slicer"]

#: Marks a slicer called AWX's way: it gets ``since=None`` unless the run was
#: given one, and finds its own start.
POSITIONAL = "__pipeline_collector_positional__"


def accepts(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func`` takes a keyword ``name`` (or any keyword); unknown signatures do."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD or p.name == name for p in params)


def positional_slicer(
    fn: Callable[..., Iterable[Any]],
) -> Callable[..., Iterable[Any]]:
    """Adapt an AWX-style slicer ``fn(key, since, until, last_gather)`` to the contract form.

    The result is called as ``slicer(key, last_gather, since=..., until=...,
    full_sync_enabled=...)`` and marked, so the plan passes ``since=None``
    unless the run was given one (AWX's own convention: the slicer then
    starts from its entries).  ``full_sync_enabled`` reaches ``fn`` as a
    keyword when ``fn`` takes it (AWX's slicers take ``**kwargs``).

    >>> def awx(key, since, until, last_gather):
    ...     return [(key, since, until, last_gather)]
    >>> list(positional_slicer(awx)("jobs", "LG", since="S", until="U"))
    [('jobs', 'S', 'U', 'LG')]
    """
    if getattr(fn, POSITIONAL, False):
        return fn
    passes_full = accepts(fn, "full_sync_enabled")

    def slicer(
        key: str,
        last_gather: datetime | None,
        since: datetime | None = None,
        until: datetime | None = None,
        full_sync_enabled: bool = False,
        **kwargs: Any,
    ) -> Iterable[Any]:
        if passes_full:
            return fn(key, since, until, last_gather, full_sync_enabled=full_sync_enabled)
        return fn(key, since, until, last_gather)

    slicer.__name__ = getattr(fn, "__name__", "slicer")
    slicer.__qualname__ = getattr(fn, "__qualname__", slicer.__name__)
    slicer.__doc__ = fn.__doc__
    slicer.__wrapped__ = fn  # type: ignore[attr-defined]
    setattr(slicer, POSITIONAL, True)
    return slicer
