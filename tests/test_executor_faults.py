"""Executor faults fail their task only: killed workers, broken pools, refused submits.

Real executors throughout: a ProcessPoolExecutor whose worker is killed with
SIGKILL from inside a collector, a dask LocalCluster whose worker process
dies mid-task (the scheduler then runs the task again), a thread pool that
was shut down.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from structlog.testing import capture_logs

import pipeline_collector as pc
from pipeline_collector.errors import ConfigurationError
from pipeline_collector.run.workdir import _touch as _probe
from pipeline_collector.testing import FakeTransport, FrozenClock, MemoryStore

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=4)


@pytest.fixture(scope="module")
def killers() -> Iterator[ModuleType]:
    """The collector module, importable by name here and in spawned workers."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))
        yield importlib.import_module("support.killer_collectors")


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``doomed`` marks its kill; set before any worker starts."""
    folder = tmp_path / "marks"
    folder.mkdir()
    monkeypatch.setenv("KILLER_COLLECTORS_MARKS", str(folder))
    monkeypatch.setenv("KILLER_COLLECTORS_PARENT", str(os.getpid()))
    return folder


def run(
    module: ModuleType, tmp: Path, executor: Any, **kwargs: Any
) -> tuple[pc.Run, MemoryStore, FakeTransport]:
    store, transport = MemoryStore(), FakeTransport()
    result = pc.gather(
        module,
        mode="manual",
        state=store,
        transport=transport,
        lock=pc.FileLock(tmp / "run.lock"),
        since=SINCE,
        clock=FrozenClock(NOW),
        workdir=tmp / "work",
        executor=executor,
        **kwargs,
    )
    return result, store, transport


def statuses(result: pc.Run) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for c in result.collections:
        found.setdefault(c.key, []).append(c.status)
    return found


class TestKilledWorkers:
    """A worker killed mid-task costs that task (and what the broken pool held), not the run."""

    def test_process_pool_worker_killed_fails_tasks_not_the_run(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """SIGKILL in a pool worker: gather returns a partial run naming BrokenProcessPool."""
        context = multiprocessing.get_context("spawn")
        with capture_logs() as events, ProcessPoolExecutor(2, mp_context=context) as pool:
            result, store, _ = run(killers, tmp_path, pool, max_in_flight=1)
        assert (marks / "killed").exists()
        assert result.status == "partial"
        doomed = [c for c in result.collections if c.key == "doomed"]
        assert [c.status for c in doomed] == ["failed"]
        assert "BrokenProcessPool" in (doomed[0].error or "")
        assert "doomed" not in store.state.entries  # its window stays to be collected
        failed = [e for e in events if e["event"] == "executor.failed"]
        assert failed and all(e["key"] in ("doomed", "steady") for e in failed)
        # Tasks submitted after the pool broke fail one by one, with their key named.
        assert all(
            "BrokenProcessPool" in (c.error or "")
            for c in result.collections
            if c.status == "failed"
        )

    def test_dask_worker_killed_mid_task_is_run_again(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """A dask worker dying mid-task: the scheduler runs it again and it ships all its rows."""
        from distributed import Client, LocalCluster

        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            result, store, _ = run(killers, tmp_path, client.get_executor())
        assert (marks / "killed").exists(), "the first attempt was killed"
        assert result.status == "ok", result.reason
        assert statuses(result)["doomed"] == ["ok"]
        [doomed] = [c for c in result.collections if c.key == "doomed"]
        assert doomed.rows == killers.ROWS
        assert store.state.entries["doomed"] == NOW


class _Recording(ThreadPoolExecutor):
    """A thread pool that notes how many tasks it was handed and how many ran at once."""

    def __init__(self) -> None:
        super().__init__(4)
        self.submitted = 0
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.enough = threading.Event()
        self.wanted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is _probe:  # the run's check that workers see the work folder: not a task
            return super().submit(fn, *args, **kwargs)
        with self.lock:
            self.submitted += 1
            self.running += 1
            self.most = max(self.most, self.running)
            if self.submitted >= self.wanted:
                self.enough.set()
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self.lock:
            self.running -= 1


class TestSubmitAndInFlight:
    """submit() is guarded, and max_in_flight says how far ahead tasks are handed out."""

    def test_executor_that_refuses_submit_fails_each_task(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """A pool already shut down refuses every submit: each task fails by key, gather returns."""
        pool = ThreadPoolExecutor(2)
        pool.shutdown()
        with capture_logs():
            result, store, _ = run(killers, tmp_path, pool)
        assert result.status == "partial"
        assert {c.status for c in result.collections} <= {"failed", "skipped"}
        assert all(
            "RuntimeError" in (c.error or "") for c in result.collections if c.status == "failed"
        )
        assert store.state.entries == {}  # no window moved

    @pytest.mark.parametrize("limit", [1, 3])
    def test_at_most_max_in_flight_run_and_a_slow_first_task_stalls_nothing(
        self, killers: ModuleType, marks: Path, tmp_path: Path, limit: int
    ) -> None:
        """Never more than max_in_flight tasks run at once; while the first is slow, the
        others are handed out as workers free up, not held behind it."""
        pool = _Recording()
        tasks = 5  # the daily windows of steady over SINCE..NOW
        pool.wanted = tasks  # every task handed out: only possible if nothing waits on the first
        seen: list[int] = []
        original = getattr(killers, "steady")  # noqa: B009

        try:

            def steady(since: datetime, **kwargs: Any) -> Iterator[str]:
                if since == SINCE:  # the first task in plan order
                    pool.enough.wait(timeout=2.0)  # long enough for a stall to show
                    seen.append(pool.submitted)
                yield from original(since=since, **kwargs)

            pc.register("steady", "1.0", format="csv", fnc_slicing=pc.slicers.daily)(steady)
            setattr(killers, "steady", steady)  # noqa: B010 - a module attribute mypy cannot see
            with pool:
                result, _, _ = run(killers, tmp_path, pool, max_in_flight=limit, subset=["steady"])
        finally:
            setattr(killers, "steady", original)  # noqa: B010
        assert result.status == "ok"
        assert result.plan is not None and len(result.plan.tasks) == tasks
        assert pool.most <= limit
        assert seen == ([1] if limit == 1 else [tasks])

    def test_the_in_flight_bound_follows_the_executor(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """Without max_in_flight, a pool of 4 threads runs up to 4 tasks at once."""
        pool = _Recording()
        with pool:
            result, _, _ = run(killers, tmp_path, pool, subset=["steady"])
        assert result.status == "ok" and pool.submitted == 5
        assert 1 <= pool.most <= 4
        from pipeline_collector.run.pool import default_ahead

        assert default_ahead(pool, None) == 4 and default_ahead(pool, 2) == 2

    @pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
    def test_max_in_flight_must_be_a_whole_number(
        self, killers: ModuleType, tmp_path: Path, bad: object
    ) -> None:
        """Zero, negative, boolean, fractional or text max_in_flight is refused by name."""
        with pytest.raises(ConfigurationError, match="max_in_flight"):
            run(killers, tmp_path, None, max_in_flight=bad)


class _Answering(ThreadPoolExecutor):
    """A thread pool whose futures end in ``raised`` instead of the task's result."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(1)
        self.raised = raised

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(self.raised)
        return future


