"""The run's bookkeeper: what happened so far, and the ONE place state is saved.

The rules live in ``ledger``; this object holds the run's ledger, its view
of the state, the record of what was collected, written and shipped, and
the store.  ``_write`` is the only code that writes the store, so every
save is logged as ``state.saved`` and a dry run (no store) never writes.

A save writes only what moved since the last one (a ``Change``): the
entries the ledger moved, this run's new failures, the CSV headers first
confirmed, and at the end ``last_gather`` and the run's line in the
history.  A store that takes changes (``SharedStateStore``) merges them
into what it holds, so runs and tenants sharing it never undo each other's
progress, and a save costs what changed; any other store is given the
whole state, as before.  Each step costs what it touches, however long
the plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ..errors import StateError, UnrecordedError, describe_db_error
from ..log import logger
from ..protocols import Clock, SharedStateStore, StateStore
from ..records import (
    Archive,
    Batch,
    Change,
    Collection,
    Part,
    Plan,
    Shipment,
    State,
    Task,
    Window,
)
from .codec import format_datetime
from .health import (
    FAILURES,
    KEEP_RUNS,
    MAX_REASON,
    RUNS,
    Failure,
    RunRecord,
    read_failures,
    read_runs,
)
from .ledger import Ledger
from .schemas import SCHEMAS, learn, read_entries

__all__ = ["Bookkeeper"]

log = logger("pipeline")


class Bookkeeper:
    """Notes each step's outcome; moves and saves the state after confirmed uploads."""

    def __init__(
        self, plan: Plan, state: State, store: StateStore | None, clock: Clock | None = None
    ) -> None:
        self.ledger = Ledger.for_plan(plan)
        self.plan = plan
        self.loaded = state
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
        # The state as last saved, kept as plain dicts so a save costs what it changes.
        self._entries: dict[str, datetime] = dict(state.entries)
        self._last_gather = state.last_gather
        self._extra: dict[str, Any] = dict(state.extra)
        self._view: State | None = state
        # What the next save writes.
        self._moved: dict[str, datetime] = {}
        self._named: set[str] = set()
        self._new_gather = False
        self._unwritten_failures: set[str] = set(self.failures)
        # Records of another shape are left as they are, never overwritten.
        self._schemas = read_entries(state)  # None: not ours to overwrite
        self._failures_readable = read_failures(state)[1] is None
        self._runs_readable = read_runs(state)[1] is None
        # (key, seq) -> indexes of confirmed shipments holding a part of that window.
        self._held: dict[tuple[str, int], list[int]] = {}

    @property
    def state(self) -> State:
        """The state as last saved (as loaded, before the first save)."""
        if self._view is None:
            self._view = State(
                last_gather=self._last_gather,
                entries=self._entries,
                extra=self._extra,
                namespace=self.loaded.namespace,
            )
        return self._view

    def check_writable(self) -> None:
        """Write back what was loaded, changing nothing: a store that cannot be written says so now.

        Called when a shipping run starts, before anything ships: a state
        that cannot be saved must not let archives go out that it then
        cannot record.  A ``SharedStateStore`` gets an empty change, which
        goes through its write path; any other store gets the loaded state
        back through ``save``.  Raises ``StateError`` naming the store.
        """
        if self.store is None:
            return
        try:
            if isinstance(self.store, SharedStateStore):
                self.store.update(Change())
            else:
                self.store.save(self.loaded)
        except Exception as e:
            raise StateError(f"state store {self.store!r} cannot be written: {_said(e)}") from None
        log.debug("state.writable", store=repr(self.store))

    def stopped(self, task: Task) -> bool:
        """Whether an earlier window of the task's key failed in this run."""
        stop = self.ledger.stopped_at(task.key)
        return stop is not None and task.seq > stop

    def resent(self, part: Part) -> bool:
        """Whether the next run sends the part's window again: it or an earlier one failed."""
        stop = self.ledger.stopped_at(part.key)
        return stop is not None and part.seq >= stop

    def collected(self, c: Collection) -> None:
        """A collection finished: its parts now wait for confirmation."""
        self.collections.append(c)
        self.ledger.collected(c)
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
        """The transport answered for one archive: move the state and save it at once.

        A save that fails after the archive arrived raises ``UnrecordedError``
        naming the archive and the store; the run must stop there.
        """
        self.shipments.append(s)
        batch = s.archive.batch
        if s.ok:
            self.ledger.confirmed(batch)
            if self._schemas is not None and (
                changed := learn(self._schemas, batch, at=self.clock())
            ):
                self._extra[SCHEMAS] = {**(self._extra.get(SCHEMAS) or {}), **changed}
                self._named.add(SCHEMAS)
            for part in batch.parts:
                self._held.setdefault((part.key, part.seq), []).append(len(self.shipments) - 1)
        else:
            self._lost(batch, s.error or "not shipped")
        try:
            self._save()  # a crash loses one archive at most
        except StateError as e:
            if not s.ok:
                raise
            self.shipments[-1] = attrs.evolve(s, unrecorded=True)
            name = s.archive.name
            log.error("state.unrecorded", archive=name, store=repr(self.store), error=str(e))
            raise UnrecordedError(
                f"{name} was delivered but not recorded: {e}",
                archive=name,
                store=repr(self.store),
            ) from None

    def close(self, *, last_gather: datetime | None, run: RunRecord | None = None) -> State:
        """Save what is left (windows with nothing to ship), ``last_gather`` and ``run``."""
        if last_gather is not None and (
            self._last_gather is None or last_gather > self._last_gather
        ):
            self._last_gather = last_gather
            self._new_gather = True
        if run is not None and self._runs_readable:
            history = [*(self._extra.get(RUNS) or []), run.document()][-KEEP_RUNS:]
            self._extra[RUNS] = history
            self._named.add(RUNS)
        self._save()
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

    def _failed(self, key: str, window: Window | None, error: str) -> None:
        if key not in self.failures:
            self.failures[key] = Failure(at=self.clock(), window=window, error=error)
            self._unwritten_failures.add(key)

    def _save(self) -> None:
        """Gather what moved since the last save and write it: nothing moved, nothing written."""
        for key, at in self.ledger.moved().items():
            current = self._entries.get(key)
            if current is None or at > current:
                self._entries[key] = self._moved[key] = at
        if self._unwritten_failures and self._failures_readable:
            current_doc = self._extra.get(FAILURES) or {}
            noted = {k: self.failures[k].document() for k in self._unwritten_failures}
            if any(current_doc.get(k) != v for k, v in noted.items()):
                self._extra[FAILURES] = {**current_doc, **noted}
                self._named.add(FAILURES)
        self._unwritten_failures.clear()
        if not self._moved and not self._named and not self._new_gather:
            return
        change = Change(
            entries=self._moved,
            last_gather=self._last_gather if self._new_gather else None,
            extra={name: self._extra[name] for name in self._named},
        )
        self._moved, self._named, self._new_gather = {}, set(), False
        self._view = None
        if self.store is not None:
            self._write(change)

    def _write(self, change: Change) -> None:
        """The one writer: the change to a store that merges, else the whole state."""
        store = self.store
        assert store is not None
        try:
            if isinstance(store, SharedStateStore):
                store.update(change)
            else:
                store.save(self.state)
        except StateError:
            raise
        except Exception as e:  # a store is the host's code: say what it raised, as a StateError
            raise StateError(f"state store {store!r} failed to save: {_said(e)}") from None
        log.info(
            "state.saved",
            store=repr(store),
            entries={k: format_datetime(v) for k, v in change.entries.items()},
            last_gather=None if change.last_gather is None else format_datetime(change.last_gather),
        )

    def _lost(self, batch: Batch, error: str) -> None:
        self.ledger.failed(batch)
        windows_of = {c.task.seq: c.task.window for c in batch.collections}
        for part in batch.parts:
            self._failed(part.key, windows_of.get(part.seq), error)
        # Confirmed archives holding other parts of a window that failed here
        # will be sent again with that window: say so.
        keys_of: dict[int, set[str]] = {}
        for key, seq in {(p.key, p.seq) for p in batch.parts}:
            for i in self._held.pop((key, seq), ()):
                keys_of.setdefault(i, set()).add(key)
        for i in sorted(keys_of):
            earlier = self.shipments[i]
            if earlier.resent_later:
                continue
            self.shipments[i] = attrs.evolve(earlier, resent_later=True)
            log.warning(
                "window.partly_shipped",
                archive=earlier.archive.name,
                keys=sorted(keys_of[i]),
                reason="the rest of its window failed; the next run sends it again whole",
            )


def _said(e: Exception) -> str:
    """An exception in one line, anything like a password blanked."""
    return str(e) if isinstance(e, StateError) else describe_db_error(e)
