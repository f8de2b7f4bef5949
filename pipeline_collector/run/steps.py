"""The worker's half of a flow: one task's steps, and tasks handed to an executor.

``run_task`` runs a flow's worker steps (task to collection) over one task:
the unit an executor runs; ``run_tasks`` hands tasks to the executor in plan
order and skips keys the bookkeeper has stopped.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from datetime import datetime
from typing import Any

from ..errors import describe_exception
from ..log import logger, lowest_level
from ..records import Archive, Batch, Collection, Task
from ..stages.collect import Collected
from .flow import default_flow
from .relay import Relayed, here, replay, run_remote
from .settings import Settings

__all__ = [
    "discard_parts",
    "failed_collection",
    "run_task",
    "run_tasks",
]

log = logger("pipeline")

Handle = Future[Collection | Relayed]  # what an executor returns: a worker process relays


# --- the worker's half --------------------------------------------------------


def discard_parts(c: Collection | Batch | Archive) -> None:
    """Remove part files once they are in an archive (or will never be)."""
    for p in c.parts:
        p.path.unlink(missing_ok=True)


def failed_collection(task: Task, when: datetime, error: str) -> Collection:
    """The failed collection of ``task``, with ``error`` said once in the log."""
    log.error("collection.failed", key=task.key, window=str(task.window), error=error)
    return Collection(task=task, status="failed", started_at=when, elapsed=0.0, error=error)


def _check(step_name: str, task: Task, value: Any, gives: str) -> str | None:
    """Why ``value`` is not what the step ``step_name`` must give for ``task``."""
    kind = Collected if gives == "rows" else Collection
    if not isinstance(value, kind):
        return f"step {step_name!r} gave {type(value).__name__}, not {kind.__name__}"
    if value.task != task:
        return f"step {step_name!r} gave a record of another task ({value.task.key!r})"
    return None


def run_task(task: Task, settings: Settings) -> Collection:
    """Run the flow's worker steps over one task: the unit an executor runs.

    A step that raises, or gives something other than a record of this
    task, fails the task with an error naming the step.
    """
    steps = settings.steps or default_flow().worker()
    value: Any = task
    for s in steps:
        out: Any = None
        error: str | None
        try:
            out = s(value, settings)
        except Exception as e:
            error = f"step {s.name!r} raised {describe_exception(e)}"
        else:
            error = _check(s.name, task, out, s.gives)
        if error is not None:
            if isinstance(out, Collection) and out.task == task:
                discard_parts(out)
            return failed_collection(task, settings.clock(), error)
        value = out
    return value  # type: ignore[no-any-return]


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
    error = f"executor could not run {task.key!r}: {type(e).__name__}: {e}"
    log.error("executor.failed", key=task.key, window=str(task.window), error=error)
    return Collection(
        task=task, status="failed", started_at=settings.clock(), elapsed=0.0, error=error
    )
