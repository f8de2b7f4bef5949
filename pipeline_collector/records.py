"""Immutable records that flow between the stages.

Every stage takes records and returns records; a changed value is a new value
(``attrs.evolve``).  Windows are half-open: ``[since, until)``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import field, frozen

from .units import human_bytes

Format = Literal["json", "csv"]
Mode = Literal["dry-run", "manual", "scheduled"]
Status = Literal["ok", "failed", "empty", "skipped"]
Slicer = Callable[..., Iterable[tuple[datetime, datetime]]]


def frozen_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """A read-only copy, so a frozen record's mapping cannot change under it."""
    return types.MappingProxyType(dict(value))


@frozen(kw_only=True)
class Collector:
    """A registered collector function and what the contract says about it."""

    key: str
    version: str
    func: Callable[..., Any] = field(eq=False, repr=False)
    format: Format = "json"
    description: str = ""
    config: bool = False
    slicer: Slicer | None = field(default=None, eq=False, repr=False)
    shipping_group: str = "default"
    full_sync_interval_days: int | None = None
    none_is_empty: bool = False  # ``None`` from this CSV collector means no data, not a failure
    dynamic_columns: bool = False  # its CSV columns may change under one version: no schema guard

    @property
    def filename(self) -> str:
        return f"{self.key}.{self.format}"

    @property
    def sliced(self) -> bool:
        return self.slicer is not None


@frozen(kw_only=True)
class Window:
    """A half-open time window ``[since, until)``."""

    since: datetime
    until: datetime

    def __str__(self) -> str:
        return f"[{self.since.isoformat()}, {self.until.isoformat()})"


@frozen(kw_only=True)
class Task:
    """One collection to run: a collector over one window."""

    collector: Collector
    window: Window
    seq: int
    full_sync: bool = False

    @property
    def key(self) -> str:
        return self.collector.key


@frozen(kw_only=True)
class Problem:
    """Something found while planning that stops one key, not the run."""

    key: str
    message: str


@frozen(kw_only=True)
class Plan:
    """What a run will collect: the window, the tasks in order, and problems."""

    now: datetime
    since: datetime | None
    until: datetime
    last_gather: datetime
    horizon: timedelta
    config: Collector
    tasks: tuple[Task, ...]
    problems: tuple[Problem, ...] = ()


@frozen(kw_only=True)
class Part:
    """A piece of one collection, stored as a raw deflate segment on disk.

    ``path`` holds ``deflated_size`` bytes of raw deflate (ending on a byte
    boundary, no final block) of ``raw_size`` bytes of content whose CRC-32 is
    ``crc32``.  Parts are spliced into the archive's gzip stream as they are.
    """

    key: str
    seq: int
    index: int
    filename: str
    path: Path
    raw_size: int
    deflated_size: int
    crc32: int
    rows: int = 0
    oversized: bool = False
    header: bytes = field(default=b"", repr=False)  # a CSV part's first record, as written


@frozen(kw_only=True)
class Collection:
    """The outcome of one task: its status, figures and the parts it made."""

    task: Task
    status: Status
    started_at: datetime
    elapsed: float
    rows: int = 0
    bytes: int = 0
    parts: tuple[Part, ...] = ()
    error: str | None = None

    @property
    def key(self) -> str:
        return self.task.key

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "empty")


@frozen(kw_only=True)
class Batch:
    """The contents decided for one archive, before it is written."""

    group: str
    number: int
    parts: tuple[Part, ...] = ()
    collections: tuple[Collection, ...] = ()


@frozen(kw_only=True)
class Archive:
    """A written ``.tar.gz`` file and what is in it."""

    path: Path
    size: int
    sha256: str
    members: tuple[str, ...]
    batch: Batch = field(repr=False)
    until: datetime
    number: int = 0  # the ``n`` in its name: unique within the run

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def parts(self) -> tuple[Part, ...]:
        return self.batch.parts

    @property
    def group(self) -> str:
        return self.batch.group

    @property
    def collections(self) -> tuple[Collection, ...]:
        return self.batch.collections


@frozen(kw_only=True)
class Receipt:
    """Proof that a destination accepted an archive."""

    archive: str
    sha256: str
    destination: str
    status: int | None = None
    attempts: int = 1
    elapsed: float = 0.0
    request_id: str | None = None
    location: str | None = None
    # An earlier attempt's answer was lost after the body went out: the
    # destination may hold this archive twice.
    maybe_duplicated: bool = False


@frozen(kw_only=True)
class State:
    """Bookkeeping: the last successful run and, per key, how far it reached.

    ``entries`` maps a collector key to the end of its last window that
    reached the destination, and ``<key>_full`` to its last full sync.
    ``extra`` carries whatever else the store held, untouched.
    ``namespace`` names the tenant whose state this is, in a store several
    tenants share (``None``: the store's own, as the old library kept it);
    in a tenant's state a key without an entry starts at the horizon, never
    at ``last_gather`` (docs/contract.md, section 3).
    """

    last_gather: datetime | None = None
    entries: Mapping[str, datetime] = field(factory=dict, converter=frozen_mapping)
    extra: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping, repr=False)
    namespace: str | None = None

    def advance(self, key: str, until: datetime) -> State:
        """Return a state whose entry for ``key`` is at least ``until``."""
        current = self.entries.get(key)
        if current is not None and current >= until:
            return self
        return attrs.evolve(self, entries={**self.entries, key: until})


