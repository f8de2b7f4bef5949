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

from .records import Batch, Collection, Plan, State, frozen_mapping

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
    """An empty ledger for the tasks of ``plan``; planning problems stop their keys."""
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
    """The seq of the first failed task of ``key``, or ``None``."""
    return ledger.stops.get(key)


def _stop(ledger: Ledger, key: str, seq: int) -> Ledger:
    current = ledger.stops.get(key)
    if current is not None and current <= seq:
        return ledger
    return attrs.evolve(ledger, stops={**ledger.stops, key: seq})


def collected(ledger: Ledger, collection: Collection) -> Ledger:
    """Note a finished collection: its parts now wait for confirmation."""
    seq = collection.task.seq
    if collection.status in ("failed", "skipped"):
        return _stop(ledger, collection.key, seq)
    return attrs.evolve(ledger, pending={**ledger.pending, seq: len(collection.parts)})


def confirmed(ledger: Ledger, batch: Batch) -> Ledger:
    """Note that every part in ``batch`` reached the destination."""
    pending = dict(ledger.pending)
    for part in batch.parts:
        pending[part.seq] = pending.get(part.seq, 0) - 1
    return attrs.evolve(ledger, pending=pending)


def failed(ledger: Ledger, batch: Batch) -> Ledger:
    """Note that ``batch`` did not reach the destination: its keys stop there."""
    for part in batch.parts:
        ledger = _stop(ledger, part.key, part.seq)
    return ledger


def advance(ledger: Ledger, state: State) -> State:
    """Move each key's entry over its done windows, in order, up to its stop."""
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
