"""Bookkeeping within a run: which windows have reached the destination.

Pure functions over an immutable ``Ledger``.  A key's entry moves only over
windows that were collected AND whose every part was confirmed shipped, in
time order; the first window of a key that fails (collecting or shipping)
stops the key there for the rest of the run (docs/contract.md, section 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs
from attrs import field, frozen

from ..records import Batch, Collection, Plan, State, frozen_mapping

__all__ = ["Ledger", "advance", "collected", "confirmed", "failed", "ledger_for", "stopped_at"]


@frozen(kw_only=True)
class Ledger:
    """Per task: unconfirmed parts; per key: its tasks in order and where it stopped."""

    order: Mapping[str, tuple[int, ...]] = field(converter=frozen_mapping)
    until: Mapping[int, datetime] = field(converter=frozen_mapping)
    full_sync: frozenset[str] = frozenset()
    pending: Mapping[int, int] = field(factory=dict, converter=frozen_mapping)
    stops: Mapping[str, int] = field(factory=dict, converter=frozen_mapping)
    now: datetime


def ledger_for(plan: Plan) -> Ledger:
    """An empty ledger for the tasks of ``plan``; planning problems stop their keys.

    >>> from datetime import timedelta, timezone
    >>> from pipeline_collector.records import Collector, Problem, Task, Window
    >>> now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> jobs = Collector(key="jobs", version="1.0", func=list)
    >>> day = timedelta(days=1)
    >>> tasks = (Task(collector=jobs, window=Window(since=now - 2 * day, until=now - day), seq=0),
    ...          Task(collector=jobs, window=Window(since=now - day, until=now), seq=1))
    >>> plan = Plan(now=now, since=None, until=now, last_gather=now, horizon=28 * day,
    ...     config=jobs, tasks=tasks, problems=(Problem(key="hosts", message="boom"),))
    >>> ledger = ledger_for(plan)
    >>> dict(ledger.order), dict(ledger.pending), stopped_at(ledger, "hosts")
    ({'jobs': (0, 1)}, {}, -1)
    """
    order: dict[str, list[int]] = {}
    for t in plan.tasks:
        order.setdefault(t.key, []).append(t.seq)
    return Ledger(
        order={k: tuple(v) for k, v in order.items()},
        until={t.seq: t.window.until for t in plan.tasks},
        full_sync=frozenset(t.key for t in plan.tasks if t.full_sync),
        stops={p.key: -1 for p in plan.problems},
        now=plan.now,
    )


def stopped_at(ledger: Ledger, key: str) -> int | None:
    """The seq of the first failed task of ``key``, or ``None``.

    >>> from datetime import timezone
    >>> t = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> ledger = Ledger(order={"jobs": (0, 1)}, until={0: t, 1: t}, stops={"jobs": 1}, now=t)
    >>> stopped_at(ledger, "jobs"), stopped_at(ledger, "hosts")
    (1, None)
    """
    return ledger.stops.get(key)


def _stop(ledger: Ledger, key: str, seq: int) -> Ledger:
    current = ledger.stops.get(key)
    if current is not None and current <= seq:
        return ledger
    return attrs.evolve(ledger, stops={**ledger.stops, key: seq})


def collected(ledger: Ledger, collection: Collection) -> Ledger:
    """Note a finished collection: its parts now wait for confirmation.

    A failed or skipped collection stops its key at its window instead.

    >>> from datetime import timezone
    >>> from pipeline_collector.records import Collector, Task, Window
    >>> t = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> jobs = Collector(key="jobs", version="1.0", func=list)
    >>> task = Task(collector=jobs, window=Window(since=t, until=t), seq=0)
    >>> ledger = Ledger(order={"jobs": (0,)}, until={0: t}, now=t)
    >>> empty = Collection(task=task, status="empty", started_at=t, elapsed=0.0)
    >>> dict(collected(ledger, empty).pending)
    {0: 0}
    >>> broken = attrs.evolve(empty, status="failed")
    >>> stopped_at(collected(ledger, broken), "jobs")
    0
    """
    seq = collection.task.seq
    if collection.status in ("failed", "skipped"):
        return _stop(ledger, collection.key, seq)
    return attrs.evolve(ledger, pending={**ledger.pending, seq: len(collection.parts)})


def confirmed(ledger: Ledger, batch: Batch) -> Ledger:
    """Note that every part in ``batch`` reached the destination.

    >>> from datetime import timezone
    >>> from pathlib import Path
    >>> from pipeline_collector.records import Part
    >>> t = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> part = Part(key="jobs", seq=0, index=0, filename="jobs.csv", path=Path("jobs.0"),
    ...     raw_size=10, deflated_size=8, crc32=0)
    >>> ledger = Ledger(order={"jobs": (0,)}, until={0: t}, pending={0: 2}, now=t)
    >>> dict(confirmed(ledger, Batch(group="default", number=0, parts=(part,))).pending)
    {0: 1}
    """
    pending = dict(ledger.pending)
    for part in batch.parts:
        pending[part.seq] = pending.get(part.seq, 0) - 1
    return attrs.evolve(ledger, pending=pending)


def failed(ledger: Ledger, batch: Batch) -> Ledger:
    """Note that ``batch`` did not reach the destination: its keys stop there.

    >>> from datetime import timezone
    >>> from pathlib import Path
    >>> from pipeline_collector.records import Part
    >>> t = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> parts = tuple(Part(key=key, seq=seq, index=0, filename=f"{key}.csv",
    ...     path=Path(key), raw_size=10, deflated_size=8, crc32=0)
    ...     for key, seq in (("jobs", 1), ("hosts", 2)))
    >>> ledger = Ledger(order={"jobs": (0, 1), "hosts": (2,)}, until={0: t, 1: t, 2: t}, now=t)
    >>> dict(failed(ledger, Batch(group="default", number=0, parts=parts)).stops)
    {'jobs': 1, 'hosts': 2}
    """
    for part in batch.parts:
        ledger = _stop(ledger, part.key, part.seq)
    return ledger


def advance(ledger: Ledger, state: State) -> State:
    """Move each key's entry over its done windows, in order, up to its stop.

    A window is done when it was collected and none of its parts is pending.
    ``<key>_full`` moves to the run's time when a full sync's every window is.

    >>> from datetime import timezone
    >>> day = [datetime(2026, 11, d, tzinfo=timezone.utc) for d in (25, 26, 27)]
    >>> ledger = Ledger(order={"jobs": (0, 1, 2)}, until=dict(enumerate(day)),
    ...     pending={0: 0, 1: 1, 2: 0}, now=day[2])
    >>> advance(ledger, State()).entries["jobs"] == day[0]  # window 1 still waits
    True
    >>> done = attrs.evolve(ledger, pending={0: 0, 1: 0, 2: 0}, full_sync=frozenset({"jobs"}))
    >>> sorted(advance(done, State()).entries)
    ['jobs', 'jobs_full']
    """
    for key, seqs in ledger.order.items():
        stop = ledger.stops.get(key)
        reached = None
        done_all = True
        for seq in seqs:
            if (stop is not None and seq >= stop) or ledger.pending.get(seq) != 0:
                done_all = False
                break
            reached = ledger.until[seq]
        if reached is not None:
            state = state.advance(key, reached)
        if done_all and stop is None and key in ledger.full_sync:
            state = state.advance(f"{key}_full", ledger.now)
    return state
