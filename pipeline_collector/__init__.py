"""Collect analytics, cut them into parts, pack them into archives, ship them.

The pipeline, one module per stage in ``pipeline_collector.stages``::

    discover -> plan -> collect -> chunk -> pack -> archive -> ship

``default_flow()`` is that pipeline as a value (``pipeline_collector.run.flow``):
add a step after or before a named one, or replace one, and hand the flow to
``gather(..., flow=...)``, which keeps the run's guarantees whatever the flow
(``pipeline_collector.run.runner``).  ``RunConfig`` holds one run's settings,
every default once.  ``chunk`` and ``archive`` are the stages alone, on one's
own rows.  State, transport, lock and clock come in as objects that fit the
Protocols in ``protocols``.

The adapters (locks, stores, transports) are imported when first used, so
that ``import pipeline_collector`` stays cheap for a run that needs none of
them (``requests`` and the database drivers are not loaded until then).
"""

import typing as _typing

from . import slicers
from .compress import default_compressor, get_compressor
from .config import MAX_DATA_SIZE, MAX_UPLOAD_SIZE, Limits, RunConfig
from .errors import (
    CollectorError,
    ConfigurationError,
    LockError,
    PipelineError,
    ShipError,
    StateError,
    UnrecordedError,
)
from .protocols import Clock, Compressor, Lock, SharedStateStore, StateStore, Transport
from .records import (
    Archive,
    Batch,
    Change,
    Collection,
    Collector,
    Part,
    Plan,
    Problem,
    Receipt,
    Run,
    Shipment,
    State,
    Task,
    Window,
)
from .run.flow import Flow, Step, default_flow, step
from .run.row_steps import filter_rows, map_rows
from .run.runner import gather
from .run.settings import Context, Settings
from .run.steps import run_task
from .stages.archive import archive, write_archive
from .stages.chunk import chunk, cut, split
from .stages.collect import Collected, collect, csv_lines
from .stages.discover import discover, register
from .stages.pack import pack
from .stages.plan import collection_window, plan
from .stages.rows import Rows
from .stages.ship import ship

if _typing.TYPE_CHECKING:
    from .locks import FileLock, PostgresAdvisoryLock, crc32_key, hashtext_key, sha512_key
    from .stores import JsonFileStore, PostgresStore, SqliteStore
    from .transports import (
        Auth,
        BasicAuth,
        ClientCertAuth,
        Credentials,
        DirectoryTransport,
        HttpTransport,
        IdentityAuth,
        OAuth2ClientCredentials,
        RetryPolicy,
        S3Transport,
        Verdict,
        preflight,
    )

_LAZY = {
    **dict.fromkeys(
        ("FileLock", "PostgresAdvisoryLock", "crc32_key", "hashtext_key", "sha512_key"), "locks"
    ),
    **dict.fromkeys(("JsonFileStore", "PostgresStore", "SqliteStore"), "stores"),
    **dict.fromkeys(
        (
            "Auth",
            "BasicAuth",
            "ClientCertAuth",
            "Credentials",
            "DirectoryTransport",
            "HttpTransport",
            "IdentityAuth",
            "OAuth2ClientCredentials",
            "RetryPolicy",
            "S3Transport",
            "Verdict",
            "preflight",
        ),
        "transports",
    ),
}


def __getattr__(name: str) -> _typing.Any:
    """Import an adapter's module on first use of one of its names."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

__all__ = [
    "MAX_DATA_SIZE",
    "MAX_UPLOAD_SIZE",
    "Archive",
    "Auth",
    "BasicAuth",
    "Batch",
    "Change",
    "ClientCertAuth",
    "Clock",
    "Collected",
    "Collection",
    "Collector",
    "CollectorError",
    "Compressor",
    "ConfigurationError",
    "Context",
    "Credentials",
    "DirectoryTransport",
    "FileLock",
    "Flow",
    "HttpTransport",
    "IdentityAuth",
    "JsonFileStore",
    "Limits",
    "Lock",
    "LockError",
    "OAuth2ClientCredentials",
    "Part",
    "PipelineError",
    "Plan",
    "PostgresAdvisoryLock",
    "PostgresStore",
    "Problem",
    "Receipt",
    "RetryPolicy",
    "Rows",
    "Run",
    "RunConfig",
    "S3Transport",
    "Settings",
    "SharedStateStore",
    "ShipError",
    "Shipment",
    "SqliteStore",
    "State",
    "StateError",
    "StateStore",
    "Step",
    "Task",
    "Transport",
    "UnrecordedError",
    "Verdict",
    "Window",
    "archive",
    "chunk",
    "collect",
    "collection_window",
    "crc32_key",
    "csv_lines",
    "cut",
    "default_compressor",
    "default_flow",
    "discover",
    "filter_rows",
    "gather",
    "get_compressor",
    "hashtext_key",
    "map_rows",
    "pack",
    "plan",
    "preflight",
    "register",
    "run_task",
    "sha512_key",
    "ship",
    "slicers",
    "split",
    "step",
    "write_archive",
]
