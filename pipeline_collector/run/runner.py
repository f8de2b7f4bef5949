"""The default pipeline: the stages composed, the effects passed in.

``gather`` checks its arguments, takes the lock and runs ``_flow``, which
reads top to bottom as the data flow: tasks become collections, collections
become batches, batches become archives, archives become shipments.  Steps
that only transform are stages; each effect (noting an outcome, saving the
state, removing a file) is a named step of its own, and the one place the
state is saved is ``Bookkeeper.save``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import attrs
from toolz import pipe

from ..book.bookkeeper import Bookkeeper
from ..book.schemas import Header, read_schemas
from ..compress import default_compressor
from ..config import HORIZON, MAX_DATA_SIZE, MAX_UPLOAD_SIZE
from ..errors import ConfigurationError
from ..log import logger
from ..naming import Namer
from ..protocols import Clock, Compressor, Lock, StateStore, Transport
from ..records import Mode, Part, Plan, Run, RunStatus, State
from ..stages.discover import discover
from ..stages.guard import guard
from ..stages.pack import pack
from ..stages.plan import config_task, plan, require_aware
from .arguments import check_effects, check_sizes
from .hooks import ConfigHook, Hooks, amended, check_namer
from .settings import Settings
from .steps import (
    discard_archive,
    discard_parts,
    each,
    run_task,
    run_tasks,
    ship_archives,
    write_archives,
)

__all__ = ["MAX_DATA_SIZE", "MAX_UPLOAD_SIZE", "Settings", "gather", "run_task", "utcnow"]

log = logger("pipeline")


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


def _flow(
    p: Plan,
    book: Bookkeeper,
    settings: Settings,
    config: Part,
    transport: Transport | None,
    executor: Executor | None,
    hooks: Hooks,
) -> None:
    """Drive the stages over the plan's tasks; a dry run stops at the archives."""
    steps: list[Callable[[Any], Any]] = [
        partial(run_tasks, settings=settings, executor=executor, stopped=book.stopped),
        partial(guard, known=_known_headers(book.state)),
        each(book.collected),
        partial(
            pack,
            max_data_size=settings.max_data_size,
            max_upload_size=settings.max_upload_size,
            config=config,
            config_version=p.config.version,
        ),
        partial(
            write_archives,
            settings=settings,
            config=config,
            config_version=p.config.version,
            until=p.until,
            unwritten=book.unwritten,
            name=hooks.name,
        ),
        each(discard_parts),
        each(book.archived),
    ]
    if transport is not None:  # a dry run keeps its archives and ships nothing
        steps += [
            partial(ship_archives, transport=transport, resent=book.resent),
            each(book.shipped),  # moves and saves the state
            each(discard_archive),
        ]
    for _ in pipe(p.tasks, *steps):  # drive the lazy pipeline
        pass


def _known_headers(state: State) -> dict[str, dict[str, Header]]:
    """The headers the state remembers; an unreadable record is said and not used."""
    known, problem = read_schemas(state)
    if problem is not None:
        log.warning("state.record_unreadable", record="schemas", error=problem)
    return known


# --- the run ----------------------------------------------------------------


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
    max_in_flight: int | None = None,
    is_licensed: Callable[[], bool] | None = None,
    is_shipping_configured: Callable[[], bool] | None = None,
    name: Namer | None = None,
    amend_config: ConfigHook | None = None,
) -> Run:
    """Collect, pack and (unless a dry run) ship; return the run's report.

    In ``dry-run`` mode nothing is shipped and the state is left alone; the
    archives stay in ``workdir`` and are listed in ``run.archives``.  In
    ``manual`` and ``scheduled`` mode each archive is removed once the
    transport confirms it, and the state is saved after each confirmation.
    ``max_in_flight`` is how many tasks are handed to an ``executor`` ahead
    of their turn (twice the CPU count by default; a cluster larger than
    this machine wants more).  ``name`` names each archive from its group,
    windows, index and the run's until (``pipeline_collector.naming``;
    ``<prefix>-<until>-<n>.tar.gz`` by default).  ``amend_config`` gets the
    config document and returns it with run-time values added; every archive
    carries the result.
    """
    if mode not in get_args(Mode):
        raise ConfigurationError(f"mode {mode!r} must be one of {get_args(Mode)}")
    require_aware("since", since)
    require_aware("until", until)
    check_sizes(max_data_size, max_upload_size)
    check_effects(state=state, transport=transport, lock=lock, compressor=compressor)
    if max_in_flight is not None and (
        isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
    ):
        raise ConfigurationError(
            f"max_in_flight must be a whole number >= 1, not {max_in_flight!r}"
        )
    if name is not None:
        check_namer(name)
    if amend_config is not None and not callable(amend_config):
        raise ConfigurationError(f"amend_config={amend_config!r} is not callable")
    hooks = Hooks(name=name, amend_config=amend_config)
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
        from ..locks.file import FileLock, default_lock_path

        lock = FileLock(default_lock_path(prefix))
    folder = _workdir(workdir)
    settings = Settings(
        mode=mode,
        since=since,
        until=until,
        horizon=horizon,
        clock=clock,
        max_data_size=max_data_size,
        max_upload_size=max_upload_size,
        prefix=prefix,
        compressor=compressor or default_compressor(),
        workdir=folder,
        parts=folder,  # a private folder replaces it under the lock
        whole=subset is None,
        ahead=max_in_flight or max(2, 2 * (os.cpu_count() or 1)),
    )
    try:
        with lock.acquire() if lock is not None else contextlib.nullcontext(True) as acquired:
            if not acquired:
                (log.debug if quiet else log.warning)(
                    "run.gated", reason="another run holds the lock", lock=repr(lock)
                )
                return Run(mode=mode, status="lock-held", reason="another run holds the lock")
            if lock is not None:
                _sweep(folder)
            return _locked(
                collectors, state, transport if shipping else None, executor, settings, hooks
            )
    finally:
        # A folder made here holds nothing worth keeping unless a dry run left archives.
        if workdir is None and (shipping or not any(folder.iterdir())):
            shutil.rmtree(folder, ignore_errors=True)


