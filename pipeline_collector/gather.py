"""The default pipeline: discover, plan, collect, chunk, archive, ship.

``gather`` is the stages composed, with the effects (state store, transport,
lock, clock, work folder) passed in.  Read top to bottom, ``_pipeline`` is
the data flow: tasks become collections, collections become batches, batches
become archives, archives become shipments, and each confirmed shipment moves
the bookkeeping forward and saves it at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import attrs
from toolz import pipe

from . import chunk as chunk_stage
from .archive import write_archive
from .collect import collect
from .compress import Compressor, default_compressor
from .discover import discover
from .errors import ConfigurationError
from .ledger import Ledger, advance, collected, confirmed, failed, ledger_for, stopped_at
from .log import logger
from .plan import HORIZON, plan, require_aware
from .protocols import Clock, Lock, StateStore, Transport
from .records import (
    Archive,
    Batch,
    Collection,
    Collector,
    Mode,
    Part,
    Plan,
    Run,
    RunStatus,
    Shipment,
    State,
    Task,
    Window,
)
from .ship import ship

__all__ = ["MAX_DATA_SIZE", "MAX_UPLOAD_SIZE", "gather", "run_task", "utcnow"]

MAX_DATA_SIZE = 200 * 2**20
MAX_UPLOAD_SIZE = 100 * 2**20
_RESERVE = 64 * 2**10  # room left in a lone part's archive for config and metadata

log = logger("gather")


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


@attrs.frozen(kw_only=True)
class Settings:
    """What every task needs to run; picklable, so an executor can carry it."""

    workdir: Path
    parts: Path
    max_data_size: int
    max_deflated: int
    mode: Mode
    clock: Clock
    compressor: Compressor


def run_task(task: Task, settings: Settings) -> Collection:
    """Collect and cut one task: the unit an executor runs."""
    collected_output = collect(
        task,
        workdir=settings.workdir,
        max_data_size=settings.max_data_size,
        collection_type=settings.mode,
        clock=settings.clock,
    )
    return chunk_stage.split(
        collected_output,
        directory=settings.parts,
        max_data_size=settings.max_data_size,
        max_deflated=settings.max_deflated,
        compressor=settings.compressor,
    )


def _skipped(task: Task, when: datetime, why: str) -> Collection:
    log.warning("collection.skipped", key=task.key, window=str(task.window), reason=why)
    return Collection(task=task, status="skipped", started_at=when, elapsed=0.0, error=why)


def _discard(c: Collection) -> None:
    for p in c.parts:
        p.path.unlink(missing_ok=True)


class _Book:
    """The run's mutable corner: the ledger, the state, what happened so far."""

    def __init__(self, ledger: Ledger, state: State, store: StateStore | None) -> None:
        self.ledger = ledger
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

    def note(self, c: Collection) -> Collection:
        self.collections.append(c)
        self.ledger = collected(self.ledger, c)
        return c

    def shipped(self, s: Shipment) -> None:
        self.shipments.append(s)
        if s.ok:
            self.ledger = confirmed(self.ledger, s.archive.batch)
        else:
            self._lost(s.archive.batch)
        self.save()

    def unwritten(self, batch: Batch, error: str) -> None:
        """An archive that could not be written: its keys stop like a failed upload."""
        self.errors.append(error)
        self._lost(batch)

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

    def save(self) -> None:
        new = advance(self.ledger, self.state)
        if new != self.state and self.store is not None:
            self.store.save(new)  # after each confirmed upload: a crash loses one archive
            log.info("state.saved", entries={k: v.isoformat() for k, v in new.entries.items()})
        self.state = new


def _collections(
    tasks: Iterable[Task],
    settings: Settings,
    book: _Book,
    executor: Executor | None,
    ahead: int,
) -> Iterator[Collection]:
    """Run tasks in plan order (ahead of time on ``executor``), skipping stopped keys."""
    pending: deque[tuple[Task, Future[Collection] | None]] = deque()
    queue = iter(tasks)

    def top_up() -> None:
        while len(pending) < ahead:
            task = next(queue, None)
            if task is None:
                return
            if executor is None or book.stopped(task):
                pending.append((task, None))
            else:
                pending.append((task, executor.submit(run_task, task, settings)))

    top_up()
    while pending:
        task, future = pending.popleft()
        if book.stopped(task):
            if future is not None:
                _discard(future.result())
            yield book.note(
                _skipped(task, settings.clock(), "an earlier window of this key failed")
            )
        else:
            yield book.note(_result(task, future, settings))
        top_up()


def _result(task: Task, future: Future[Collection] | None, settings: Settings) -> Collection:
    """The task's collection; an executor that could not run it fails that task only."""
    if future is None:
        return run_task(task, settings)
    try:
        return future.result()
    except Exception as e:
        error = f"executor could not run {task.key!r}: {type(e).__name__}: {e}"
        log.error("collection.failed", key=task.key, window=str(task.window), error=error)
        return Collection(
            task=task, status="failed", started_at=settings.clock(), elapsed=0.0, error=error
        )


