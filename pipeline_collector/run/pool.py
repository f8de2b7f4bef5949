"""Tasks on an executor: every worker kept busy, results in plan order, faults kept to a task.

``Pool`` hands tasks to the caller's executor as workers free up (the bound
follows the executor's own size), keeps the results of tasks that finished
early until their turn, gives each task ``task_timeout`` seconds from its
start, and when a process pool breaks (a worker killed) replaces it with a
pool of its own for the rest of the run: the task that broke it fails, the
others run there (when several were running, each is tried once more, and
one that breaks a pool again fails).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any

import attrs

from ..errors import PipelineError, describe_exception
from ..log import logger
from ..records import Collection, Task
from .relay import Relayed, here, replay, run_remote
from .settings import Settings

__all__ = ["Pool", "TaskTimedOut", "default_ahead", "executor_failed", "run_alone", "workers_of"]

log = logger("pipeline")

Work = Callable[[Task, Settings], Collection]
Handle = Future[Collection | Relayed]  # what an executor returns: a worker process relays
# Results kept for their turn, beyond the tasks in flight: their parts wait on disk.
KEEP = 4


class TaskTimedOut(PipelineError):
    """A task ran past ``task_timeout``: the run ends, its lock is released."""

    def __init__(self, task: Task, seconds: float) -> None:
        super().__init__(
            f"collector {task.key!r} window {task.window} ran past task_timeout={seconds:g}s"
        )
        self.task = task


def workers_of(executor: Executor) -> int | None:
    """How many tasks ``executor`` runs at once, where it says so.

    A ``ThreadPoolExecutor`` or ``ProcessPoolExecutor`` keeps the count it was
    made with (the standard library offers no other reading of it); a dask
    ``Client.get_executor()`` counts its cluster's threads.
    """
    client = getattr(executor, "_client", None)
    if client is not None and callable(getattr(client, "nthreads", None)):
        try:
            threads: int = sum(client.nthreads().values())
            return max(1, threads)
        except Exception:  # a cluster that cannot answer: fall back
            return None
    count = getattr(executor, "_max_workers", None)
    return count if isinstance(count, int) and count > 0 else None


def run_alone(work: Work, task: Task, settings: Settings, seconds: float | None) -> Collection:
    """``work(task, settings)`` in this process, within ``seconds`` if given.

    A time limit needs the task on a thread of its own: a daemon thread, so a
    task that never returns cannot keep the process alive; it is left to end
    by itself, and what it writes lands in the run's parts folder, removed
    when the run ends.
    """
    if seconds is None:
        return work(task, settings)
    box: list[Collection | BaseException] = []

    def target() -> None:
        try:
            box.append(work(task, settings))
        except BaseException as e:  # handed to the caller below
            box.append(e)

    thread = threading.Thread(target=target, name=f"pipeline-collector-{task.key}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TaskTimedOut(task, seconds)
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result


@attrs.define
class _Slot:
    task: Task
    handle: Handle | Collection | None  # None: not handed over (a stopped key)
    started: float = 0.0
    tries: int = 1


@attrs.define
class Pool:
    """The caller's executor (or one of ours after it broke), fed in plan order."""

    executor: Executor
    settings: Settings
    work: Work
    seconds: float | None = None
    level: int = 0
    ahead: int = 1
    own: Executor | None = None  # a pool made here to replace a broken one
    refused: set[Handle] = attrs.Factory(set)  # submits the broken pool turned away

    def results(
        self, tasks: Iterator[Task], stopped: Callable[[Task], bool]
    ) -> Iterator[tuple[Task, Collection | None]]:
        """Each task with its collection, in plan order; ``None`` for a stopped key's task."""
        slots: deque[_Slot] = deque()
        try:
            while True:
                self._top_up(slots, tasks, stopped)
                if not slots:
                    return
                head = slots[0]
                if not isinstance(head.handle, Future) or head.handle.done():
                    slots.popleft()
                    yield head.task, self._result(head, slots)
                    continue
                self._wait(head, slots)
        finally:
            for slot in slots:
                if isinstance(slot.handle, Future):
                    slot.handle.cancel()
            if self.own is not None:
                self.own.shutdown(wait=False, cancel_futures=True)

    def _running(self, slots: deque[_Slot]) -> list[Handle]:
        return [s.handle for s in slots if isinstance(s.handle, Future) and not s.handle.done()]

    def _top_up(
        self, slots: deque[_Slot], tasks: Iterator[Task], stopped: Callable[[Task], bool]
    ) -> None:
        while len(self._running(slots)) < self.ahead and len(slots) < self.ahead * KEEP:
            task = next(tasks, None)
            if task is None:
                return
            slot = _Slot(task=task, handle=None)
            if not stopped(task):
                slot.handle = self._submit(task)
                slot.started = time.monotonic()
            slots.append(slot)

    def _submit(self, task: Task) -> Handle | Collection:
        executor = self.own or self.executor
        try:
            return executor.submit(run_remote, self.work, task, self.settings, here(), self.level)
        except Exception as e:
            if not _is_broken(e):
                return executor_failed(task, self.settings, e)
            refused: Handle = Future()  # broke before it was seen: handled as the others
            refused.set_exception(e)
            self.refused.add(refused)
            return refused

    def _wait(self, head: _Slot, slots: deque[_Slot]) -> None:
        """Until something finishes, or the head's time is up."""
        timeout = None
        if self.seconds is not None:
            timeout = head.started + self.seconds - time.monotonic()
            if timeout <= 0:
                raise TaskTimedOut(head.task, self.seconds)
        wait(self._running(slots), timeout=timeout, return_when=FIRST_COMPLETED)

    def _result(self, slot: _Slot, slots: deque[_Slot]) -> Collection | None:
        handle = slot.handle
        if handle is None or isinstance(handle, Collection):
            return handle
        try:
            done = handle.result()
        except BaseException as e:
            if _is_broken(e):
                return self._broken(slot, slots, e)
            if not isinstance(e, Exception) and not _cancelled(e):
                raise
            return executor_failed(slot.task, self.settings, e)
        return replay(done) if isinstance(done, Relayed) else done

    def _broken(self, slot: _Slot, slots: deque[_Slot], e: BaseException) -> Collection:
        """A worker died: the pool is replaced and its tasks run again, but the culprit.

        When one task alone was on the pool, it broke it and fails; when several
        were, each is tried once more, and one that breaks a pool again fails.
        """
        broken = self.own or self.executor
        processes = _processes()
        if processes is None or not isinstance(broken, processes.ProcessPoolExecutor):
            return executor_failed(slot.task, self.settings, e)
        held = [s for s in [slot, *slots] if isinstance(s.handle, Future) and _broke(s.handle)]
        if self.own is not None:
            self.own.shutdown(wait=False, cancel_futures=True)
        context = getattr(broken, "_mp_context", None)
        self.own = processes.ProcessPoolExecutor(
            max_workers=workers_of(broken) or 1, mp_context=context
        )
        ran = [s for s in held if s.handle not in self.refused]
        culprit = slot in ran and (len(ran) == 1 or slot.tries > 1)
        log.warning(
            "executor.replaced",
            key=slot.task.key,
            window=str(slot.task.window),
            reason=f"a worker process died ({describe_exception(e)}); "
            + ("it ran this task alone, which fails" if culprit else "its tasks run again"),
        )
        for other in held:
            if other is slot and culprit:
                continue
            other.handle = self._submit(other.task)
            other.started = time.monotonic()
            other.tries += 1
        if culprit:
            return executor_failed(slot.task, self.settings, e)
        return self._again(slot, slots)

    def _again(self, slot: _Slot, slots: deque[_Slot]) -> Collection:
        while isinstance(slot.handle, Future) and not slot.handle.done():
            self._wait(slot, deque([slot, *slots]))
        result = self._result(slot, slots)
        assert result is not None
        return result


