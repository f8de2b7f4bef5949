"""The run's bookkeeper: what happened so far, and the ONE place state is saved.

The rules live in ``ledger`` as pure functions; this object only holds the
run's current ledger and state, the record of what was collected, written
and shipped, and the store.  ``save`` is the only code that writes the
store, so every save is logged as ``state.saved`` and a dry run (no store)
never writes.  Besides the entries, each save carries the headers of the
CSV parts confirmed so far (``schemas``) and each key's first failure in
this run (``health``); ``close`` adds the run to the history.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ..log import logger
from ..protocols import Clock, StateStore
from ..records import Archive, Batch, Collection, Part, Plan, Shipment, State, Task, Window
from .health import MAX_REASON, Failure, RunRecord, note_failures, note_run
from .ledger import Ledger, advance, collected, confirmed, failed, ledger_for, stopped_at
from .schemas import remember

__all__ = ["Bookkeeper"]

log = logger("pipeline")


class Bookkeeper:
    """Notes each step's outcome; moves and saves the state after confirmed uploads."""

    def __init__(
        self, plan: Plan, state: State, store: StateStore | None, clock: Clock | None = None
    ) -> None:
        self.ledger: Ledger = ledger_for(plan)
        self.plan = plan
        self.state = state
        self.store = store
        self.clock: Clock = clock or (lambda: plan.now)
        self.collections: list[Collection] = []
        self.archives: list[Archive] = []
        self.shipments: list[Shipment] = []
        self.errors: list[str] = []
        # Each key's first failure in this run: the one that stopped it.
        self.failures: dict[str, Failure] = {
            p.key: Failure(at=plan.now, window=None, error=p.message) for p in plan.problems
        }

    def stopped(self, task: Task) -> bool:
        """Whether an earlier window of the task's key failed in this run."""
        stop = stopped_at(self.ledger, task.key)
        return stop is not None and task.seq > stop

    def resent(self, part: Part) -> bool:
        """Whether the next run sends the part's window again: it or an earlier one failed."""
        stop = stopped_at(self.ledger, part.key)
        return stop is not None and part.seq >= stop

    def collected(self, c: Collection) -> None:
        """A collection finished: its parts now wait for confirmation."""
        self.collections.append(c)
        self.ledger = collected(self.ledger, c)
        if c.status == "failed" and not c.task.collector.config:  # config has no entry
            self._failed(c.key, c.task.window, c.error or "failed")

    def archived(self, archive: Archive) -> None:
        """An archive was written."""
        self.archives.append(archive)

    def unwritten(self, batch: Batch, error: str) -> None:
        """An archive that could not be written: its keys stop like a failed upload."""
        self.errors.append(error)
        self._lost(batch, error)

    def shipped(self, s: Shipment) -> None:
        """The transport answered for one archive: move the state and save it at once."""
        self.shipments.append(s)
        base = self.state
        if s.ok:
            self.ledger = confirmed(self.ledger, s.archive.batch)
            base = remember(base, s.archive.batch, at=self.clock())  # what the destination holds
        else:
            self._lost(s.archive.batch, s.error or "not shipped")
        self.save(self._next(base))  # a crash loses one archive at most

    def close(self, *, last_gather: datetime | None, run: RunRecord | None = None) -> State:
        """Save what is left (windows with nothing to ship), ``last_gather`` and ``run``."""
        new = self._next(self.state)
        if last_gather is not None and (new.last_gather is None or last_gather > new.last_gather):
            new = attrs.evolve(new, last_gather=last_gather)
        if run is not None:
            new = note_run(new, run)
        self.save(new)
        return self.state

    def record(
        self, mode: str, status: str, seconds: float, reason: str | None = None
    ) -> RunRecord:
        """The run so far, as the state's history keeps it."""
        refused = [s for s in self.shipments if not s.ok and not s.skipped]
        failed_ = [c for c in self.collections if c.status == "failed"]
        return RunRecord(
            at=self.plan.now,
            mode=mode,
            status=status,
            archives=len(self.archives),
            shipped=sum(1 for s in self.shipments if s.ok),
            bytes=sum(s.archive.size for s in self.shipments if s.ok),
            rows=sum(c.rows for c in self.collections),
            failures=len(self.plan.problems) + len(failed_) + len(refused) + len(self.errors),
            seconds=round(seconds, 3),
            reason=None if reason is None else reason[:MAX_REASON],
        )

    def _next(self, state: State) -> State:
        """``state`` moved over the done windows, with this run's failures noted."""
        return note_failures(advance(self.ledger, state), self.failures)

    def _failed(self, key: str, window: Window | None, error: str) -> None:
        if key not in self.failures:
            self.failures[key] = Failure(at=self.clock(), window=window, error=error)

    def save(self, new: State) -> None:
        """Write ``new`` to the store when it differs from what is there: the one writer."""
        if new != self.state and self.store is not None:
            self.store.save(new)
            old = self.state
            log.info(  # what this save moved, not every entry again
                "state.saved",
                store=repr(self.store),
                entries={
                    k: v.isoformat() for k, v in new.entries.items() if old.entries.get(k) != v
                },
                last_gather=(
                    new.last_gather.isoformat()
                    if new.last_gather and new.last_gather != old.last_gather
                    else None
                ),
            )
        self.state = new

    def _lost(self, batch: Batch, error: str) -> None:
        self.ledger = failed(self.ledger, batch)
        windows_of = {c.task.seq: c.task.window for c in batch.collections}
        for part in batch.parts:
            self._failed(part.key, windows_of.get(part.seq), error)
        # Confirmed archives holding other parts of a window that failed here
        # will be sent again with that window: say so.
        windows = {(p.key, p.seq) for p in batch.parts}
        for i, earlier in enumerate(self.shipments):
            held = {(p.key, p.seq) for p in earlier.archive.batch.parts}
            if earlier.ok and not earlier.resent_later and held & windows:
                self.shipments[i] = attrs.evolve(earlier, resent_later=True)
                log.warning(
                    "window.partly_shipped",
                    archive=earlier.archive.name,
                    keys=sorted({k for k, _ in held & windows}),
                    reason="the rest of its window failed; the next run sends it again whole",
                )
