"""The run's bookkeeper: what happened so far, and the ONE place state is saved.

The rules live in ``ledger`` as pure functions; this object only holds the
run's current ledger and state, the record of what was collected, written
and shipped, and the store.  ``save`` is the only code that writes the
store, so every save is logged as ``state.saved`` and a dry run (no store)
never writes.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .ledger import Ledger, advance, collected, confirmed, failed, ledger_for, stopped_at
from .log import logger
from .protocols import StateStore
from .records import Archive, Batch, Collection, Part, Plan, Shipment, State, Task

__all__ = ["Bookkeeper"]

log = logger("pipeline")


class Bookkeeper:
    """Notes each step's outcome; moves and saves the state after confirmed uploads."""

    def __init__(self, plan: Plan, state: State, store: StateStore | None) -> None:
        self.ledger: Ledger = ledger_for(plan)
        self.state = state
        self.store = store
        self.collections: list[Collection] = []
        self.archives: list[Archive] = []
        self.shipments: list[Shipment] = []
        self.errors: list[str] = []

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

    def archived(self, archive: Archive) -> None:
        """An archive was written."""
        self.archives.append(archive)

    def unwritten(self, batch: Batch, error: str) -> None:
        """An archive that could not be written: its keys stop like a failed upload."""
        self.errors.append(error)
        self._lost(batch)

    def shipped(self, s: Shipment) -> None:
        """The transport answered for one archive: move the state and save it at once."""
        self.shipments.append(s)
        if s.ok:
            self.ledger = confirmed(self.ledger, s.archive.batch)
        else:
            self._lost(s.archive.batch)
        self.save(advance(self.ledger, self.state))  # a crash loses one archive at most

    def close(self, *, last_gather: datetime | None) -> State:
        """Save what is left (windows with nothing to ship), and ``last_gather`` if given."""
        new = advance(self.ledger, self.state)
        if last_gather is not None and (new.last_gather is None or last_gather > new.last_gather):
            new = attrs.evolve(new, last_gather=last_gather)
        self.save(new)
        return self.state

    def save(self, new: State) -> None:
        """Write ``new`` to the store when it differs from what is there: the one writer."""
        if new != self.state and self.store is not None:
            self.store.save(new)
            log.info(
                "state.saved",
                store=repr(self.store),
                entries={k: v.isoformat() for k, v in new.entries.items()},
                last_gather=new.last_gather.isoformat() if new.last_gather else None,
            )
        self.state = new

    def _lost(self, batch: Batch) -> None:
        self.ledger = failed(self.ledger, batch)
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