def _archives(
    settings: Settings,
    config: Part,
    config_version: str,
    until: datetime,
    prefix: str,
    book: _Book,
    batches: Iterable[Batch],
) -> Iterator[Archive]:
    n = 0
    for batch in batches:
        try:
            archive = write_archive(
                batch,
                config=config,
                config_version=config_version,
                directory=settings.workdir,
                until=until,
                prefix=prefix,
                start=n,
                compressor=settings.compressor,
            )
        except OSError as e:  # a full disk, say: this archive is lost, the run goes on
            error = f"archive {batch.number} of group {batch.group!r} not written: {e}"
            log.error("archive.failed", group=batch.group, batch=batch.number, error=str(e))
            book.unwritten(batch, error)
            continue
        finally:
            for p in batch.parts:
                p.path.unlink(missing_ok=True)
        n = int(archive.name.rsplit("-", 1)[1].split(".")[0]) + 1
        yield archive


def _shipments(
    transport: Transport | None, book: _Book, archives: Iterable[Archive]
) -> Iterator[Shipment]:
    for archive in archives:
        book.archives.append(archive)
        if transport is None:  # dry run: keep the archive, ship nothing
            continue
        late = [p.key for p in archive.batch.parts if book.resent(p)]
        if late:
            # Shipping it would only send those rows twice: the next run resends them.
            why = f"holds windows of {sorted(set(late))} that failed in an earlier archive"
            log.warning("archive.held_back", archive=archive.name, reason=why)
            shipment = Shipment(archive=archive, error=why, skipped=True)
        else:
            shipment = ship(transport, archive)
        book.shipped(shipment)
        archive.path.unlink(missing_ok=True)
        yield shipment


def _pipeline(
    p: Plan,
    book: _Book,
    settings: Settings,
    config: Part,
    transport: Transport | None,
    executor: Executor | None,
    ahead: int,
    max_upload_size: int,
    prefix: str,
) -> None:
    shipments = pipe(
        _collections(p.tasks, settings, book, executor, ahead),
        partial(
            chunk_stage.pack,
            max_data_size=settings.max_data_size,
            max_upload_size=max_upload_size,
            config=config,
            config_version=p.config.version,
        ),
        partial(_archives, settings, config, p.config.version, p.until, prefix, book),
        partial(_shipments, transport, book),
    )
    for _ in shipments:  # drive the lazy pipeline
        pass


