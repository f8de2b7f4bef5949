"""A ``State`` as the rows of a key/value table: what the SQLite and PostgreSQL stores hold.

``last_gather``, ``entry:<key>`` and ``extra:<name>`` rows; a tenant's rows
start with ``ns:<namespace>:``, so tenants share one table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..errors import StateError
from ..records import Change, State
from .codec import decode_state_json, format_datetime, parse_at, stored_text

__all__ = ["change_to_rows", "row_prefix", "rows_in", "state_from_rows", "state_to_rows"]

_LAST_GATHER = "last_gather"
_ENTRY = "entry:"
_EXTRA = "extra:"


def state_to_rows(state: State) -> list[tuple[str, str]]:
    """The ``(key, value)`` rows that hold ``state`` in a table.

    >>> from pipeline_collector.book.codec import parse_datetime
    >>> at = parse_datetime("2026-11-27T10:00:00Z")
    >>> for row in state_to_rows(State(last_gather=at, entries={"jobs": at}, extra={"n": [1]})):
    ...     print(row)
    ('last_gather', '2026-11-27T10:00:00+00:00')
    ('entry:jobs', '2026-11-27T10:00:00+00:00')
    ('extra:n', '[1]')
    """
    return change_to_rows(
        Change(entries=state.entries, last_gather=state.last_gather, extra=state.extra)
    )


def change_to_rows(change: Change) -> list[tuple[str, str]]:
    """The rows a table store writes for ``change``: one per item it sets."""
    rows: list[tuple[str, str]] = []
    if change.last_gather is not None:
        rows.append((_LAST_GATHER, format_datetime(change.last_gather)))
    rows.extend((_ENTRY + key, format_datetime(at)) for key, at in change.entries.items())
    for name, value in change.extra.items():
        try:
            rows.append((_EXTRA + name, json.dumps(value, sort_keys=True)))
        except (TypeError, ValueError) as exc:
            raise StateError(f"extra[{name!r}] cannot be stored as JSON: {exc}") from None
    return rows


_TENANT = "ns:"  # rows of a namespace start with "ns:<namespace>:"


def row_prefix(namespace: str | None) -> str:
    """What the rows of ``namespace`` start with in a shared table (nothing for the store's own).

    >>> row_prefix(None), row_prefix("tenant-a")
    ('', 'ns:tenant-a:')
    """
    return "" if namespace is None else f"{_TENANT}{namespace}:"


def rows_in(
    rows: list[tuple[Any, Any]], namespace: str | None, where: str = "state table"
) -> list[tuple[str, Any]]:
    """The rows of ``namespace`` among a table's, without their prefix.

    >>> rows = [("last_gather", "a"), ("ns:t1:last_gather", "b"), ("ns:t10:entry:x", "c")]
    >>> rows_in(rows, None), rows_in(rows, "t1")
    ([('last_gather', 'a')], [('last_gather', 'b')])
    """
    named = [(stored_text(k, f"{where}: a row's key"), v) for k, v in rows]
    if namespace is None:
        return [(k, v) for k, v in named if not k.startswith(_TENANT)]
    prefix = row_prefix(namespace)
    return [(k[len(prefix) :], v) for k, v in named if k.startswith(prefix)]


def state_from_rows(rows: list[tuple[Any, Any]], where: str) -> State:
    """Build a State from a table's rows; an unknown or unreadable row is a ``StateError``.

    >>> state = state_from_rows([("entry:jobs", "2026-11-27T10:00:00Z"), ("extra:n", "[1]")], "t")
    >>> (state.last_gather, state.entries["jobs"].isoformat(), dict(state.extra))
    (None, '2026-11-27T10:00:00+00:00', {'n': [1]})
    >>> state_from_rows([("colour", "blue")], "t")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.StateError: t: unknown row 'colour'
    """
    last_gather = None
    entries: dict[str, datetime] = {}
    extra: dict[str, Any] = {}
    for raw_key, raw_value in rows:
        key = stored_text(raw_key, f"{where}: a row's key")
        value = stored_text(raw_value, f"{where}: {key}")
        if key == _LAST_GATHER:
            last_gather = parse_at(value, f"{where}: {key}")
        elif key.startswith(_ENTRY):
            entries[key[len(_ENTRY) :]] = parse_at(value, f"{where}: {key}")
        elif key.startswith(_EXTRA):
            extra[key[len(_EXTRA) :]] = decode_state_json(value, f"{where}: {key}")
        else:
            raise StateError(f"{where}: unknown row {key!r}")
    return State(last_gather=last_gather, entries=entries, extra=extra)
