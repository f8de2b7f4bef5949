"""The schema record: per CSV key and version, the header it last shipped.

The cloud parses each CSV member by the version ``manifest.json`` gives it,
so a header that changes while the version stays the same breaks its parser,
and an operator learns of it weeks later.  The state remembers, per key and
version, the columns of the last confirmed upload, in
``State.extra["schemas"]``::

    {"jobs": {"1.0": ["id", "created"], "1.1": ["id", "created", "host"]}}

A header longer than ``MAX_HEADER`` bytes is kept as ``"sha256:<hex>"`` of
its bytes, and only the ``KEEP_VERSIONS`` highest versions of a key are
kept, so the record stays small however long the service runs.  The guard
that reads it is ``stages.guard``; the bookkeeper writes it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..records import Batch, State

__all__ = [
    "KEEP_VERSIONS",
    "MAX_HEADER",
    "SCHEMAS",
    "Header",
    "Schemas",
    "describe",
    "header_of",
    "learn",
    "read_schemas",
    "remember",
    "shipped_headers",
]

SCHEMAS = "schemas"  # the name in ``State.extra``
KEEP_VERSIONS = 5  # versions kept per key: the highest ones
MAX_HEADER = 16 * 1024  # bytes of header kept as columns; a longer one is kept by digest

Header = tuple[str, ...] | str
"""A header's columns, or ``"sha256:<hex>"`` of a header too long to keep."""

Schemas = Mapping[str, Mapping[str, Header]]
"""key -> version -> header."""

_VERSION = re.compile(r"^\d+\.\d+\Z")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")


def header_of(record: bytes) -> Header:
    r"""The columns of a CSV header record (its bytes as a part holds them).

    >>> header_of(b'id,"name, full",created\r\n')
    ('id', 'name, full', 'created')
    >>> header_of(b"x," * 9000).startswith("sha256:")
    True
    """
    if len(record) > MAX_HEADER:
        return "sha256:" + hashlib.sha256(record).hexdigest()
    text = record.decode("utf-8", errors="replace").rstrip("\r\n")
    row = next(csv.reader(io.StringIO(text, newline="")), [])
    return tuple(row)


def describe(header: Header) -> str:
    """A header as an error message shows it.

    >>> describe(("id", "name"))
    'id,name'
    """
    if isinstance(header, str):
        return f"(a header over {MAX_HEADER} bytes, {header[:19]}...)"
    return ",".join(header)


def _version_order(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def read_schemas(state: State) -> tuple[dict[str, dict[str, Header]], str | None]:
    """The record in ``state``, and what was wrong with it (``None`` when nothing).

    A record that is not of the documented shape is not used (the guard is
    off for what it cannot read) and is never overwritten: it may be
    something else the store holds under that name.

    >>> read_schemas(State(extra={"schemas": {"jobs": {"1.0": ["id"]}}}))
    ({'jobs': {'1.0': ('id',)}}, None)
    >>> read_schemas(State(extra={"schemas": [1]}))[1]
    'state: schemas must be an object of key -> version -> columns, not list'
    """
    raw = state.extra.get(SCHEMAS)
    if raw is None:
        return {}, None
    if not isinstance(raw, dict):
        return {}, f"state: {SCHEMAS} must be an object of key -> version -> columns, not " + (
            type(raw).__name__
        )
    found: dict[str, dict[str, Header]] = {}
    for key, versions in raw.items():
        if not isinstance(versions, dict):
            return {}, f"state: {SCHEMAS}[{key!r}] must be an object of version -> columns"
        for version, header in versions.items():
            where = f"state: {SCHEMAS}[{key!r}][{version!r}]"
            if not isinstance(version, str) or not _VERSION.match(version):
                return {}, f"{where}: the version must be MAJOR.MINOR"
            if isinstance(header, str) and _DIGEST.match(header):
                found.setdefault(key, {})[version] = header
            elif isinstance(header, list) and all(isinstance(c, str) for c in header):
                found.setdefault(key, {})[version] = tuple(header)
            else:
                return {}, f"{where}: expected a list of column names or 'sha256:<hex>'"
    return found, None


def _stored(header: Header) -> Any:
    return header if isinstance(header, str) else list(header)


def shipped_headers(batch: Batch) -> dict[tuple[str, str], Header]:
    """Per ``(key, version)``, the header of ``batch``'s CSV parts worth remembering.

    Keys whose collector says ``dynamic_columns`` are left out.
    """
    versions = {
        c.key: c.task.collector.version
        for c in batch.collections
        if c.task.collector.format == "csv" and not c.task.collector.dynamic_columns
    }
    return {(p.key, versions[p.key]): header_of(p.header) for p in batch.parts if p.key in versions}


def learn(known: dict[str, dict[str, Header]], batch: Batch) -> dict[str, Any]:
    """Put ``batch``'s headers into ``known``; return the stored form of each key that changed.

    Costs what the batch holds, however many keys ``known`` has, so the
    bookkeeper can call it for every confirmed archive.
    """
    changed: dict[str, Any] = {}
    for (key, version), header in shipped_headers(batch).items():
        before = known.get(key, {})
        if before.get(version) == header:
            continue
        kept = {**before, version: header}
        newest = sorted(kept, key=_version_order, reverse=True)[:KEEP_VERSIONS]
        after = {v: kept[v] for v in sorted(newest, key=_version_order)}
        if after != before:
            known[key] = after
            changed[key] = {v: _stored(h) for v, h in after.items()}
    return changed


def remember(state: State, batch: Batch) -> State:
    """``state`` with the headers of ``batch``'s CSV parts, which reached the destination.

    Keys whose collector says ``dynamic_columns`` are not recorded; an
    unreadable record is left as it is.
    """
    known, problem = read_schemas(state)
    if problem is not None:
        return state
    changed = learn(known, batch)
    if not changed:
        return state
    document = {**(state.extra.get(SCHEMAS) or {}), **changed}
    return attrs.evolve(state, extra={**state.extra, SCHEMAS: document})