def _workdir(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        return Path(tempfile.mkdtemp(prefix="pipeline-collector-"))
    folder = Path(path)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-")  # noqa: SIM115
        probe.close()
    except OSError as e:
        raise ConfigurationError(f"work folder {folder} is not writable: {e.strerror}") from None
    return folder


def gather(
    source: ModuleType | Iterable[Callable[..., Any]],
    *,
    state: StateStore | None = None,
    transport: Transport | None = None,
    lock: Lock | None = None,
    mode: Mode = "dry-run",
    since: datetime | None = None,
    until: datetime | None = None,
    subset: Iterable[str] | None = None,
    max_data_size: int = MAX_DATA_SIZE,
    max_upload_size: int = MAX_UPLOAD_SIZE,
    horizon: timedelta = HORIZON,
    clock: Clock = utcnow,
    workdir: str | os.PathLike[str] | None = None,
    prefix: str = "analytics",
    compressor: Compressor | None = None,
    executor: Executor | None = None,
    is_licensed: Callable[[], bool] | None = None,
    is_shipping_configured: Callable[[], bool] | None = None,
) -> Run:
    """Collect, pack and (unless a dry run) ship; return the run's report.

    In ``dry-run`` mode nothing is shipped and the state is left alone; the
    archives stay in ``workdir`` and are listed in ``run.archives``.  In
    ``manual`` and ``scheduled`` mode each archive is removed once the
    transport confirms it, and the state is saved after each confirmation.
    """
    if mode not in get_args(Mode):
        raise ConfigurationError(f"mode {mode!r} must be one of {get_args(Mode)}")
    require_aware("since", since)
    require_aware("until", until)
    if max_data_size <= 0 or max_upload_size <= _RESERVE * 2:
        raise ConfigurationError("max_data_size and max_upload_size must be positive and sane")
    collectors = discover(source, subset)
    quiet = mode == "scheduled"

    def gated(reason: str) -> Run:
        (log.debug if quiet else log.warning)("run.gated", reason=reason)
        return Run(mode=mode, status="gated", reason=reason)

    if is_licensed is not None and not is_licensed():
        return gated("no valid licence")
    shipping = mode != "dry-run"
    if shipping:
        if is_shipping_configured is not None and not is_shipping_configured():
            return gated("shipping is not configured")
        if transport is None:
            raise ConfigurationError(f"mode {mode!r} ships archives: pass a transport")
        if state is None:
            raise ConfigurationError(f"mode {mode!r} keeps bookkeeping: pass a state store")
    if lock is None and shipping:
        from .locks import FileLock

        lock = FileLock(Path(tempfile.gettempdir()) / f"pipeline-collector-{prefix}.lock")
    folder = _workdir(workdir)
    comp = compressor or default_compressor()
    try:
        return _locked(
            lock,
            collectors,
            state,
            transport if shipping else None,
            executor,
            folder,
            comp,
            mode=mode,
            since=since,
            until=until,
            horizon=horizon,
            clock=clock,
            max_data_size=max_data_size,
            max_upload_size=max_upload_size,
            prefix=prefix,
            whole=subset is None,
        )
    finally:
        # A folder made here holds nothing worth keeping unless a dry run left archives.
        if workdir is None and (shipping or not any(folder.iterdir())):
            shutil.rmtree(folder, ignore_errors=True)


def _locked(
    lock: Lock | None,
    collectors: tuple[Collector, ...],
    state: StateStore | None,
    transport: Transport | None,
    executor: Executor | None,
    folder: Path,
    comp: Compressor,
    *,
    mode: Mode,
    since: datetime | None,
    until: datetime | None,
    horizon: timedelta,
    clock: Clock,
    max_data_size: int,
    max_upload_size: int,
    prefix: str,
    whole: bool,
) -> Run:
    quiet = mode == "scheduled"
    with lock.acquire() if lock is not None else _no_lock() as acquired:
        if not acquired:
            (log.debug if quiet else log.warning)("run.lock_held")
            return Run(mode=mode, status="lock-held", reason="another run holds the lock")
        current = state.load() if state is not None else State()
        p = plan(collectors, current, now=clock(), since=since, until=until, horizon=horizon)
        if lock is not None:
            _sweep(folder)
        parts = Path(tempfile.mkdtemp(prefix="parts-", dir=folder))
        settings = Settings(
            workdir=folder,
            parts=parts,
            max_data_size=max_data_size,
            max_deflated=max_upload_size - _RESERVE,
            mode=mode,
            clock=clock,
            compressor=comp,
        )
        book = _Book(ledger_for(p), current, state if transport is not None else None)
        try:
            return _run(p, book, settings, transport, executor, max_upload_size, prefix, whole)
        finally:
            shutil.rmtree(parts, ignore_errors=True)


def _sweep(folder: Path) -> None:
    """Remove what killed runs left; only called under the lock, when none can be running."""
    for stale in [*folder.glob("parts-*"), *folder.glob("collect-*")]:
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
            log.info("workdir.swept", folder=stale.name)


class _no_lock:
    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        return None


def _run(
    p: Plan,
    book: _Book,
    settings: Settings,
    transport: Transport | None,
    executor: Executor | None,
    max_upload_size: int,
    prefix: str,
    whole: bool,
) -> Run:
    mode = settings.mode
    config_task = Task(
        collector=p.config,
        window=Window(since=p.since or p.last_gather, until=p.until),
        seq=-1,
    )
    config = run_task(config_task, settings)
    if config.status != "ok":
        reason = f"config collector failed, nothing is shipped without it: {config.error}"
        log.error("run.failed", reason=reason)
        _discard(config)
        return Run(mode=mode, status="failed", plan=p, collections=(config,), reason=reason)
    ahead = max(2, getattr(executor, "_max_workers", 2) * 2) if executor is not None else 1
    _pipeline(
        p, book, settings, config.parts[0], transport, executor, ahead, max_upload_size, prefix
    )
    _discard(config)
    clean = (
        not p.problems
        and not book.errors
        and all(c.status in ("ok", "empty") for c in book.collections)
        and all(s.ok for s in book.shipments)
    )
    if transport is not None:
        book.save()  # windows that had nothing to ship move only now
    if transport is not None and clean and whole:
        book.state = attrs.evolve(book.state, last_gather=p.until)
        if book.store is not None:
            book.store.save(book.state)
    status: RunStatus = "ok" if clean else "partial"
    run = Run(
        mode=mode,
        status=status,
        plan=p,
        collections=tuple(book.collections),
        archives=tuple(book.archives),
        shipments=tuple(book.shipments),
        state=book.state,
        reason=None if clean else _reason(p, book),
    )
    log.info(
        "run.done",
        mode=mode,
        status=status,
        collections=len(run.collections),
        archives=len(run.archives),
        shipped=len(run.receipts),
        failed=len(run.failures),
        possible_duplicates=len(run.possible_duplicates),
    )
    return run


def _reason(p: Plan, book: _Book) -> str:
    bits = [f"{pr.key}: {pr.message}" for pr in p.problems]
    bits += [
        f"{c.key} {c.task.window}: {c.error}" for c in book.collections if c.status == "failed"
    ]
    bits += [f"{s.archive.name}: {s.error}" for s in book.shipments if not s.ok]
    bits += book.errors
    return "; ".join(bits)