class TestFutureOutcomes:
    """What a future's result() raises: a cancellation fails its task, an interrupt the run."""

    def test_asyncio_cancelled_future_fails_its_task(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """A future cancelled the asyncio way (as dask's are) fails that task only, by name."""
        import asyncio

        with capture_logs():
            result, store, _ = run(killers, tmp_path, _Answering(asyncio.CancelledError()))
        assert result.status == "partial"
        failed = [c for c in result.collections if c.status == "failed"]
        assert failed and all("CancelledError" in (c.error or "") for c in failed)
        assert store.state.entries == {}

    def test_keyboard_interrupt_from_a_future_is_not_swallowed(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """An interrupt is not a task's failure: it stops the run and reaches the caller."""
        with capture_logs(), pytest.raises(KeyboardInterrupt):
            run(killers, tmp_path, _Answering(KeyboardInterrupt()))


@pytest.fixture(scope="module")
def slow() -> Iterator[ModuleType]:
    """Collectors of which ``hangs`` sleeps 30 s, importable by name."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))
        yield importlib.import_module("support.slow_collectors")


class TestTaskTimeout:
    """A hung window fails by name, the run ends and releases its lock."""

    @pytest.mark.parametrize("pooled", [False, True], ids=["serial", "threads"])
    def test_a_hung_task_ends_the_run_and_frees_the_lock(
        self, slow: ModuleType, tmp_path: Path, pooled: bool
    ) -> None:
        """task_timeout=1: the run fails naming hangs; the next run takes the same lock."""
        pool = ThreadPoolExecutor(2) if pooled else None
        try:
            with capture_logs() as events:
                result, store, _ = run(slow, tmp_path, pool, task_timeout=1)
            assert result.status == "failed"
            assert "collector 'hangs'" in (result.reason or "")
            assert "ran past task_timeout=1s" in (result.reason or "")
            assert [e for e in events if e["event"] == "task.timed_out"]
            hung = [c for c in result.collections if c.key == "hangs"]
            assert [c.status for c in hung] == ["failed"]
            assert "hangs" not in store.state.entries  # its window stays to be collected
            again, _, _ = run(slow, tmp_path, pool, subset=["quick"])
            assert again.status == "ok"  # the lock was released
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def test_the_thread_left_behind_is_a_daemon(self, slow: ModuleType, tmp_path: Path) -> None:
        """In a serial run the hung task's thread cannot be stopped: it is a daemon thread,
        so it never keeps the process alive, and it is named after its key."""
        run(slow, tmp_path, None, task_timeout=1, subset=["hangs"])
        left = [t for t in threading.enumerate() if t.name == "pipeline-collector-hangs"]
        assert left and all(t.daemon for t in left)

    @pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 1e7, True, "5"])
    def test_a_bad_limit_is_refused(self, slow: ModuleType, tmp_path: Path, bad: object) -> None:
        """Zero, negative, NaN, infinite, huge or non-numeric limits are refused by name."""
        with pytest.raises(ConfigurationError, match="task_timeout"):
            run(slow, tmp_path, None, task_timeout=bad)


class TestBrokenPoolReplaced:
    """A process pool broken by one task is replaced; the rest of the run goes on."""

    def test_the_other_keys_ship_after_a_worker_dies(
        self, killers: ModuleType, marks: Path, tmp_path: Path
    ) -> None:
        """Two workers, doomed kills its own: every steady window is collected and shipped."""
        context = multiprocessing.get_context("spawn")
        with capture_logs() as events, ProcessPoolExecutor(2, mp_context=context) as pool:
            result, store, _ = run(killers, tmp_path, pool, max_in_flight=2)
        assert (marks / "killed").exists()
        steady = [c for c in result.collections if c.key == "steady"]
        assert steady and all(c.status == "ok" for c in steady)
        assert store.state.entries["steady"] == NOW
        assert [e for e in events if e["event"] == "executor.replaced"]
        doomed = [c for c in result.collections if c.key == "doomed"]
        assert len(doomed) == 1
        if doomed[0].status == "failed":  # it ran alone when it broke the pool
            assert "BrokenProcessPool" in (doomed[0].error or "")
        else:  # tried again beside the others, it completes
            assert store.state.entries["doomed"] == NOW
