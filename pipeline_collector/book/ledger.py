"""Bookkeeping within a run: which windows have reached the destination.

A key's entry moves only over windows that were collected AND whose every
part was confirmed shipped, in time order; the first window of a key that
fails (collecting or shipping) stops the key there for the rest of the run
(docs/contract.md, section 3).

The ``Ledger`` is the one mutable record of the run's bookkeeping, on
purpose: a run of 60,000 tasks must not copy its tables at every step.
Each note costs what it touches: a collection or a confirmed part moves a
cursor over its own key's windows only, and ``moved()`` hands over just the
entries that moved since it was last asked, so a save writes only those.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from ..records import Batch, Collection, Plan, State
from .health import full_sync_key

__all__ = ["Ledger"]


@attrs.define(eq=True)
class Ledger:
    """Per task: unconfirmed parts; per key: its tasks in order, where it stopped and got to.

    ``done[key]`` counts the key's windows done in order (a cursor into
    ``order[key]``); it never passes the key's stop.
    """

    order: dict[str, tuple[int, ...]]
    until: dict[int, datetime]
    now: datetime
    full_sync: frozenset[str] = frozenset()
    pending: dict[int, int] = attrs.Factory(dict)
    stops: dict[str, int] = attrs.Factory(dict)
    done: dict[str, int] = attrs.Factory(dict)
    _moved: set[str] = attrs.field(factory=set, init=False, eq=False, repr=False)

    @classmethod
    def for_plan(cls, plan: Plan) -> Ledger:
        """An empty ledger for the tasks of ``plan``; planning problems stop their keys.

        >>> from datetime import timedelta, timezone
        >>> from pipeline_collector.records import Collector, Problem, Task, Window
        >>> now = datetime(2026, 11, 27, tzinfo=timezone.utc)
        >>> jobs = Collector(key="jobs", version="1.0", func=list)
        >>> day = timedelta(days=1)
        >>> first = Window(since=now - 2 * day, until=now - day)
        >>> tasks = (Task(collector=jobs, window=first, seq=0),
        ...          Task(collector=jobs, window=Window(since=now - day, until=now), seq=1))
        >>> plan = Plan(now=now, since=None, until=now, last_gather=now, horizon=28 * day,
        ...     config=jobs, tasks=tasks, problems=(Problem(key="hosts", message="boom"),))
        >>> ledger = Ledger.for_plan(plan)
        >>> ledger.order, ledger.pending, ledger.stopped_at("hosts")
        ({'jobs': (0, 1)}, {}, -1)
        """
        order: dict[str, list[int]] = {}
        for t in plan.tasks:
            order.setdefault(t.key, []).append(t.seq)
        return cls(
            order={k: tuple(v) for k, v in order.items()},
            until={t.seq: t.window.until for t in plan.tasks},
            full_sync=frozenset(t.key for t in plan.tasks if t.full_sync),
            stops={p.key: -1 for p in plan.problems},
            now=plan.now,
        )

    def stopped_at(self, key: str) -> int | None:
        """The seq of the first failed task of ``key``, or ``None``."""
        return self.stops.get(key)

    def collected(self, collection: Collection) -> None:
        """Note a finished collection: its parts now wait for confirmation.

        A failed or skipped collection stops its key at its window instead;
        one with nothing to ship is done at once.
        """
        seq = collection.task.seq
        if collection.status in ("failed", "skipped"):
            self._stop(collection.key, seq)
            return
        self.pending[seq] = len(collection.parts)
        self._walk(collection.key)

    def confirmed(self, batch: Batch) -> None:
        """Note that every part in ``batch`` reached the destination."""
        for part in batch.parts:
            self.pending[part.seq] = self.pending.get(part.seq, 0) - 1
        for key in _keys(batch):
            self._walk(key)

    def failed(self, batch: Batch) -> None:
        """Note that ``batch`` did not reach the destination: its keys stop there."""
        for part in batch.parts:
            self._stop(part.key, part.seq)

    def entry(self, key: str) -> datetime | None:
        """Where ``key``'s windows done in order reach, or ``None`` when none is."""
        n = self.done.get(key, 0)
        return self.until[self.order[key][n - 1]] if n else None

    def complete(self, key: str) -> bool:
        """Whether a full sync of ``key`` is done: every window, no failure."""
        return (
            key in self.full_sync
            and key not in self.stops
            and self.done.get(key, 0) == len(self.order.get(key, ()))
        )

    def moved(self) -> dict[str, datetime]:
        """The entries that moved since the last call (``<key>_full`` included)."""
        found: dict[str, datetime] = {}
        for key in self._moved:
            reached = self.entry(key)
            if reached is not None:
                found[key] = reached
            if self.complete(key):
                found[full_sync_key(key)] = self.now
        self._moved.clear()
        return found

    def advance(self, state: State) -> State:
        """``state`` with each key's entry moved over its done windows; never backwards.

        >>> from datetime import timezone
        >>> day = [datetime(2026, 11, d, tzinfo=timezone.utc) for d in (25, 26, 27)]
        >>> ledger = Ledger(order={"jobs": (0, 1, 2)}, until=dict(enumerate(day)), now=day[2],
        ...     pending={0: 0, 1: 1, 2: 0}, done={"jobs": 1})
        >>> ledger.advance(State()).entries["jobs"] == day[0]  # window 1 still waits
        True
        """
        for key in self.order:
            reached = self.entry(key)
            if reached is not None:
                state = state.advance(key, reached)
            if self.complete(key):
                state = state.advance(full_sync_key(key), self.now)
        return state

    def _stop(self, key: str, seq: int) -> None:
        current = self.stops.get(key)
        if current is None or seq < current:
            self.stops[key] = seq

    def _walk(self, key: str) -> None:
        """Move ``key``'s cursor over its windows done in order, up to its stop."""
        seqs = self.order.get(key)
        if seqs is None:
            return
        start = n = self.done.get(key, 0)
        stop = self.stops.get(key)
        while n < len(seqs) and (stop is None or seqs[n] < stop) and self.pending.get(seqs[n]) == 0:
            n += 1
        if n != start:
            self.done[key] = n
            self._moved.add(key)


def _keys(batch: Batch) -> Iterable[str]:
    """The keys of ``batch``'s parts, each once, in order."""
    return dict.fromkeys(p.key for p in batch.parts)
