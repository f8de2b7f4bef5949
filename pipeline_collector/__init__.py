"""Collect analytics, cut them into parts, pack them into archives, ship them.

The pipeline, one module per stage::

    discover -> plan -> collect -> chunk -> archive -> ship

``gather`` composes them; each is usable on its own.  State, transport, lock
and clock come in as objects that fit the Protocols in ``protocols``.
"""

from . import slicers
from .archive import write_archive
from .chunk import cut, pack, split
from .collect import collect, csv_lines
from .compress import Compressor, default_compressor, get_compressor
from .discover import discover, register
from .errors import (
    CollectorError,
    ConfigurationError,
    LockError,
    PipelineError,
    ShipError,
    StateError,
)
from .gather import MAX_DATA_SIZE, MAX_UPLOAD_SIZE, gather, run_task
from .locks import FileLock, PostgresAdvisoryLock, crc32_key, hashtext_key, sha512_key
from .plan import collection_window, plan
from .protocols import Clock, Lock, StateStore, Transport
from .records import (
    Archive,
    Batch,
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
from .ship import ship
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
)

__version__ = "0.1.0"

__all__ = [
    "MAX_DATA_SIZE",
    "MAX_UPLOAD_SIZE",
    "Archive",
    "Auth",
    "BasicAuth",
    "Batch",
    "ClientCertAuth",
    "Clock",
    "Collection",
    "Collector",
    "CollectorError",
    "Compressor",
    "ConfigurationError",
    "Credentials",
    "DirectoryTransport",
    "FileLock",
    "HttpTransport",
    "IdentityAuth",
    "JsonFileStore",
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
    "Run",
    "S3Transport",
    "ShipError",
    "Shipment",
    "SqliteStore",
    "State",
    "StateError",
    "StateStore",
    "Task",
    "Transport",
    "Window",
    "collect",
    "collection_window",
    "crc32_key",
    "csv_lines",
    "cut",
    "default_compressor",
    "discover",
    "gather",
    "get_compressor",
    "hashtext_key",
    "pack",
    "plan",
    "register",
    "run_task",
    "sha512_key",
    "ship",
    "slicers",
    "split",
    "write_archive",
]
