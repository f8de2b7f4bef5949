"""Drop-in names for collector modules written for ``insights_analytics_collector``.

A collector module moves over by changing one import::

    from insights_analytics_collector import CsvFileSplitter, register
    # becomes
    from pipeline_collector.compat import CsvFileSplitter, register

AWX's in-tree module moves the same way (``from awx.main.analytics import
register`` becomes the line above): ``register`` takes AWX's ``expensive=``
and ``full_sync_interval=`` as well as the old library's keywords, and a
collector keyed ``config`` is the config collector when none says
``config=True``.  ``CsvFileSplitter`` keeps the old methods, attributes and
file names but counts bytes, never lets a file pass its limit when rows are
written whole, and leaves no stray files.  The old ``Collector`` and
``Package`` base classes have no counterpart: their hooks became arguments
of ``gather`` (see ``docs/migration.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..cli.links import doc
from ..stages.discover import register
from ..stages.positional import positional_slicer
from .splitter import MAX_DATA_SIZE, CsvFileSplitter

__all__ = [
    "MAX_DATA_SIZE",
    "CsvFileSplitter",
    "positional_slicer",
    "register",
    "slicing",
]

F = TypeVar("F", bound=Callable[..., Any])

_REPLACED = {
    "Collector": "gather(module, state=..., transport=..., lock=..., is_licensed=...)",
    "Package": "gather(module, transport=HttpTransport(...), max_data_size=..., prefix=...)",
    "CollectionCSV": "a CSV collector that returns file paths or yields rows",
    "CollectionJSON": "a JSON collector that returns a JSON-serialisable value",
}


def __getattr__(name: str) -> Any:
    # ImportError (not AttributeError) so that ``from ... import Collector``
    # shows this message instead of a bare "cannot import name".
    if name in _REPLACED:
        raise ImportError(
            f"pipeline_collector.compat has no {name}: subclasses of the old {name} are"
            f" replaced by {_REPLACED[name]}; see {doc('migration.md')}"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def slicing(default: bool = False) -> Callable[[F], F]:
    """Mark a slicing function as the old decorator did; nothing reads the mark.

    Kept so that modules using it import unchanged.

    >>> @slicing(default=True)
    ... def daily(key, last_gather, **kwargs): return []
    >>> daily.__insights_analytics_slicing_default__
    True
    """

    def decorate(func: F) -> F:
        func.__insights_analytics_slicing_name__ = func.__name__  # type: ignore[attr-defined]
        func.__insights_analytics_slicing_default__ = default  # type: ignore[attr-defined]
        return func

    return decorate
