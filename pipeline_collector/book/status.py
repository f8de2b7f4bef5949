"""Where each key stands: what shipped, how far behind it is, what failed last.

``status(store)`` reads the state and returns a ``Report``: per key, the end
of its last window that reached the destination, its lag behind ``now``,
its last full sync and last failure, and the recent runs.  A key is behind
when its lag passes ``max_lag``, or when it never shipped at all but failed.
``pipeline-collector status`` prints it; its exit code says whether any key
is behind, for a cron job or a Kubernetes probe.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from attrs import frozen

from ..protocols import StateStore
from ..records import State
from .codec import format_datetime
from .health import Failure, RunRecord, full_sync_key, read_failures, read_runs
from .schemas import read_schemas

__all__ = ["KeyStatus", "Report", "keys_of", "report_json", "status"]


@frozen(kw_only=True)
class KeyStatus:
    """One key: how far it shipped, its lag, its last full sync and last failure."""

    key: str
    shipped_until: datetime | None
    lag: timedelta | None
    full_sync: datetime | None = None
    last_failure: Failure | None = None
    behind: bool = False
    retired: bool = False  # named by the operator as no longer collected: never behind


@frozen(kw_only=True)
class Report:
    """The state as an operator reads it."""

    now: datetime
    last_gather: datetime | None
    max_lag: timedelta | None
    keys: tuple[KeyStatus, ...]
    runs: tuple[RunRecord, ...]
    problems: tuple[str, ...] = ()  # records of the state that could not be read

    @property
    def behind(self) -> tuple[KeyStatus, ...]:
        """The keys past ``max_lag`` (none when no ``max_lag`` was given)."""
        return tuple(k for k in self.keys if k.behind)


def keys_of(state: State) -> list[str]:
    """The collector keys the state knows, ``<key>_full`` entries folded into their key.

    >>> at = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> keys_of(State(entries={"jobs": at, "jobs_full": at, "hosts_full": at}))
    ['hosts_full', 'jobs']
    """
    entries = set(state.entries)
    keys = {k for k in entries if not (k.endswith("_full") and k[: -len("_full")] in entries)}
    keys |= set(read_failures(state)[0])
    return sorted(keys)


def status(
    source: StateStore | State,
    *,
    now: datetime | None = None,
    max_lag: timedelta | None = None,
    retired: Iterable[str] = (),
) -> Report:
    """Read ``source`` (a store, or a state already loaded) and say where each key stands.

    ``retired`` names keys whose collectors were removed: the state still
    holds their entries and last failures, which would keep them behind
    for ever, so they are shown as retired and never count as behind.
    """
    gone = frozenset(retired)
    state = source if isinstance(source, State) else source.load()
    moment = now or datetime.now(timezone.utc)
    failures, failure_problem = read_failures(state)
    runs, runs_problem = read_runs(state)
    schema_problem = read_schemas(state)[1]
    keys = []
    for key in keys_of(state):
        until = state.entries.get(key)
        lag = None if until is None else max(moment - until, timedelta(0))
        last = failures.get(key)
        if max_lag is None or key in gone:
            behind = False
        elif lag is None:
            behind = last is not None  # failed and never shipped
        else:
            behind = lag > max_lag
        keys.append(
            KeyStatus(
                key=key,
                shipped_until=until,
                lag=lag,
                full_sync=state.entries.get(full_sync_key(key)),
                last_failure=last,
                behind=behind,
                retired=key in gone,
            )
        )
    problems = tuple(p for p in (failure_problem, runs_problem, schema_problem) if p is not None)
    return Report(
        now=moment,
        last_gather=state.last_gather,
        max_lag=max_lag,
        keys=tuple(keys),
        runs=runs,
        problems=problems,
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


def report_json(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (lags in seconds)."""
    return {
        "now": _iso(report.now),
        "last_gather": _iso(report.last_gather),
        "max_lag_seconds": None if report.max_lag is None else report.max_lag.total_seconds(),
        "behind": [k.key for k in report.behind],
        "keys": [
            {
                "key": k.key,
                "shipped_until": _iso(k.shipped_until),
                "lag_seconds": None if k.lag is None else k.lag.total_seconds(),
                "full_sync": _iso(k.full_sync),
                "behind": k.behind,
                "retired": k.retired,
                "last_failure": None if k.last_failure is None else k.last_failure.document(),
            }
            for k in report.keys
        ],
        "runs": [r.document() for r in report.runs],
        "problems": list(report.problems),
    }
