"""Stage 1, discover: find registered collector functions and validate them.

A collector is a plain function carrying metadata set by ``register``.  The
metadata is stored under the attribute names the old
``insights_analytics_collector.register`` used, so functions decorated by
either library are found, and a module moves over by changing its import.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, TypeAlias, TypeVar, cast

from ..errors import ConfigurationError
from ..log import logger
from ..records import Collector, Format, Slicer
from .modules import load_collector_module
from .positional import positional_slicer

F = TypeVar("F", bound=Callable[..., Any])

Source: TypeAlias = "ModuleType | str | os.PathLike[str] | Iterable[Callable[..., Any]]"
"""Where collectors come from: a module, its import path or file, or the functions."""

KEY = re.compile(r"^[a-z][a-z0-9_]*\Z")
VERSION = re.compile(r"^\d+\.\d+\Z")
FORMATS: tuple[Format, ...] = ("json", "csv")
_ATTR = "__insights_analytics_{}__"
_FIELDS = (
    "key",
    "version",
    "description",
    "type",
    "config",
    "fnc_slicing",
    "shipping_group",
    "full_sync_interval_days",
    "none_is_empty",
    "dynamic_columns",
)
# The keywords every collector is called with (stages.collect).
CALL_KEYWORDS = ("since", "until", "full_path", "max_data_size", "collection_type")
# Members every archive has of its own: no collector may produce one of these names.
RESERVED = frozenset({"config", "manifest", "data_collection_status"})

log = logger("discover")


def register(
    key: str,
    version: str | int,
    description: str | None = None,
    format: str = "json",
    config: bool = False,
    fnc_slicing: Slicer | None = None,
    shipping_group: str = "default",
    full_sync_interval_days: int | None = None,
    none_is_empty: bool = False,
    dynamic_columns: bool = False,
    *,
    expensive: Callable[..., Iterable[Any]] | None = None,
    full_sync_interval: int | None = None,
) -> Callable[[F], F]:
    """Mark a function as a collector; the keyword names are the old ones, or AWX's.

    ``none_is_empty=True`` says that ``None`` from this CSV collector means
    "no data"; by default it is a failure of the window (docs/contract.md, 1).
    ``dynamic_columns=True`` says that this CSV collector's columns may change
    under one version, so the schema guard leaves it alone.
    AWX's ``expensive=`` is a slicer called by position
    (``positional_slicer``), its ``full_sync_interval=`` the full-sync
    interval in days; a collector keyed ``config`` in a module where none
    says ``config=True`` is the config collector, as AWX finds it.

    >>> @register("config", "1.0", config=True)
    ... def config(**kwargs): return {"version": "2.4"}
    >>> read(config).key
    'config'
    """
    if expensive is not None:
        if fnc_slicing is not None:
            raise ConfigurationError(
                f"collector {key!r}: give fnc_slicing= or AWX's expensive=, not both"
            )
        if not callable(expensive):
            raise ConfigurationError(f"collector {key!r}: expensive={expensive!r} is not callable")
        fnc_slicing = positional_slicer(expensive)
    if full_sync_interval is not None:
        if full_sync_interval_days is not None:
            raise ConfigurationError(
                f"collector {key!r}: give full_sync_interval_days= or AWX's"
                " full_sync_interval=, not both"
            )
        full_sync_interval_days = full_sync_interval
    values = (
        key,
        version,  # checked by read(); AWX's docstring has register('x', 1)
        None if description is None else str(description),  # AWX passes gettext_lazy text
        format,
        config,
        fnc_slicing,
        shipping_group,
        full_sync_interval_days,
        none_is_empty,
        dynamic_columns,
    )

    def decorate(func: F) -> F:
        for name, value in zip(_FIELDS, values, strict=True):
            setattr(func, _ATTR.format(name), value)
        return func

    return decorate


def is_collector(obj: object) -> bool:
    """Tell whether ``obj`` carries collector metadata."""
    return callable(obj) and hasattr(obj, _ATTR.format("key"))


def read(func: Callable[..., Any], *, as_config: bool | None = None) -> Collector:
    """Build a validated ``Collector`` record from a registered function.

    ``as_config`` overrides what the function says of ``config=True``: AWX
    finds its config collector by the key ``config``, and a module that
    marks several keeps only the one keyed ``config`` (``_config_choice``).
    """

    def get(name: str, default: Any = None) -> Any:
        return getattr(func, _ATTR.format(name), default)

    key = get("key")
    label = getattr(func, "__qualname__", repr(func))
    if not isinstance(key, str) or not KEY.match(key):
        raise ConfigurationError(
            f"collector {label}: key {key!r} must match {KEY.pattern[:-2]}$ "
            "(lower-case letters, digits and '_', starting with a letter)"
        )
    version = _version(key, get("version"))
    fmt = get("type", "json")
    if fmt not in FORMATS:
        raise ConfigurationError(f"collector {key!r}: format {fmt!r} must be one of {FORMATS}")
    is_config = bool(get("config", False)) if as_config is None else as_config
    if not is_config and key in RESERVED:
        raise ConfigurationError(
            f"collector {key!r}: the key is reserved, every archive has a ./{key} member of its"
            f" own; choose another key (reserved: {sorted(RESERVED)})"
        )
    if is_config and fmt != "json":
        raise ConfigurationError(f"collector {key!r}: the config collector must be json")
    slicer = get("fnc_slicing")
    if slicer is not None and not callable(slicer):
        raise ConfigurationError(f"collector {key!r}: fnc_slicing {slicer!r} is not callable")
    days = get("full_sync_interval_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days <= 0):
        raise ConfigurationError(
            f"collector {key!r}: full_sync_interval_days {days!r} must be a positive integer"
        )
    group = get("shipping_group") or "default"
    if not isinstance(group, str):
        raise ConfigurationError(f"collector {key!r}: shipping_group {group!r} must be a string")
    check_signature(func, key)
    return Collector(
        key=key,
        version=version,
        func=func,
        format=cast(Format, fmt),
        description=get("description") or "",
        config=is_config,
        slicer=slicer,
        shipping_group=group,
        full_sync_interval_days=days,
        none_is_empty=bool(get("none_is_empty", False)),
        dynamic_columns=bool(get("dynamic_columns", False)),
    )


def check_signature(func: Callable[..., Any], key: str) -> None:
    """``func`` can be called with the ``CALL_KEYWORDS``; else say so now, not mid-run.

    >>> def jobs(since, until): ...
    >>> check_signature(jobs, "jobs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: collector 'jobs' (jobs) does not take full_path...
    """
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): trust it
        return
    name = getattr(func, "__name__", key)
    label = f"collector {key!r} ({getattr(func, '__qualname__', name)})"
    by_keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        missing = [k for k in CALL_KEYWORDS if k not in by_keyword]
        if missing:
            raise ConfigurationError(
                f"{label} does not take {', '.join(missing)}, which every collector is called"
                f" with; add **kwargs: def {name}(since, until, **kwargs)"
            )
    for p in params:
        never_passed = p.kind is p.POSITIONAL_ONLY or (
            p.name not in CALL_KEYWORDS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        if never_passed and p.default is p.empty:
            raise ConfigurationError(
                f"{label} requires {p.name!r}, which the pipeline never passes (it calls"
                f" collectors with the keywords {', '.join(CALL_KEYWORDS)}); give it a default"
            )


def _version(key: object, value: object) -> str:
    """``value`` as ``MAJOR.MINOR``; a whole number (AWX's ``register('x', 1)``) is ``N.0``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        widened = f"{value}.0"
        log.warning(
            "collector.version_widened",
            key=key,
            version=value,
            written=widened,
            reason="the manifest holds MAJOR.MINOR versions; a whole number N is written N.0",
        )
        return widened
    version = value if isinstance(value, str) else ""
    if not VERSION.match(version):
        raise ConfigurationError(
            f"collector {key!r}: version {value!r} must be 'MAJOR.MINOR' (for example '1.0')"
        )
    return version


def _config_choice(funcs: list[Callable[..., Any]], where: str) -> dict[int, bool]:
    """Which functions are config collectors where the module says otherwise.

    None saying ``config=True``: the one keyed ``config`` is, as AWX finds it.
    Several saying it (galaxy_ng's Lightspeed module): the one keyed ``config``
    is, the others ship as ordinary JSON collectors; the old library kept the
    last by name and dropped the rest unsent.  Returned by ``id`` of function.
    """

    def attr(f: Callable[..., Any], name: str) -> Any:
        return getattr(f, _ATTR.format(name), None)

    marked = [f for f in funcs if attr(f, "config")]
    keyed = [f for f in funcs if attr(f, "key") == "config"]
    if not marked:
        for f in keyed:
            log.warning(
                "config.found_by_key",
                key="config",
                collector=getattr(f, "__qualname__", repr(f)),
                source=where,
                reason="no collector says config=True; the one keyed 'config' is taken",
            )
        return {id(f): True for f in keyed}
    if len(marked) > 1 and len(keyed) == 1 and keyed[0] in marked:
        others = [f for f in marked if f is not keyed[0]]
        log.warning(
            "config.several",
            key="config",
            others=[attr(f, "key") for f in others],
            source=where,
            reason="several collectors say config=True; the one keyed 'config' is the config,"
            " the others ship as JSON collectors",
        )
        return {id(f): False for f in others}
    return {}


def discover(source: Source, subset: Iterable[str] | None = None) -> tuple[Collector, ...]:
    """Return the collectors of a module or iterable, validated, config first.

    ``source`` is a module, its import path (``"mypackage.collectors"``) or
    its file (``"mycollectors.py"``), or an iterable of registered functions.
    A module's collectors are taken in the order of their function names, as
    the old library did, so the same module packs the same way.  ``subset``
    keeps only those keys (the config collector is always kept).
    """
    if isinstance(source, (str, os.PathLike)):
        source = load_collector_module(source)
    if isinstance(source, ModuleType):
        funcs = [f for _, f in inspect.getmembers(source) if is_collector(f)]
        where = source.__name__
        if not funcs:
            raise ConfigurationError(
                f"module {where} has no registered collectors: define functions decorated"
                " with @register at its top level (a function that makes collectors must be"
                " called, and its result passed instead)"
            )
    elif isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise ConfigurationError(
            f"{source!r} is not a collector module nor an iterable of registered collectors"
        )
    else:
        funcs = list(source)
        where = "the given functions"
        for f in funcs:
            if not is_collector(f):
                raise ConfigurationError(f"{f!r} is not a registered collector (use @register)")
    choice = _config_choice(funcs, where)
    collectors = [read(f, as_config=choice.get(id(f))) for f in funcs]
    seen: dict[str, Collector] = {}
    for c in collectors:
        if c.key in seen:
            raise ConfigurationError(f"collector key {c.key!r} is registered twice in {where}")
        seen[c.key] = c
    configs = [c for c in collectors if c.config]
    if len(configs) != 1:
        found = ", ".join(repr(c.key) for c in configs) or "none"
        raise ConfigurationError(
            f"exactly one config collector (config=True, format='json') is required in {where};"
            f" found {found}"
        )
    wanted = None if subset is None else set(subset)
    if wanted is not None:
        # Keys, or function names as the old library took them.
        known = set(seen) | {getattr(c.func, "__name__", c.key) for c in collectors}
        unknown = wanted - known
        if unknown:
            raise ConfigurationError(f"subset names unknown collector keys: {sorted(unknown)}")
    chosen = [
        c
        for c in collectors
        if not c.config
        and (wanted is None or c.key in wanted or getattr(c.func, "__name__", None) in wanted)
    ]
    result = (configs[0], *chosen)
    log.debug("collectors.found", source=where, keys=[c.key for c in result])
    return result
