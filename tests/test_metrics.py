"""Metrics: a run's figures as plain data and as a Prometheus textfile, replaced atomically."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import pipeline_collector as pc
from pipeline_collector.records import Run
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore
from pipeline_collector.tools.metrics import FAMILIES, figures, prometheus_text, write_metrics_file

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
START = datetime(2026, 11, 25, tzinfo=timezone.utc)


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "demo"}


@pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
def events(since: datetime, **kwargs: Any) -> Iterator[str]:
    yield "ts,n\n"
    for n in range(10):
        yield f"{since.isoformat()},{n}\n"


@pc.register("hosts", "1.0")
def hosts(**kwargs: Any) -> dict[str, Any]:
    return {"count": 3}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def partial_run(tmp_path: Path) -> Run:
    """Three windows of events and a JSON key; the second upload is refused, the third skipped."""
    return pc.gather(
        [config, events, hosts],
        mode="manual",
        state=MemoryStore(),
        transport=FakeTransport(fail_on={2}),
        lock=FakeLock(),
        clock=FrozenClock(NOW),
        since=START,
        workdir=tmp_path / "work",
    )


class TestFigures:
    def test_figures_count_the_run_per_run_and_per_key(self, tmp_path: Path) -> None:
        """Rows, bytes, parts, archives, shipped, failures and lag are the run's own."""
        run = partial_run(tmp_path)
        figs = figures(run)
        total = figs["run"]
        assert total["status"] == "partial" and total["mode"] == "manual"
        assert total["rows"] == 20 and total["parts"] == 3
        assert total["bytes"] == sum(c.bytes for c in run.collections)
        assert total["archives"] == len(run.archives) == 2
        assert total["shipped_archives"] == 1
        assert total["shipped_bytes"] == run.shipments[0].archive.size
        assert total["failures"] == 1  # the refused upload
        assert total["seconds"] == run.elapsed > 0
        ev = figs["keys"]["events"]
        assert (ev["rows"], ev["parts"], ev["archives"], ev["shipped_archives"]) == (20, 2, 2, 1)
        assert ev["shipped_until"] == datetime(2026, 11, 26, tzinfo=timezone.utc).timestamp()
        assert ev["lag_seconds"] == timedelta(hours=36).total_seconds()
        assert figs["keys"]["hosts"]["lag_seconds"] == 0.0
        assert ev["seconds"] == sum(c.elapsed for c in run.collections if c.key == "events")

    def test_figures_from_worker_processes_count(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Collections run in worker processes bring their rows and bytes into the figures."""
        monkeypatch.syspath_prepend(str(ROOT / "tests"))
        module = importlib.import_module("support.executor_collectors")
        where = tmp_path / "where"
        where.mkdir()
        monkeypatch.setenv(module.WHERE, str(where))
        clock = FrozenClock(datetime(2026, 11, 27, tzinfo=timezone.utc))
        with ProcessPoolExecutor(max_workers=2) as pool:
            run = pc.gather(
                module,
                mode="dry-run",
                clock=clock,
                executor=pool,
                since=clock.now - timedelta(days=3),
                workdir=tmp_path / "w",
            )
        figs = figures(run)
        rows = sum(c.rows for c in run.collections)
        assert rows > 0 and figs["run"]["rows"] == rows
        for key in {c.key for c in run.collections}:
            mine = [c for c in run.collections if c.key == key]
            assert figs["keys"][key]["rows"] == sum(c.rows for c in mine)
            assert figs["keys"][key]["bytes"] == sum(c.bytes for c in mine)
        pids = {int(f.name.split("-", 1)[0]) for f in where.iterdir()}
        assert pids and os.getpid() not in pids  # the work was done in other processes

    def test_lock_held_run_has_figures_too(self) -> None:
        """A run that found the lock held still writes valid figures with its status."""
        lock = FakeLock(held_elsewhere=True)
        run = pc.gather(
            [config, hosts],
            mode="manual",
            state=MemoryStore(),
            transport=FakeTransport(),
            lock=lock,
            clock=FrozenClock(NOW),
        )
        found = samples(prometheus_text(figures(run)))
        key = ("pipeline_collector_run_status", (("mode", "manual"), ("status", "lock-held")))
        assert found[key] == 1.0


class TestPrometheusText:
    def test_every_family_parses_with_help_and_type(self, tmp_path: Path) -> None:
        """prometheus_client parses the text; each family is documented and typed gauge."""
        run = partial_run(tmp_path)
        text = prometheus_text(figures(run))
        found = samples(text)
        names = {f.name for f in text_string_to_metric_families(text)}
        assert names == {f"pipeline_collector_{n}" for n in FAMILIES}
        ev = (("key", "events"),)
        assert found[("pipeline_collector_key_rows", ev)] == 20
        assert found[("pipeline_collector_key_failures", ev)] == 1  # its refused upload
        assert found[("pipeline_collector_key_failures", (("key", "hosts"),))] == 0
        assert found[("pipeline_collector_key_lag_seconds", ev)] == 36 * 3600
        assert found[("pipeline_collector_run_failures", (("mode", "manual"),))] == 1
        status = {k[1]: v for k, v in found.items() if k[0] == "pipeline_collector_run_status"}
        assert (
            sum(status.values()) == 1 and status[(("mode", "manual"), ("status", "partial"))] == 1
        )

    def test_hostile_label_values_survive_the_parser(self) -> None:
        """Quotes, backslashes and newlines in a label value come back exactly."""
        nasty = 'we"ird\\key\nname'
        figs = {
            "run": {
                "status": "ok",
                "mode": nasty,
                "timestamp": None,
                "seconds": 0.0,
                "rows": 0,
                "bytes": 0,
                "parts": 0,
                "archives": 0,
                "shipped_archives": 0,
                "shipped_bytes": 0,
                "failures": 0,
            },
            "keys": {},
        }
        found = samples(prometheus_text(figs))
        assert found[("pipeline_collector_run_rows", (("mode", nasty),))] == 0


class TestFile:
    def test_file_is_replaced_not_rewritten(self, tmp_path: Path) -> None:
        """A reader holding the old file keeps reading it whole; the path gets a new file."""
        run = partial_run(tmp_path)
        path = tmp_path / "textfile" / "collector.prom"
        path.parent.mkdir()
        write_metrics_file(path, run)
        first = path.read_text()
        with path.open() as old:
            inode = os.fstat(old.fileno()).st_ino
            later = pc.gather(
                [config, hosts],
                mode="manual",
                state=MemoryStore(),
                transport=FakeTransport(),
                lock=FakeLock(),
                clock=FrozenClock(NOW),
                workdir=tmp_path / "w2",
            )
            write_metrics_file(path, later)
            assert old.read() == first  # the old file is intact: nothing wrote into it
        assert os.stat(path).st_ino != inode
        assert path.read_text() != first and samples(path.read_text())
        assert sorted(p.name for p in path.parent.iterdir()) == ["collector.prom"]
        assert (os.stat(path).st_mode & 0o777) == 0o644

    def test_readers_never_see_half_a_file(self, tmp_path: Path) -> None:
        """While the file is replaced again and again, every read parses whole."""
        run = partial_run(tmp_path)
        path = tmp_path / "collector.prom"
        write_metrics_file(path, run)
        expected = len(samples(path.read_text()))
        done = threading.Event()
        reads: list[int] = []

        def reader() -> None:
            while not done.is_set():
                reads.append(len(samples(path.read_text())))

        t = threading.Thread(target=reader)
        t.start()
        try:
            for _ in range(200):
                write_metrics_file(path, run)
        finally:
            done.set()
            t.join()
        assert reads and set(reads) == {expected}

    def test_gather_writes_the_metrics_file(self, tmp_path: Path, jobs_db: Path) -> None:
        """``gather --metrics-file`` leaves a parseable file with the run's figures."""
        path = tmp_path / "collector.prom"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
        env["JOBS_DATABASE"] = str(jobs_db)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline_collector",
                "gather",
                "examples/jobs_collectors.py",
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--dir",
                str(tmp_path / "out"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--metrics-file",
                str(path),
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        found = samples(path.read_text())
        assert found[("pipeline_collector_run_status", (("mode", "manual"), ("status", "ok")))] == 1
        assert found[("pipeline_collector_key_rows", (("key", "job_events"),))] > 0
        assert ("pipeline_collector_key_lag_seconds", (("key", "job_events"),)) in found

    def test_unwritable_metrics_file_is_a_clear_error(self, tmp_path: Path) -> None:
        """A --metrics-file in a folder that does not exist exits 1 and names the option."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline_collector",
                "gather",
                "examples/jobs_collectors.py",
                "--workdir",
                str(tmp_path / "w"),
                "--metrics-file",
                str(tmp_path / "missing" / "c.prom"),
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=180,
            check=False,
        )
        assert result.returncode == 1 and "--metrics-file" in result.stderr
