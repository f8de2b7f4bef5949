"""The steps of a run: one task's work, and the pieces the flow is piped from.

``Settings`` is everything a run is told, in one value; ``run_task`` is the
unit an executor runs; the other functions are the pipe's steps.  Those that
only transform are plain generators; ``each(effect)`` makes an effect (noting
an outcome, removing a file) a named step of its own.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from datetime import datetime
from typing import TypeVar

from ..errors import describe_exception, message_of
from ..log import logger, lowest_level
from ..naming import Namer
from ..protocols import Transport
from ..records import Archive, Batch, Collection, Part, Shipment, Task
from ..stages.archive import write_archive
from ..stages.chunk import split
from ..stages.collect import collect
from ..stages.ship import ship
from .relay import Relayed, here, replay, run_remote
from .settings import Settings

__all__ = [
    "discard_archive",
    "discard_parts",
    "each",
    "run_task",
    "run_tasks",
    "ship_archives",
    "write_archives",
]

log = logger("pipeline")

T = TypeVar("T")

Handle = Future[Collection | Relayed]  # what an executor returns: a worker process relays


def run_task(task: Task, settings: Settings) -> Collection:
    """Collect and cut one task: the unit an executor runs."""
    collected = collect(
        task,
        workdir=settings.workdir,
        max_data_size=settings.max_data_size,
        collection_type=settings.mode,
        clock=settings.clock,
    )
    return split(
        collected,
        directory=settings.parts,
        max_data_size=settings.max_data_size,
        max_deflated=settings.max_deflated,
        compressor=settings.compressor,
    )


def each(effect: Callable[[T], object]) -> Callable[[Iterable[T]], Iterator[T]]:
    """A pipe step that applies ``effect`` to every item and passes the item on."""

    def step(items: Iterable[T]) -> Iterator[T]:
        for item in items:
            effect(item)
            yield item

    return step


def discard_parts(c: Collection | Batch | Archive) -> None:
    """Remove part files once they are in an archive (or will never be)."""
    for p in c.parts:
        p.path.unlink(missing_ok=True)


def discard_archive(s: Shipment) -> None:
    """Remove an archive once the transport answered for it."""
    s.archive.path.unlink(missing_ok=True)


def _skipped(task: Task, when: datetime, why: str) -> Collection:
    log.warning("collection.skipped", key=task.key, window=str(task.window), reason=why)
    return Collection(task=task, status="skipped", started_at=when, elapsed=0.0, error=why)


def run_tasks(
    tasks: Iterable[Task],
    *,
    settings: Settings,
    executor: Executor | None,
    stopped: Callable[[Task], bool],
) -> Iterator[Collection]:
    """Run tasks in plan order (ahead of time on ``executor``), skipping stopped keys.

    An executor that cannot take a task or run it (a broken process pool, a
    lost dask worker) fails that task, never the run.  Events a worker
    process logs are logged here when its task's turn comes (``relay``).
    """
    pending: deque[tuple[Task, Handle | Collection | None]] = deque()
    queue = iter(tasks)
    ahead = settings.ahead if executor is not None else 1
    level = lowest_level() if executor is not None else 0

    def top_up() -> None:
        while len(pending) < ahead:
            task = next(queue, None)
            if task is None:
                return
            if executor is None or stopped(task):
                pending.append((task, None))
            else:
                pending.append((task, _submit(executor, task, settings, level)))

    top_up()
    while pending:
        task, handle = pending.popleft()
        if stopped(task):
            if handle is not None:
                discard_parts(_result(task, handle, settings))
            yield _skipped(task, settings.clock(), "an earlier window of this key failed")
        else:
            yield _result(task, handle, settings)
        top_up()


def _submit(executor: Executor, task: Task, settings: Settings, level: int) -> Handle | Collection:
    """The task handed to ``executor``, or its failed collection when it was refused."""
    try:
        return executor.submit(run_remote, run_task, task, settings, here(), level)
    except Exception as e:
        return _executor_failed(task, settings, e)


def _result(task: Task, handle: Handle | Collection | None, settings: Settings) -> Collection:
    """The task's collection; an executor that could not run it fails that task only."""
    if handle is None:
        return run_task(task, settings)
    if isinstance(handle, Collection):
        return handle
    try:
        done = handle.result()
    except BaseException as e:
        if not isinstance(e, Exception) and not _cancelled(e):
            raise
        return _executor_failed(task, settings, e)
    return replay(done) if isinstance(done, Relayed) else done


def _cancelled(e: BaseException) -> bool:
    """Whether ``e`` is asyncio's ``CancelledError`` (dask's futures raise it when cancelled).

    Without asyncio imported nothing can raise it, so it is not imported here.
    """
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(e, asyncio.CancelledError)


def _executor_failed(task: Task, settings: Settings, e: BaseException) -> Collection:
    error = f"executor could not run {task.key!r}: {describe_exception(e)}"
    log.error("executor.failed", key=task.key, window=str(task.window), error=error)
    return Collection(
        task=task, status="failed", started_at=settings.clock(), elapsed=0.0, error=error
    )


def write_archives(
    batches: Iterable[Batch],
    *,
    settings: Settings,
    config: Part,
    config_version: str,
    until: datetime,
    unwritten: Callable[[Batch, str], None],
    name: Namer | None = None,
) -> Iterator[Archive]:
    """Write each batch; one that cannot be written (a full disk) is reported and dropped."""
    n = 0
    for batch in batches:
        try:
            archive = write_archive(
                batch,
                config=config,
                config_version=config_version,
                directory=settings.workdir,
                until=until,
                prefix=settings.prefix,
                start=n,
                compressor=settings.compressor,
                namer=name,
            )
        except OSError as e:
            error = f"archive {batch.number} of group {batch.group!r} not written: {message_of(e)}"
            log.error("archive.failed", group=batch.group, batch=batch.number, error=message_of(e))
            discard_parts(batch)
            unwritten(batch, error)
            continue
        n = archive.number + 1
        yield archive


def ship_archives(
    archives: Iterable[Archive], *, transport: Transport, resent: Callable[[Part], bool]
) -> Iterator[Shipment]:
    """Ship each archive, holding back one whose rows the next run resends anyway."""
    for archive in archives:
        late = sorted({p.key for p in archive.batch.parts if resent(p)})
        if late:
            why = f"holds windows of {late} that failed in an earlier archive"
            log.warning("archive.held_back", archive=archive.name, reason=why)
            yield Shipment(archive=archive, error=why, skipped=True)
        else:
            yield ship(transport, archive)
