"""Events logged in worker processes reach the driver's handlers, tracebacks and fields kept.

Real executors: a ProcessPoolExecutor with forked and with spawned workers,
and a dask LocalCluster of worker processes.  The host's handler sits on the
``pipeline_collector`` logger of the process that calls ``gather``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import pipeline_collector as pc
from pipeline_collector.cli.secrets import Redactor
from pipeline_collector.run.relay import LIMIT, WorkerError, WorkerTraceback
from pipeline_collector.testing import FakeTransport, MemoryStore

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def relayed() -> Iterator[ModuleType]:
    """The collector module, importable by name here and in spawned workers."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))  # spawned processes and dask workers get sys.path
        yield importlib.import_module("support.relay_collectors")


def event(record: logging.LogRecord) -> str:
    """The event a record of the package carries."""
    name: str = getattr(record, "event", "")
    return name


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record of the package carries."""
    found: dict[str, Any] = getattr(record, "fields", {})
    return found


def relayed_here(record: logging.LogRecord) -> bool:
    """A worker's event, logged again here (not the driver's note about dropped ones)."""
    return "worker" in fields(record) and event(record) != "worker.events_dropped"


class Keep(logging.Handler):
    """The host's handler: keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, name: str, key: str | None = None) -> list[logging.LogRecord]:
        return [
            r
            for r in self.records
            if event(r) == name and (key is None or fields(r).get("key") == key)
        ]


@contextlib.contextmanager
def host_handler(level: int = logging.DEBUG) -> Iterator[Keep]:
    """A handler on ``pipeline_collector`` at ``level``, as a service would add it.

    structlog is put back to "not configured": ``capture_logs`` in an earlier
    test leaves it configured, and a configured structlog takes the events.
    """
    structlog.reset_defaults()
    keep = Keep()
    package = logging.getLogger("pipeline_collector")
    before = package.level
    package.addHandler(keep)
    package.setLevel(level)
    try:
        yield keep
    finally:
        package.removeHandler(keep)
        package.setLevel(before)


def gather(module: ModuleType, tmp: Path, executor: Executor | None, *keys: str) -> pc.Run:
    chosen = [getattr(module, k) for k in ("config", *keys)]
    return pc.gather(
        chosen,
        mode="manual",
        state=MemoryStore(),
        transport=FakeTransport(),
        workdir=tmp / "work",
        lock=None,
        executor=executor,
        max_data_size=128,
    )


def pool(method: str) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method))


def worker_pid(record: logging.LogRecord) -> int:
    return int(fields(record)["worker"].rpartition(":")[2])


def formatted(record: logging.LogRecord, formatter: logging.Formatter | None = None) -> str:
    return (formatter or logging.Formatter("%(name)s %(levelname)s %(message)s")).format(record)


METHODS = pytest.mark.parametrize("method", ["fork", "spawn"])