@frozen(kw_only=True)
class Change:
    """What one save writes: only these items; everything else in the store stays.

    ``entries`` sets those keys' entries, ``last_gather`` (unless ``None``)
    sets it, ``extra`` sets those names' values whole.  A store that takes
    changes (``SharedStateStore.update``) merges them into what it holds
    now, another run's saves included, so runs sharing it never undo each
    other's progress.
    """

    entries: Mapping[str, datetime] = field(factory=dict, converter=frozen_mapping)
    last_gather: datetime | None = None
    extra: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping, repr=False)

    @property
    def empty(self) -> bool:
        return not self.entries and self.last_gather is None and not self.extra

    def apply(self, state: State) -> State:
        """``state`` with this change merged in.

        >>> from datetime import timezone
        >>> t = datetime(2026, 11, 27, tzinfo=timezone.utc)
        >>> old = State(entries={"jobs": t, "hosts": t}, extra={"a": 1, "b": 2})
        >>> new = Change(entries={"jobs": t + timedelta(days=1)}, extra={"b": 3}).apply(old)
        >>> (new.entries["jobs"] - t, new.entries["hosts"] == t, dict(new.extra))
        (datetime.timedelta(days=1), True, {'a': 1, 'b': 3})
        """
        if self.empty:
            return state
        return attrs.evolve(
            state,
            entries={**state.entries, **self.entries},
            last_gather=state.last_gather if self.last_gather is None else self.last_gather,
            extra={**state.extra, **self.extra},
        )


@frozen(kw_only=True)
class Shipment:
    """The outcome of handing one archive to the transport."""

    archive: Archive
    receipt: Receipt | None = None
    error: str | None = None
    maybe_delivered: bool = False
    skipped: bool = False
    # Confirmed, but it carries rows of a window that failed in another
    # archive: the next run sends that window again, these rows included.
    resent_later: bool = False
    # Confirmed, but the state could not record it: the next run sends it again.
    unrecorded: bool = False

    @property
    def ok(self) -> bool:
        return self.receipt is not None

    @property
    def duplicate_risk(self) -> str | None:
        """Why rows of this shipment may reach the destination twice, if they may."""
        if self.unrecorded:
            return "it was delivered but the state could not record it; the next run sends it again"
        if self.maybe_delivered:
            return "no answer came; the archive may have arrived and will be sent again"
        if self.receipt is not None and self.receipt.maybe_duplicated:
            return "an attempt's answer was lost before a retry was accepted"
        if self.resent_later:
            return "its window failed in another archive and will be sent again whole"
        return None


RunStatus = Literal["ok", "partial", "failed", "lock-held", "gated"]


@frozen(kw_only=True)
class Run:
    """The report of one ``gather``: what was collected, written and shipped.

    ``str(run)`` is a one-line summary fit for a log or a shell; ``repr(run)``
    and ``attrs.asdict(run)`` keep the full record.
    """

    mode: Mode
    status: RunStatus
    plan: Plan | None = None
    collections: tuple[Collection, ...] = ()
    archives: tuple[Archive, ...] = ()
    shipments: tuple[Shipment, ...] = ()
    state: State | None = None
    reason: str | None = None
    elapsed: float = 0.0  # seconds, from loading the state to the last save

    @property
    def receipts(self) -> tuple[Receipt, ...]:
        return tuple(s.receipt for s in self.shipments if s.receipt is not None)

    @property
    def failures(self) -> tuple[Collection, ...]:
        return tuple(c for c in self.collections if c.status == "failed")

    @property
    def possible_duplicates(self) -> tuple[Shipment, ...]:
        """Shipments whose rows may reach the destination twice (see ``duplicate_risk``)."""
        return tuple(s for s in self.shipments if s.duplicate_risk is not None)

    def __str__(self) -> str:
        """How the run ended, in one line; the reason is cut at 200 characters.

        >>> print(Run(mode="manual", status="lock-held", reason="another run holds the lock"))
        run lock-held (manual): 0 collections, 0 archives, 0 shipped in 0.0s; another run \
holds the lock
        """
        counts: dict[str, int] = {}
        for c in self.collections:
            counts[c.status] = counts.get(c.status, 0) + 1
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        text = f"run {self.status} ({self.mode}): {len(self.collections)} collections"
        text += f" ({by_status})" if by_status else ""
        text += f", {len(self.archives)} archives"
        if self.mode != "dry-run":
            sent = sum(s.archive.size for s in self.shipments if s.ok)
            text += f", {len(self.receipts)} shipped"
            text += f" ({human_bytes(sent)})" if sent else ""
            unsent = len(self.shipments) - len(self.receipts)
            text += f", {unsent} not shipped" if unsent else ""
        text += f" in {self.elapsed:.1f}s"
        if self.reason:
            reason = " ".join(self.reason.split())
            text += "; " + (reason if len(reason) <= 200 else reason[:199] + "…")
        return text
