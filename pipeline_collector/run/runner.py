"""``gather``: one run of a flow, with the guarantees no flow can drop.

The runner checks the run's configuration and effects, answers the gates,
takes the lock, prepares the work folder, loads the state and plans, runs
the config collector, then drives the flow (``default_flow()`` unless given
one) through the checkpoints of ``drive``, and reports the ``Run``.  The
bookkeeping, the schema guard, stopping a key at its first failure, the
upload bound, the cleanup of parts and archives, the lock and the run's
history belong to the runner, so a flow of the user's keeps them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from datetime import datetime, timedelta, timezone

import attrs

from ..book.bookkeeper import Bookkeeper
from ..book.schemas import Header, read_schemas
from ..compress import default_compressor
from ..config import RunConfig
from ..errors import ConfigurationError, StateError
from ..log import logger
from ..naming import Namer
from ..protocols import Clock, Compressor, Lock, StateStore, Transport
from ..records import Collector, Mode, Plan, Run, RunStatus, State
from ..stages.discover import Source, discover
from ..stages.plan import config_task, plan
from .arguments import check_effects
from .drive import drive
from .flow import Flow, default_flow
from .hooks import ConfigHook, amended, check_namer
from .pool import TaskTimedOut, default_ahead
from .settings import Context, Settings
from .steps import discard_parts, failed_collection, run_task
from .workdir import check_workers, prepare, private_folder, sweep

__all__ = ["gather", "utcnow"]

log = logger("pipeline")


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


def gather(
    source: Source,
    config: RunConfig | None = None,
    *,
    state: StateStore | None = None,
    transport: Transport | None = None,
    lock: Lock | None = None,
    flow: Flow | None = None,
    executor: Executor | None = None,
    clock: Clock = utcnow,
    compressor: Compressor | None = None,
    is_licensed: Callable[[], bool] | None = None,
    is_shipping_configured: Callable[[], bool] | None = None,
    name: Namer | None = None,
    amend_config: ConfigHook | None = None,
    mode: Mode | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    subset: Iterable[str] | None = None,
    max_data_size: int | None = None,
    max_upload_size: int | None = None,
    horizon: timedelta | None = None,
    workdir: str | os.PathLike[str] | None = None,
    prefix: str | None = None,
    max_in_flight: int | None = None,
    task_timeout: float | None = None,
) -> Run:
    """Collect, pack and (unless a dry run) ship; return the run's report.

    ``source`` is the collector module, its import path or ``.py`` file, or
    the registered functions themselves.
    ``config`` is the run's ``RunConfig``; the keywords from ``mode`` on are
    the same settings given one by one (each one given replaces the
    config's).  In ``dry-run`` mode nothing is shipped and the state is left
    alone; the archives stay in ``workdir`` and are listed in
    ``run.archives``.  In ``manual`` and ``scheduled`` mode each archive is
    removed once the transport answered for it, and the state is saved after
    each answer.  ``flow`` is the pipeline to run (``default_flow()`` with
    steps added or replaced); the runner's guarantees hold whatever it is.
    ``name`` names each archive (``pipeline_collector.naming``);
    ``amend_config`` gets the config document and returns it with run-time
    values added.  The caller owns ``transport``, ``state`` and ``lock``:
    the run never closes them.
    """
    config = RunConfig.from_values(
        config,
        mode=mode,
        since=since,
        until=until,
        subset=subset,
        max_data_size=max_data_size,
        max_upload_size=max_upload_size,
        horizon=horizon,
        workdir=workdir,
        prefix=prefix,
        max_in_flight=max_in_flight,
        task_timeout=task_timeout,
    )
    check_effects(state=state, transport=transport, lock=lock, compressor=compressor)
    for reason in config.limits.unusual():  # bytes where MiB were meant, said before collecting
        log.warning("limits.small", reason=reason)
    if flow is None:
        flow = default_flow()
    elif not isinstance(flow, Flow):
        raise ConfigurationError(f"flow={flow!r} is not a Flow; start from default_flow()")
    if name is not None:
        check_namer(name)
    if amend_config is not None and not callable(amend_config):
        raise ConfigurationError(f"amend_config={amend_config!r} is not callable")
    collectors = discover(source, config.subset)

    def gated(reason: str) -> Run:
        (log.debug if config.quiet else log.warning)("run.gated", reason=reason)
        return Run(mode=config.mode, status="gated", reason=reason)

    if is_licensed is not None and not is_licensed():
        return gated("no valid licence")
    if config.ships:
        if is_shipping_configured is not None and not is_shipping_configured():
            return gated("shipping is not configured")
        if transport is None:
            raise ConfigurationError(f"mode {config.mode!r} ships archives: pass a transport")
        if state is None:
            raise ConfigurationError(f"mode {config.mode!r} keeps bookkeeping: pass a state store")
    if lock is None and config.ships:
        from ..locks.file import FileLock, default_lock_path

        lock = FileLock(default_lock_path(config.prefix))
    folder = prepare(config.workdir)
    settings = Settings(
        config=config,
        clock=clock,
        compressor=compressor or default_compressor(),
        workdir=folder,
        parts=folder,  # a private folder replaces it under the lock
        ahead=default_ahead(executor, config.max_in_flight),
        steps=flow.worker(),
    )
    run = _Run(
        settings=settings,
        flow=flow,
        store=state,
        transport=transport if config.ships else None,
        executor=executor,
        name=name,
        amend_config=amend_config,
    )
    try:
        with lock.acquire() if lock is not None else contextlib.nullcontext(True) as acquired:
            if not acquired:
                (log.debug if config.quiet else log.warning)(
                    "run.gated", reason="another run holds the lock", lock=repr(lock)
                )
                return Run(
                    mode=config.mode, status="lock-held", reason="another run holds the lock"
                )
            if lock is not None:
                sweep(folder)
            return run.locked(collectors)
    finally:
        # A folder made here holds nothing worth keeping unless a dry run left archives.
        if config.workdir is None and (config.ships or not any(folder.iterdir())):
            shutil.rmtree(folder, ignore_errors=True)


def _report_of(mode: Mode, status: RunStatus, p: Plan, book: Bookkeeper, reason: str | None) -> Run:
    """The run's report: what the book holds of it."""
    return Run(
        mode=mode,
        status=status,
        plan=p,
        collections=tuple(book.collections),
        archives=tuple(book.archives),
        shipments=tuple(book.shipments),
        state=book.state,
        reason=reason,
    )


def _known_headers(state: State) -> dict[str, dict[str, Header]]:
    """The headers the state remembers; an unreadable record is said and not used."""
    known, problem = read_schemas(state)
    if problem is not None:
        log.warning("state.record_unreadable", record="schemas", error=problem)
    return known


@attrs.define(kw_only=True)
class _Run:
    """One run under the lock: what it was given, and what it does with it."""

    settings: Settings
    flow: Flow
    store: StateStore | None
    transport: Transport | None
    executor: Executor | None
    name: Namer | None
    amend_config: ConfigHook | None

    def locked(self, collectors: Iterable[Collector]) -> Run:
        started = time.perf_counter()
        current = self.store.load() if self.store is not None else State()
        s = self.settings
        c = s.config
        p = plan(
            collectors, current, now=s.clock(), since=c.since, until=c.until, horizon=c.horizon
        )
        with private_folder(s.workdir) as parts:
            if self.executor is not None:
                check_workers(self.executor, parts)
            self.settings = attrs.evolve(s, parts=parts)
            run = self._run(p, current, started)
            return attrs.evolve(run, elapsed=time.perf_counter() - started)

    def _run(self, p: Plan, current: State, started: float) -> Run:
        mode = self.settings.mode
        shipping = self.transport is not None
        book = Bookkeeper(p, current, self.store if shipping else None, self.settings.clock)
        book.check_writable()  # a state that cannot be saved is found before anything ships
        task = config_task(p)
        if self.amend_config is not None:
            func = amended(task.collector.func, self.amend_config)
            task = attrs.evolve(task, collector=attrs.evolve(task.collector, func=func))
        config = run_task(task, self.settings)
        if config.status != "ok" or len(config.parts) != 1:
            why = config.error or f"it gave {len(config.parts)} parts, not one document"
            reason = f"config collector failed, nothing is shipped without it: {why}"
            log.error("run.failed", reason=reason)
            discard_parts(config)
            book.collected(attrs.evolve(config, status="failed", parts=(), error=why))
            if shipping:
                seconds = time.perf_counter() - started
                book.close(last_gather=None, run=book.record(mode, "failed", seconds, reason))
            return _report_of(mode, "failed", p, book, reason)
        self.settings = attrs.evolve(self.settings, config_size=config.parts[0].deflated_size)
        context = Context(
            settings=self.settings,
            plan=p,
            config_part=config.parts[0],
            transport=self.transport,
            namer=self.name,
        )
        timed_out: TaskTimedOut | None = None
        try:
            drive(
                p.tasks,
                self.flow.driver(ships=shipping),
                context,
                book,
                _known_headers(current),
                self.executor,
                self.settings.config.task_timeout,
            )
        except TaskTimedOut as e:  # the run ends here; the books keep what was confirmed
            log.error("task.timed_out", key=e.task.key, window=str(e.task.window), error=str(e))
            book.collected(failed_collection(e.task, self.settings.clock(), str(e)))
            timed_out = e
        except StateError as e:  # the state cannot be saved (a delivery not recorded): stop
            return self._stopped(p, book, e)
        finally:
            discard_parts(config)
        return self._report(p, book, started, timed_out)

    def _stopped(self, p: Plan, book: Bookkeeper, e: StateError) -> Run:
        """The run stopped where the state could not be saved: nothing more ships.

        The store cannot be written, so the history is not saved either; the
        archives written but not shipped are removed (their windows are
        collected again), and the report keeps every shipment so far, a
        delivery the state could not record marked as one the next run sends
        again (``UnrecordedError``).
        """
        reason = str(e)
        log.error("run.failed", reason=reason)
        shipped = {s.archive.path for s in book.shipments}
        for archive in book.archives:
            if archive.path not in shipped and archive.path.parent == self.settings.workdir:
                archive.path.unlink(missing_ok=True)
        return _report_of(self.settings.mode, "failed", p, book, reason)

    def _report(
        self, p: Plan, book: Bookkeeper, started: float, timed_out: TaskTimedOut | None = None
    ) -> Run:
        mode = self.settings.mode
        clean = (
            timed_out is None
            and not p.problems
            and not book.errors
            and all(c.ok for c in book.collections)
            and all(s.ok for s in book.shipments)
        )
        status: RunStatus = "ok" if clean else "partial" if timed_out is None else "failed"
        why = None if clean else _reason(p, book)
        if self.transport is not None:  # windows that had nothing to ship move only now
            try:
                book.close(
                    last_gather=p.until if clean and self.settings.whole else None,
                    run=book.record(mode, status, time.perf_counter() - started, why),
                )
            except StateError as e:
                return self._stopped(p, book, e)
        run = _report_of(mode, status, p, book, why)
        log.info(
            "run.done",
            mode=mode,
            status=status,
            seconds=round(time.perf_counter() - started, 3),
            collections=len(run.collections),
            rows=sum(c.rows for c in run.collections),
            bytes=sum(c.bytes for c in run.collections),
            archives=len(run.archives),
            archive_bytes=sum(a.size for a in run.archives),
            shipped=len(run.receipts),
            failed=len(run.failures),
            possible_duplicates=len(run.possible_duplicates),
        )
        return run


def _reason(p: Plan, book: Bookkeeper) -> str:
    bits = [f"{pr.key}: {pr.message}" for pr in p.problems]
    bits += [
        f"{c.key} {c.task.window}: {c.error}" for c in book.collections if c.status == "failed"
    ]
    bits += [f"{s.archive.name}: {s.error}" for s in book.shipments if not s.ok]
    bits += book.errors
    return "; ".join(bits)