class TestProcessPool:
    """A process pool's workers log nothing themselves; the driver logs their events."""

    @METHODS
    def test_failure_in_a_worker_reaches_the_driver_with_its_traceback(
        self, relayed: ModuleType, tmp_path: Path, method: str
    ) -> None:
        """collection.failed from a worker is a record here: fields, worker pid and traceback."""
        with host_handler() as keep, pool(method) as executor:
            run = gather(relayed, tmp_path, executor, "rows", "broken")
        assert run.status == "partial"
        [failed] = keep.of("collection.failed", "broken")
        assert failed.name == "pipeline_collector.chunk" and failed.levelno == logging.ERROR
        assert worker_pid(failed) != os.getpid()
        assert {"stage", "key", "window", "error", "worker"} <= set(fields(failed))
        assert failed.exc_info is not None
        kind, error, _ = failed.exc_info
        assert kind is RuntimeError and isinstance(error, RuntimeError) and "refused" in str(error)
        assert isinstance(error.__cause__, WorkerTraceback)
        text = formatted(failed)
        assert "Traceback (most recent call last)" in text
        assert "in _connect" in text and "RuntimeError: login as app:" in text

    @METHODS
    def test_a_tasks_events_come_in_order_with_their_fields(
        self, relayed: ModuleType, tmp_path: Path, method: str
    ) -> None:
        """A worker's task logs collector.called then collection.done, with the fields a serial run has."""
        with host_handler() as serial:
            gather(relayed, tmp_path / "serial", None, "rows")
        with host_handler() as keep, pool(method) as executor:
            gather(relayed, tmp_path, executor, "rows")

        def of_rows(handler: Keep) -> list[tuple[str, str, list[str]]]:
            return [
                (r.name, event(r), sorted(set(fields(r)) - {"worker"}))
                for r in handler.records
                if fields(r).get("key") == "rows"
            ]

        assert of_rows(keep) == of_rows(serial)
        assert [e for _, e, _ in of_rows(keep)] == ["collector.called", "collection.done"]
        assert all(worker_pid(r) != os.getpid() for r in keep.records if "worker" in fields(r))

    @METHODS
    def test_an_exception_that_cannot_be_rebuilt_keeps_its_traceback(
        self, relayed: ModuleType, tmp_path: Path, method: str
    ) -> None:
        """An exception that will not unpickle arrives as WorkerError, the worker's traceback its cause."""
        with host_handler() as keep, pool(method) as executor:
            gather(relayed, tmp_path, executor, "refused")
        [failed] = keep.of("collection.failed", "refused")
        assert failed.exc_info is not None
        assert failed.exc_info[0] is WorkerError
        assert "Refused: refused with code 7" in str(failed.exc_info[1])
        assert "support.relay_collectors.Refused: refused with code 7" in formatted(failed)

    def test_secrets_stay_redacted(self, relayed: ModuleType, tmp_path: Path) -> None:
        """The host's redacting formatter cuts a secret from a relayed event, traceback included."""
        redact = Redactor([relayed.SECRET])

        class Redacting(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                return redact(super().format(record))

        with host_handler() as keep, pool("spawn") as executor:
            gather(relayed, tmp_path, executor, "broken")
        text = "\n".join(formatted(r, Redacting("%(message)s")) for r in keep.records)
        assert "Traceback (most recent call last)" in text and "in _connect" in text
        assert "login as app:<redacted> refused" in text
        assert relayed.SECRET not in text

    def test_only_levels_the_host_logs_are_carried_back(
        self, relayed: ModuleType, tmp_path: Path
    ) -> None:
        """With the package at WARNING, a worker's debug and info events are not sent back."""
        with host_handler(logging.WARNING) as keep, pool("fork") as executor:
            gather(relayed, tmp_path, executor, "rows", "broken")
        assert [event(r) for r in keep.records if relayed_here(r)] == ["collection.failed"]

    def test_a_structlog_host_gets_the_events_too(
        self, relayed: ModuleType, tmp_path: Path
    ) -> None:
        """With structlog configured in the driver, relayed events go through it, exc_info kept."""
        with capture_logs() as logs, pool("spawn") as executor:
            gather(relayed, tmp_path, executor, "broken")
        [failed] = [e for e in logs if e["event"] == "collection.failed"]
        assert failed["stage"] == "chunk" and failed["key"] == "broken"
        assert int(failed["worker"].rpartition(":")[2]) != os.getpid()
        assert isinstance(failed["exc_info"][1].__cause__, WorkerTraceback)


class TestBound:
    """A task's events are carried back up to a bound, the first and the last kept."""

    def test_a_chatty_task_is_cut_and_says_how_many_were_dropped(
        self, relayed: ModuleType, tmp_path: Path
    ) -> None:
        """The first LIMIT-1 events and the last arrive, then worker.events_dropped counts the rest."""
        with host_handler() as serial:
            gather(relayed, tmp_path / "serial", None, "wide")
        everything = [
            event(r)
            for r in serial.records
            if fields(r).get("key") == "wide" and r.name != "pipeline_collector.run.runner"
        ]
        assert everything.count("record.oversized") == relayed.WIDE_ROWS
        with host_handler() as keep, pool("fork") as executor:
            gather(relayed, tmp_path, executor, "wide")
        came = [r for r in keep.records if relayed_here(r)]
        assert [event(r) for r in came] == [*everything[: LIMIT - 1], everything[-1]]
        assert event(came[-1]) == "collection.done"
        [dropped] = keep.of("worker.events_dropped", "wide")
        assert fields(dropped)["dropped"] == len(everything) - LIMIT
        assert keep.records.index(dropped) == keep.records.index(came[-1]) - 1


class TestDask:
    """A dask LocalCluster's worker processes relay their events the same way."""

    def test_failure_on_a_dask_worker_reaches_the_driver(
        self, relayed: ModuleType, tmp_path: Path
    ) -> None:
        """collection.failed from a dask worker process is a record here, with its traceback."""
        from distributed import Client, LocalCluster

        with (
            host_handler() as keep,
            LocalCluster(  # type: ignore[no-untyped-call]  # distributed leaves __init__ unannotated
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            run = gather(relayed, tmp_path, client.get_executor(), "rows", "broken")
        assert run.status == "partial"
        [failed] = keep.of("collection.failed", "broken")
        assert worker_pid(failed) != os.getpid()
        assert failed.exc_info is not None and failed.exc_info[0] is RuntimeError
        assert "in _connect" in formatted(failed)
        assert [event(r) for r in keep.of("collection.done", "rows")] == ["collection.done"]