def _sweep(folder: Path) -> None:
    """Remove what killed runs left; only called under the lock, when none can be running."""
    for stale in [*folder.glob("parts-*"), *folder.glob("collect-*")]:
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
            log.info("workdir.swept", folder=stale.name)


def _locked(
    collectors: Iterable[Any],
    store: StateStore | None,
    transport: Transport | None,
    executor: Executor | None,
    settings: Settings,
    hooks: Hooks,
) -> Run:
    started = time.perf_counter()
    current = store.load() if store is not None else State()
    s = settings
    p = plan(collectors, current, now=s.clock(), since=s.since, until=s.until, horizon=s.horizon)
    parts = Path(tempfile.mkdtemp(prefix="parts-", dir=s.workdir))
    try:
        run = _run(
            p, current, store, transport, executor, attrs.evolve(s, parts=parts), started, hooks
        )
        return attrs.evolve(run, elapsed=time.perf_counter() - started)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _run(
    p: Plan,
    current: State,
    store: StateStore | None,
    transport: Transport | None,
    executor: Executor | None,
    settings: Settings,
    started: float,
    hooks: Hooks,
) -> Run:
    mode = settings.mode
    book = Bookkeeper(p, current, store if transport is not None else None, settings.clock)
    task = config_task(p)
    if hooks.amend_config is not None:
        func = amended(task.collector.func, hooks.amend_config)
        task = attrs.evolve(task, collector=attrs.evolve(task.collector, func=func))
    config = run_task(task, settings)
    if config.status != "ok":
        reason = f"config collector failed, nothing is shipped without it: {config.error}"
        log.error("run.failed", reason=reason)
        discard_parts(config)
        book.collected(config)  # counted in the run's history; no entry moves
        if transport is not None:
            seconds = time.perf_counter() - started
            book.close(last_gather=None, run=book.record(mode, "failed", seconds, reason))
        return Run(
            mode=mode,
            status="failed",
            plan=p,
            collections=(config,),
            state=book.state,
            reason=reason,
        )
    settings = attrs.evolve(settings, config_size=config.parts[0].deflated_size)
    try:
        _flow(p, book, settings, config.parts[0], transport, executor, hooks)
    finally:
        discard_parts(config)
    clean = (
        not p.problems
        and not book.errors
        and all(c.ok for c in book.collections)
        and all(s.ok for s in book.shipments)
    )
    status: RunStatus = "ok" if clean else "partial"
    why = None if clean else _reason(p, book)
    if transport is not None:  # windows that had nothing to ship move only now
        book.close(
            last_gather=p.until if clean and settings.whole else None,
            run=book.record(mode, status, time.perf_counter() - started, why),
        )
    run = Run(
        mode=mode,
        status=status,
        plan=p,
        collections=tuple(book.collections),
        archives=tuple(book.archives),
        shipments=tuple(book.shipments),
        state=book.state,
        reason=why,
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


def _reason(p: Plan, book: Bookkeeper) -> str:
    bits = [f"{pr.key}: {pr.message}" for pr in p.problems]
    bits += [
        f"{c.key} {c.task.window}: {c.error}" for c in book.collections if c.status == "failed"
    ]
    bits += [f"{s.archive.name}: {s.error}" for s in book.shipments if not s.ok]
    bits += book.errors
    return "; ".join(bits)
