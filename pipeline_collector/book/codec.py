"""How a ``State`` is written down: datetimes, JSON documents and table rows.

Datetimes are written as ISO-8601 in UTC with an explicit offset
(``2026-11-27T10:00:00+00:00``).  They are read in that form and in the forms
services store today: a ``Z`` suffix, Django's ``DjangoJSONEncoder`` output
(milliseconds), any offset.  A datetime without an offset is an error, never
a guess.  Everything here is pure: the stores do the reading and writing.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from ..errors import ConfigurationError, StateError
from ..jsontext import JsonRefused, decode
from ..records import Change, State

__all__ = [
    "DEFAULT_TABLE",
    "MAX_STATE_SIZE",
    "NAMESPACES",
    "check_namespace",
    "decode_state_json",
    "entry_key",
    "stored_text",
    "format_datetime",
    "patch_document",
    "parse_at",
    "parse_datetime",
    "state_from_document",
    "state_to_document",
]

DEFAULT_TABLE = "pipeline_collector_state"
NAMESPACES = "namespaces"  # the JSON file's key that holds the tenants' states
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z", re.ASCII)


def check_namespace(namespace: str | None) -> str | None:
    """A tenant's name as a store takes it: 1 to 63 letters, digits, ``.``, ``_`` or ``-``.

    >>> check_namespace("tenant-a.eu_1")
    'tenant-a.eu_1'
    >>> check_namespace("a:b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: namespace 'a:b' must be 1 to 63 ASCII ...
    """
    if namespace is None:
        return None
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ConfigurationError(
            f"namespace {namespace!r} must be 1 to 63 ASCII letters, digits, '.', '_' or '-',"
            " starting with a letter or a digit"
        )
    return namespace


MAX_STATE_SIZE: Final = 64 * 2**20
"""The most a stored state (or one stored value) may take: a year of runs takes kilobytes."""

_ISO = re.compile(
    r"""
    (?P<date>\d{4}-\d{2}-\d{2})
    [T\ ]
    (?P<hour>\d{2}):(?P<minute>\d{2})
    (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
    \s*
    (?P<offset>Z|z|[+-]\d{2}(?::?[0-5]\d)?)?
    """,
    # ASCII: ``\d`` must not match other scripts' digits, which ``int`` would read.
    re.VERBOSE | re.ASCII,
)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO-8601 datetime that carries an offset (or ``Z``).

    Accepts what ``datetime.isoformat`` and Django's JSON encoder write, on
    every supported Python (3.10's ``fromisoformat`` rejects ``Z``).  Raises
    ``ValueError`` for anything else, a naive datetime included.

    >>> parse_datetime("2026-11-27T10:00:00.123Z")
    datetime.datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=datetime.timezone.utc)
    >>> parse_datetime("2026-11-27T12:00:00+02:00").isoformat()
    '2026-11-27T12:00:00+02:00'
    >>> parse_datetime("2026-11-27T10:00:00")
    Traceback (most recent call last):
    ...
    ValueError: datetime without a UTC offset: '2026-11-27T10:00:00'
    >>> parse_datetime("2026-02-30T10:00:00Z")
    Traceback (most recent call last):
    ...
    ValueError: not a valid datetime: '2026-02-30T10:00:00Z' (day is out of range for month)
    """
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 datetime: {value!r}")
    offset = match["offset"]
    if offset is None:
        raise ValueError(f"datetime without a UTC offset: {value!r}")
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    try:
        year, month, day = (int(p) for p in match["date"].split("-"))
        if offset in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone.utc if not delta else timezone(sign * delta)
        return datetime(
            year,
            month,
            day,
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise ValueError(f"not a valid datetime: {value!r} ({exc})") from None


def format_datetime(value: datetime) -> str:
    """Write a timezone-aware datetime as ISO-8601 in UTC with its offset.

    >>> format_datetime(parse_datetime("2026-11-27T12:00:00+02:00"))
    '2026-11-27T10:00:00+00:00'
    >>> format_datetime(datetime(2026, 11, 27, 10, 0))
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.StateError: cannot store a naive datetime: 2026-11-27T10:00:00
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise StateError(f"cannot store a naive datetime: {value.isoformat()}")
    try:
        return value.astimezone(timezone.utc).isoformat()
    except OverflowError:
        # Within a day of datetime.min or max: no UTC instant to write.
        raise StateError(f"cannot store a datetime outside UTC's range: {value}") from None


def parse_at(value: object, where: str) -> datetime:
    """Parse a stored datetime; anything else is a ``StateError`` that says where.

    >>> parse_at("2026-11-27T10:00:00Z", "state.json: last_gather").isoformat()
    '2026-11-27T10:00:00+00:00'
    >>> parse_at(1764237600, "last_gather")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.StateError: last_gather: expected an ISO-8601 string, got int
    """
    if not isinstance(value, str):
        raise StateError(f"{where}: expected an ISO-8601 string, got {type(value).__name__}")
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise StateError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- JSON documents


def decode_state_json(data: str | bytes, where: str) -> Any:
    """Stored JSON text, decoded within ``jsontext``'s bounds; else a ``StateError`` naming where.

    >>> decode_state_json("[" * 100_000, "state.json")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.StateError: state.json: nested deeper than 64 levels
    """
    try:
        return decode(data, max_size=MAX_STATE_SIZE)
    except JsonRefused as exc:
        raise StateError(f"{where}: {exc}") from None


def entry_key(key: object, where: str) -> str:
    r"""An entries key as read: text that is valid Unicode, since keys name collectors.

    A lone surrogate (``"\ud800"`` in JSON) is no collector's key and
    cannot be written out as UTF-8; it is refused, shown escaped.

    >>> entry_key("old\ud800key", "state.json")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.StateError: state.json: entries key 'old\ud800key' is not valid Unicode (a lone surrogate); remove or rename it
    """  # noqa: E501
    if not isinstance(key, str):
        raise StateError(f"{where}: entries key of type {type(key).__name__}, not a string")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise StateError(
            f"{where}: entries key {key!r} is not valid Unicode (a lone surrogate);"
            " remove or rename it"
        ) from None
    return key


def state_from_document(data: object, where: str) -> tuple[State, bool]:
    """Build a State from a decoded JSON document; also say whether entries was a string.

    >>> state, as_string = state_from_document(
    ...     {"last_gather": None, "entries": '{"jobs": "2026-11-27T10:00:00Z"}', "uuid": "b2"}, "s"
    ... )
    >>> (state.entries["jobs"].isoformat(), dict(state.extra), as_string)
    ('2026-11-27T10:00:00+00:00', {'uuid': 'b2'}, True)
    """
    if not isinstance(data, dict):
        raise StateError(f"{where}: state must be a JSON object, got {type(data).__name__}")
    extra = {k: v for k, v in data.items() if k not in ("last_gather", "entries")}
    last = data.get("last_gather")
    last_gather = None if last is None else parse_at(last, f"{where}: last_gather")
    entries_raw = data.get("entries")
    as_string = isinstance(entries_raw, str)
    if isinstance(entries_raw, str):
        try:
            entries_raw = (
                decode(entries_raw, max_size=MAX_STATE_SIZE) if entries_raw.strip() else {}
            )
        except JsonRefused as exc:
            raise StateError(f"{where}: entries is a string but {exc}") from None
    if entries_raw is None:
        entries_raw = {}
    if not isinstance(entries_raw, dict):
        raise StateError(f"{where}: entries must be an object, got {type(entries_raw).__name__}")
    entries = {
        entry_key(key, where): parse_at(value, f"{where}: entries[{key!r}]")
        for key, value in entries_raw.items()
    }
    return State(last_gather=last_gather, entries=entries, extra=extra), as_string


def state_to_document(state: State, *, entries_as_string: bool) -> dict[str, Any]:
    """The JSON document for ``state``: extra keys beside ``last_gather`` and ``entries``.

    >>> at = parse_datetime("2026-11-27T12:00:00+02:00")
    >>> state_to_document(State(entries={"jobs": at}), entries_as_string=True)
    {'last_gather': None, 'entries': '{"jobs": "2026-11-27T10:00:00+00:00"}'}
    """
    entries: dict[str, str] = {k: format_datetime(v) for k, v in state.entries.items()}
    document: dict[str, Any] = dict(state.extra)
    document["last_gather"] = (
        None if state.last_gather is None else format_datetime(state.last_gather)
    )
    document["entries"] = json.dumps(entries, sort_keys=True) if entries_as_string else entries
    return document


def patch_document(document: dict[str, Any], change: Change, where: str) -> dict[str, Any]:
    """``document`` (a state as ``state_to_document`` writes it) with ``change`` merged in.

    Works on the document, not on a ``State``: the other entries are kept as
    they are written, so a save costs what it changes.  The entries stay in
    the form they are in (an object, or a JSON-encoded string).

    >>> at = parse_datetime("2026-11-27T10:00:00Z")
    >>> doc = {"last_gather": None, "entries": '{"hosts": "x"}', "uuid": "b2"}
    >>> new = patch_document(doc, Change(entries={"jobs": at}, extra={"n": 1}), "s")
    >>> new["entries"], new["uuid"], new["n"]
    ('{"hosts": "x", "jobs": "2026-11-27T10:00:00+00:00"}', 'b2', 1)
    """
    new = dict(document)
    if change.entries:
        entries = new.get("entries")
        as_string = isinstance(entries, str)
        if isinstance(entries, str):
            try:
                entries = json.loads(entries) if entries.strip() else {}
            except json.JSONDecodeError:
                raise StateError(f"{where}: entries is a string but not valid JSON") from None
        if entries is None:
            entries = {}
        if not isinstance(entries, dict):
            raise StateError(f"{where}: entries must be an object, got {type(entries).__name__}")
        merged = {**entries, **{k: format_datetime(v) for k, v in change.entries.items()}}
        new["entries"] = json.dumps(merged, sort_keys=True) if as_string else merged
    if change.last_gather is not None:
        new["last_gather"] = format_datetime(change.last_gather)
    for name, value in change.extra.items():
        if name in ("last_gather", "entries"):
            raise StateError(f"{where}: extra may not be named {name!r}")
        new[name] = value
    return new


# --------------------------------------------------------------------------- table rows
#
# A table store keeps one row per item: ``last_gather``, ``entry:<key>`` (ISO
# datetimes) and ``extra:<name>`` (JSON).  One row per key keeps the state
# readable with plain SQL and lets a save replace it in one transaction.


def stored_text(value: object, where: str) -> str:
    r"""A stored value as text: ``bytes`` (SQLite's, a SQL_ASCII database's) must be UTF-8.

    >>> stored_text(b"2026", "t: last_gather"), stored_text("x", "t")
    ('2026', 'x')
    >>> stored_text(b"\xff", "t: entry:jobs")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.StateError: t: entry:jobs: not UTF-8 (byte 0 of 1)
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateError(f"{where}: not UTF-8 (byte {exc.start} of {len(raw)})") from None
    if value is None:
        raise StateError(f"{where}: NULL, not text")
    return str(value)
