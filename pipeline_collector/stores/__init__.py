"""State stores: where bookkeeping lives between runs.

Each store fits the ``StateStore`` protocol: ``load()`` returns the saved
``State`` (an empty one when nothing was ever saved) and raises ``StateError``
when what is stored cannot be read, so that an unreadable state never passes
for an empty one (which would re-send four weeks of data); ``save(state)``
replaces the whole state at once, so a crash or a concurrent writer never
leaves half of one state mixed with half of another.  Each store here also
takes ``update(change)`` (``SharedStateStore``): only the items a run moved
are written, merged into what is stored now, so tenants and runs sharing a
store never undo each other's saves; and a ``namespace`` that keeps each
tenant's state apart.

``codec`` says how a state is written down (datetimes, documents, rows);
``json_file``, ``sqlite`` and ``postgres`` are the stores, and ``settings``
keeps the state in a service's own settings, as the old library's hooks did.
"""

from __future__ import annotations

from ..book.codec import DEFAULT_TABLE, format_datetime, parse_datetime
from .json_file import JsonFileStore
from .postgres import PostgresStore
from .settings import SettingsStore
from .sqlite import SqliteStore

__all__ = [
    "DEFAULT_TABLE",
    "JsonFileStore",
    "PostgresStore",
    "SettingsStore",
    "SqliteStore",
    "format_datetime",
    "parse_datetime",
]
