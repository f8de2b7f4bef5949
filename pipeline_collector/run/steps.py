"""The worker's half of a flow: one task's steps, and tasks handed to an executor.

``run_task`` runs a flow's worker steps (task to collection) over one task:
the unit an executor runs; ``run_tasks`` hands tasks to the executor in plan
order and skips keys the bookkeeper has stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from ..errors import describe_exception
from ..log import logger, lowest_level
from ..records import Archive, Batch, Collection, Task
from ..stages.collect import Collected
from .flow import default_flow
from .pool import Pool, run_alone
from .settings import Settings

__all__ = [
    "discard_parts",
    "failed_collection",
    "run_task",
    "run_tasks",
]

log = logger("pipeline")

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
    task_timeout: float | None = None,
) -> Iterator[Collection]:
    """Run tasks in plan order (on ``executor`` as its workers free up), skipping stopped keys.

    An executor that cannot take a task or run it (a lost dask worker) fails
    that task, never the run; a process pool whose worker died is replaced
    (``pool``).  A task past ``task_timeout`` raises ``TaskTimedOut``, which
    ends the run.  Events a worker process logs are logged here when its
    task's turn comes (``relay``).
    """
    if executor is None:
        for task in tasks:
            if stopped(task):
                yield _skipped(task, settings.clock(), "an earlier window of this key failed")
            else:
                yield run_alone(run_task, task, settings, task_timeout)
        return
    pool = Pool(
        executor=executor,
        settings=settings,
        work=run_task,
        seconds=task_timeout,
        level=lowest_level(),
        ahead=settings.ahead,
    )
    for task, result in pool.results(iter(tasks), stopped):
        if stopped(task):
            if result is not None:
                discard_parts(result)
            yield _skipped(task, settings.clock(), "an earlier window of this key failed")
        else:
            assert result is not None
            yield result
