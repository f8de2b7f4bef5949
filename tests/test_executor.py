"""Tasks run on an executor (threads, processes, dask) give the run a serial run gives."""

from __future__ import annotations

import csv
import importlib
import io
import multiprocessing
import os
import tarfile
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.testing import FakeTransport, FrozenClock, MemoryStore

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=4)
MAX_DATA = 64 * 1024  # small, so tables are cut into several parts


@pytest.fixture(scope="module")
def collectors() -> Iterator[ModuleType]:
    """The collector module, importable by name in this process and in spawned ones."""
    with pytest.MonkeyPatch.context() as mp:
        # Spawned processes and dask workers receive the parent's sys.path.
        mp.syspath_prepend(str(HERE))
        yield importlib.import_module("support.executor_collectors")


@pytest.fixture
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder where each task notes the process and thread that ran it (set before workers start)."""
    folder = tmp_path / "where"
    folder.mkdir()
    monkeypatch.setenv("EXECUTOR_COLLECTORS_WHERE", str(folder))
    return folder


def runners(folder: Path) -> set[tuple[int, str]]:
    """(pid, thread name) of whatever ran the tasks."""
    found = set()
    for p in folder.iterdir():
        pid, rest = p.name.split("-", 1)
        found.add((int(pid), rest.rsplit("-", 2)[0]))
    return found


def status_rows(data: bytes) -> list[list[str]]:
    """data_collection_status.csv without its ``elapsed`` column, which is wall time."""
    return [row[:5] for row in csv.reader(io.StringIO(data.decode()))]


def outcome(run: pc.Run, transport: FakeTransport, store: MemoryStore) -> dict[str, Any]:
    """Everything a run is judged by: archives member by member, shipments, bookkeeping."""
    archives = []
    for sent in transport.sent:
        with tarfile.open(fileobj=io.BytesIO(sent.data), mode="r:gz") as tar:
            members: list[tuple[str, Any]] = []
            for info in tar.getmembers():
                f = tar.extractfile(info)
                assert f is not None
                data = f.read()
                if info.name == "./data_collection_status.csv":
                    members.append((info.name, status_rows(data)))
                else:
                    members.append((info.name, data))
        archives.append((sent.name, members))
    return {
        "status": run.status,
        "reason": run.reason,
        "archives": archives,
        "collections": [
            (c.key, str(c.task.window), c.status, c.rows, c.bytes, len(c.parts), c.error)
            for c in run.collections
        ],
        "shipments": [(s.archive.name, s.ok, s.skipped, s.error) for s in run.shipments],
        "state": (store.state.last_gather, dict(store.state.entries)),
        "saves": [dict(s.entries) for s in store.history],
    }


def gather_with(collectors: ModuleType, tmp: Path, executor: Executor | None) -> dict[str, Any]:
    store, transport = MemoryStore(), FakeTransport()
    run = pc.gather(
        collectors,
        mode="manual",
        state=store,
        transport=transport,
        lock=pc.FileLock(tmp / "run.lock"),
        since=SINCE,
        clock=FrozenClock(NOW),
        workdir=tmp / "work",
        max_data_size=MAX_DATA,
        executor=executor,
    )
    return outcome(run, transport, store)


@pytest.fixture(scope="module")
def serial(collectors: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The reference: the same run with every task in this thread, one after another."""
    return gather_with(collectors, tmp_path_factory.mktemp("serial"), None)


class TestReference:
    def test_serial_run_exercises_parts_slices_and_a_failure(self, serial: dict[str, Any]) -> None:
        """The reference run cuts tables into parts, ships each window, and stops the failed key."""
        assert serial["status"] == "partial"
        jobs = [status for key, _, status, *_ in serial["collections"] if key == "jobs"]
        assert jobs == ["ok", "ok", "failed", "skipped", "skipped"]
        assert {key for key, *_, parts, _ in serial["collections"] if parts > 1} >= {
            "events",
            "files",
            "hosts",
        }
        assert len(serial["archives"]) > 10
        assert all(ok for _, ok, _, _ in serial["shipments"])
        entries = serial["state"][1]
        assert entries["jobs"] == datetime(2026, 11, 25, tzinfo=timezone.utc)
        assert entries["events"] == NOW
        assert len(serial["saves"]) > 1  # saved after each confirmed upload


class TestExecutors:
    def test_thread_pool_gives_the_serial_run(
        self, collectors: ModuleType, serial: dict[str, Any], tmp_path: Path, where: Path
    ) -> None:
        """gather(executor=ThreadPoolExecutor(2)) ships the same archives and keeps the same books."""
        with ThreadPoolExecutor(2, thread_name_prefix="pool") as pool:
            assert gather_with(collectors, tmp_path, pool) == serial
        ran = runners(where)
        assert {pid for pid, _ in ran} == {os.getpid()}
        assert len(ran) == 2 and all(name.startswith("pool") for _, name in ran)

    @pytest.mark.parametrize("method", ["fork", "spawn"])
    def test_process_pool_gives_the_serial_run(
        self,
        collectors: ModuleType,
        serial: dict[str, Any],
        tmp_path: Path,
        where: Path,
        method: str,
    ) -> None:
        """A ProcessPoolExecutor (forked or spawned workers) gives the serial run, archive by archive."""
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            assert gather_with(collectors, tmp_path, pool) == serial
        pids = {pid for pid, _ in runners(where)}
        assert pids and os.getpid() not in pids

    @pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
    def test_dask_cluster_gives_the_serial_run(
        self,
        collectors: ModuleType,
        serial: dict[str, Any],
        tmp_path: Path,
        where: Path,
        processes: bool,
    ) -> None:
        """A dask.distributed LocalCluster of two workers, through Client.get_executor(), gives the serial run."""
        from distributed import Client, LocalCluster

        # Worker processes talk to the scheduler over loopback TCP; threads in memory.
        listen = {"host": "127.0.0.1"} if processes else {}
        with (
            LocalCluster(  # type: ignore[no-untyped-call]  # distributed leaves __init__ unannotated
                n_workers=2,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                **listen,
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]  # distributed leaves __init__ unannotated
        ):
            assert gather_with(collectors, tmp_path, client.get_executor()) == serial
        ran = runners(where)
        if processes:
            assert ran and os.getpid() not in {pid for pid, _ in ran}
        else:
            assert ran and all(name != "MainThread" for _, name in ran)