def _broke(handle: Handle) -> bool:
    if not handle.done():
        return True  # it was running on the pool that broke
    error = handle.exception()
    return error is not None and _is_broken(error)


def _processes() -> Any:
    """``concurrent.futures.process``, once something loaded it.

    A run on threads or none never loads it (nor ``multiprocessing``, a
    megabyte and a half of a service's memory): a process pool, and so a
    broken one, exists only once its module was imported.
    """
    return sys.modules.get("concurrent.futures.process")


def _is_broken(e: BaseException) -> bool:
    processes = _processes()
    return processes is not None and isinstance(e, processes.BrokenProcessPool)


def _cancelled(e: BaseException) -> bool:
    """Whether ``e`` is asyncio's ``CancelledError`` (dask's futures raise it when cancelled).

    Without asyncio imported nothing can raise it, so it is not imported here.
    """
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(e, asyncio.CancelledError)


def executor_failed(task: Task, settings: Settings, e: BaseException) -> Collection:
    """The failed collection of a task the executor could not take or run."""
    error = f"executor could not run {task.key!r}: {describe_exception(e)}"
    log.error("executor.failed", key=task.key, window=str(task.window), error=error)
    return Collection(
        task=task, status="failed", started_at=settings.clock(), elapsed=0.0, error=error
    )


def default_ahead(executor: Executor | None, given: int | None) -> int:
    """Tasks in flight: as given, else the executor's own size, else twice the CPUs."""
    if given is not None:
        return given
    if executor is not None:
        size = workers_of(executor)
        if size is not None:
            return size
    return max(2, 2 * (os.cpu_count() or 1))
