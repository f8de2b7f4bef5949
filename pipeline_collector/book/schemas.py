"""The schema record: per CSV key and version, the header it last shipped.

The cloud parses each CSV member by the version ``manifest.json`` gives it,
so a header that changes while the version stays the same breaks its parser,
and an operator learns of it weeks later.  The state remembers, per key and
version, the columns of the last confirmed upload and when it was
confirmed, in ``State.extra["schemas"]``::

    {"jobs": {"1.0": {"columns": ["id", "created"], "shipped": "2026-11-27T10:00:00+00:00"}}}

A header longer than ``MAX_HEADER`` bytes is kept as ``"sha256:<hex>"`` of
its bytes, and a key keeps the ``KEEP_VERSIONS`` versions shipped most
recently, so the record stays small however long the service runs, and a
version rolled back to (1.0 again after 2.0 to 6.0) is the most recent one,
still guarded.  The record reads per key and version: an entry that cannot
be read switches the guard off for that version alone, is reported, and is
replaced only when that key ships again.  Entries of the earlier form (the
columns alone, no time) read as shipped before any dated one.  The guard
that reads it is ``stages.guard``; the bookkeeper writes it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs
from attrs import frozen

from ..errors import StateError
from ..records import Batch, State
from .codec import format_datetime, parse_at

__all__ = [
    "KEEP_VERSIONS",
    "MAX_HEADER",
    "SCHEMAS",
    "Header",
    "Schemas",
    "describe",
    "header_of",
    "learn",
    "read_entries",
    "read_schemas",
    "remember",
]

SCHEMAS = "schemas"  # the name in ``State.extra``
KEEP_VERSIONS = 5  # versions kept per key: the ones shipped most recently
MAX_HEADER = 16 * 1024  # bytes of header kept as columns; a longer one is kept by digest

Header = tuple[str, ...] | str
"""A header's columns, or ``"sha256:<hex>"`` of a header too long to keep."""

Schemas = Mapping[str, Mapping[str, Header]]
"""key -> version -> header."""

_VERSION = re.compile(r"^\d+\.\d+\Z")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")
_UNDATED = datetime.min.replace(tzinfo=timezone.utc)  # entries of the earlier form


@frozen
class _Entry:
    header: Header
    shipped: datetime | None


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


def _header(value: object) -> Header | None:
    if isinstance(value, str) and _DIGEST.match(value):
        return value
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        return tuple(value)
    return None


def _entry(value: object, where: str) -> _Entry:
    """One version's entry: ``{"columns": ..., "shipped": ISO}``, or the columns alone."""
    header = _header(value)
    if header is not None:
        return _Entry(header=header, shipped=None)
    if isinstance(value, dict):
        header = _header(value.get("columns"))
        if header is not None:
            return _Entry(header=header, shipped=parse_at(value.get("shipped"), f"{where}.shipped"))
    raise StateError(f"{where}: expected {{columns: a list of names or 'sha256:<hex>', shipped}}")


def _read(raw: dict[Any, Any]) -> tuple[dict[str, dict[str, _Entry]], list[str]]:
    """The entries that read, per key and version, and what was wrong with the others."""
    found: dict[str, dict[str, _Entry]] = {}
    problems: list[str] = []
    for key, versions in raw.items():
        if not isinstance(versions, dict):
            problems.append(f"state: {SCHEMAS}[{key!r}] must be an object of version -> entry")
            continue
        for version, value in versions.items():
            where = f"state: {SCHEMAS}[{key!r}][{version!r}]"
            if not isinstance(version, str) or not _VERSION.match(version):
                problems.append(f"{where}: the version must be MAJOR.MINOR")
                continue
            try:
                found.setdefault(key, {})[version] = _entry(value, where)
            except StateError as e:
                problems.append(str(e))
    return found, problems


def read_schemas(state: State) -> tuple[dict[str, dict[str, Header]], str | None]:
    """The headers in ``state``, and what was wrong with the record (``None`` when nothing).

    What reads is used, key by key and version by version: an entry that
    does not read is reported and leaves the guard off for its version
    only.  A record that is not an object at all is not used and never
    overwritten: it may be something else the store holds under that name.

    >>> read_schemas(State(extra={"schemas": {"jobs": {"1.0": ["id"]}, "old": "garbage"}}))
    ({'jobs': {'1.0': ('id',)}}, "state: schemas['old'] must be an object of version -> entry")
    >>> read_schemas(State(extra={"schemas": [1]}))[1]
    'state: schemas must be an object of key -> version -> entry, not list'
    """
    raw = state.extra.get(SCHEMAS)
    if raw is None:
        return {}, None
    if not isinstance(raw, dict):
        return {}, f"state: {SCHEMAS} must be an object of key -> version -> entry, not " + (
            type(raw).__name__
        )
    found, problems = _read(raw)
    headers = {k: {v: e.header for v, e in versions.items()} for k, versions in found.items()}
    if not problems:
        return headers, None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return headers, problems[0] + more


def _stored(entry: _Entry) -> dict[str, Any]:
    header = entry.header
    shipped = None if entry.shipped is None else format_datetime(entry.shipped)
    return {"columns": header if isinstance(header, str) else list(header), "shipped": shipped}


def _recent(item: tuple[str, _Entry]) -> tuple[datetime, tuple[int, int]]:
    version, entry = item
    return entry.shipped or _UNDATED, _version_order(version)


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


def read_entries(state: State) -> dict[str, dict[str, _Entry]] | None:
    """The entries that read, for ``learn``; ``None`` when the record is not an object at all."""
    raw = state.extra.get(SCHEMAS)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    return _read(raw)[0]


def learn(known: dict[str, dict[str, _Entry]], batch: Batch, *, at: datetime) -> dict[str, Any]:
    """Put ``batch``'s headers, shipped ``at``, into ``known``; the stored form of each key.

    A key keeps its ``KEEP_VERSIONS`` most recently shipped versions.  Costs
    what the batch holds, however many keys ``known`` has, so the bookkeeper
    can call it for every confirmed archive.
    """
    changed: dict[str, Any] = {}
    for (key, version), header in shipped_headers(batch).items():
        kept = {**known.get(key, {}), version: _Entry(header=header, shipped=at)}
        newest = sorted(kept.items(), key=_recent, reverse=True)[:KEEP_VERSIONS]
        known[key] = dict(sorted(newest, key=lambda i: _version_order(i[0])))
        changed[key] = {v: _stored(e) for v, e in known[key].items()}
    return changed


def remember(state: State, batch: Batch, *, at: datetime) -> State:
    """``state`` with the headers of ``batch``'s CSV parts, which reached the destination at ``at``.

    Keys whose collector says ``dynamic_columns`` are not recorded.  A key
    keeps its ``KEEP_VERSIONS`` most recently shipped versions; the keys
    not in ``batch`` are kept as they are, read or not.
    """
    known = read_entries(state)
    if known is None:
        return state
    changed = learn(known, batch, at=at)
    raw = state.extra.get(SCHEMAS) or {}
    document = {**raw, **changed}
    if not changed or document == raw:
        return state
    return attrs.evolve(state, extra={**state.extra, SCHEMAS: document})
