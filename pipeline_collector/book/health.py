"""What the state remembers of failures and runs, so an operator can see it.

Two records in ``State.extra``, both bounded:

- ``failures``: per key, its last failure, ``{"at", "since", "until",
  "error"}`` (datetimes ISO-8601; ``since``/``until`` are the failed window,
  null for a failure before any window, a slicer's say); the error is cut
  to ``MAX_ERROR`` characters.
- ``runs``: the last ``KEEP_RUNS`` shipping runs, oldest first, each
  ``{"at", "mode", "status", "archives", "shipped", "bytes", "rows",
  "failures", "seconds", "reason"}`` (``reason``: why a run was not ok,
  cut to ``MAX_REASON`` characters; null for an ok run).

The rules are pure functions; the bookkeeper applies them and saves.  A
record of another shape is reported and left as it is, never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import frozen

from ..errors import StateError
from ..records import State, Window
from .codec import format_datetime, parse_at

__all__ = [
    "FAILURES",
    "KEEP_RUNS",
    "MAX_ERROR",
    "MAX_REASON",
    "RUNS",
    "Failure",
    "RunRecord",
    "full_sync_key",
    "note_failures",
    "note_run",
    "read_failures",
    "read_runs",
]

FAILURES = "failures"
RUNS = "runs"
KEEP_RUNS = 50
MAX_ERROR = 1000
MAX_REASON = 300


@frozen(kw_only=True)
class Failure:
    """A key's last failure: when, which window (if any), and why."""

    at: datetime
    window: Window | None
    error: str

    def document(self) -> dict[str, Any]:
        """The failure as the state stores it."""
        return {
            "at": format_datetime(self.at),
            "since": None if self.window is None else format_datetime(self.window.since),
            "until": None if self.window is None else format_datetime(self.window.until),
            "error": self.error[:MAX_ERROR],
        }


@frozen(kw_only=True)
class RunRecord:
    """One shipping run, as the history keeps it."""

    at: datetime
    mode: str
    status: str
    archives: int = 0
    shipped: int = 0
    bytes: int = 0  # compressed bytes the destination confirmed
    rows: int = 0
    failures: int = 0
    seconds: float = 0.0
    reason: str | None = None

    def document(self) -> dict[str, Any]:
        """The run as the state stores it."""
        return {**attrs.asdict(self), "at": format_datetime(self.at), "seconds": self.seconds}


def full_sync_key(key: str) -> str:
    """The entry that holds ``key``'s last full sync."""
    return f"{key}_full"


def read_failures(state: State) -> tuple[dict[str, Failure], str | None]:
    """Each key's last failure, and what was wrong with the record (``None``: nothing).

    >>> doc = {"jobs": {"at": "2026-11-27T10:00:00Z", "since": None, "until": None,
    ...                 "error": "boom"}}
    >>> failures, problem = read_failures(State(extra={"failures": doc}))
    >>> failures["jobs"].error, failures["jobs"].window, problem
    ('boom', None, None)
    >>> read_failures(State(extra={"failures": "boom"}))[1]
    'state: failures must be an object of key -> failure, not str'
    """
    raw = state.extra.get(FAILURES)
    if raw is None:
        return {}, None
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        return {}, f"state: {FAILURES} must be an object of key -> failure, not {kind}"
    found: dict[str, Failure] = {}
    try:
        for key, doc in raw.items():
            where = f"state: {FAILURES}[{key!r}]"
            if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
                return {}, f"{where}: expected an object with at, since, until and error"
            since, until = doc.get("since"), doc.get("until")
            window = None
            if since is not None or until is not None:
                window = Window(
                    since=parse_at(since, f"{where}.since"), until=parse_at(until, f"{where}.until")
                )
            at = parse_at(doc.get("at"), f"{where}.at")
            found[key] = Failure(at=at, window=window, error=doc["error"])
    except StateError as e:
        return {}, str(e)
    return found, None


_COUNTS = ("archives", "shipped", "bytes", "rows", "failures")


def read_runs(state: State) -> tuple[tuple[RunRecord, ...], str | None]:
    """The recent runs, oldest first, and what was wrong with the record."""
    raw = state.extra.get(RUNS)
    if raw is None:
        return (), None
    if not isinstance(raw, list):
        return (), f"state: {RUNS} must be a list of runs, not {type(raw).__name__}"
    found: list[RunRecord] = []
    try:
        for n, doc in enumerate(raw):
            where = f"state: {RUNS}[{n}]"
            if (
                not isinstance(doc, dict)
                or not isinstance(doc.get("mode"), str)
                or not isinstance(doc.get("status"), str)
                or not all(_count(doc.get(k)) for k in _COUNTS)
                or not isinstance(doc.get("seconds"), int | float)
                or isinstance(doc.get("seconds"), bool)
                or not isinstance(doc.get("reason"), str | None)
            ):
                return (), f"{where}: expected an object with at, mode, status, counts and seconds"
            found.append(
                RunRecord(
                    at=parse_at(doc.get("at"), f"{where}.at"),
                    mode=doc["mode"],
                    status=doc["status"],
                    seconds=float(doc["seconds"]),
                    reason=doc.get("reason"),
                    **{k: doc[k] for k in _COUNTS},
                )
            )
    except StateError as e:
        return (), str(e)
    return tuple(found), None


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def note_failures(state: State, failures: Mapping[str, Failure]) -> State:
    """``state`` with each key's last failure set to the one given.

    Applying it twice gives the same state, so the bookkeeper may apply
    this run's failures before every save.
    """
    if not failures:
        return state
    if read_failures(state)[1] is not None:
        return state
    current = state.extra.get(FAILURES) or {}
    document = {**current, **{k: f.document() for k, f in failures.items()}}
    if document == current:
        return state
    return attrs.evolve(state, extra={**state.extra, FAILURES: document})


def note_run(state: State, record: RunRecord, *, keep: int = KEEP_RUNS) -> State:
    """``state`` with ``record`` last in the history, which keeps the last ``keep`` runs."""
    if read_runs(state)[1] is not None:
        return state
    history: Iterable[Any] = state.extra.get(RUNS) or []
    runs = [*history, record.document()][-keep:]
    return attrs.evolve(state, extra={**state.extra, RUNS: runs})
