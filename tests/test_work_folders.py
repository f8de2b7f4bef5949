"""Work folders: a sweep removes only what dead runs left; workers must see the folder.

Runs that share a fixed work folder under locks of their own (tenants) must
never remove each other's live files; a run killed with SIGKILL leaves a
folder the next run sweeps; an executor whose workers cannot write the work
folder is refused before anything is collected, naming the folder.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import pipeline_collector as pc
from pipeline_collector.testing import FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=1)


def module(name: str, gate: threading.Event | None = None) -> list[Any]:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"tenant": name}

    @pc.register(f"{name}_rows", "1.0", format="csv")
    def rows(**kwargs: Any) -> Iterator[str]:
        yield "id\n"
        yield "1\n"
        if gate is not None:  # hold the run mid-collection, its part file open
            gate.wait(timeout=30)
        yield "2\n"

    return [config, rows]


def gather(collectors: list[Any], folder: Path, lock: Path, transport: FakeTransport) -> pc.Run:
    return pc.gather(
        collectors,
        pc.RunConfig(mode="manual", since=SINCE, workdir=folder),
        state=MemoryStore(),
        transport=transport,
        lock=pc.FileLock(lock),
        clock=FrozenClock(NOW),
    )


class TestSweep:
    """Only the folders of runs that died are swept."""

    def test_a_live_run_sharing_the_folder_keeps_its_files(self, tmp_path: Path) -> None:
        """Tenant B's run sweeps the shared folder while A is mid-collection: A ships whole."""
        work = tmp_path / "work"
        gate = threading.Event()
        a_transport = FakeTransport()
        results: list[pc.Run] = []
        a = threading.Thread(
            target=lambda: results.append(
                gather(module("alpha", gate), work, tmp_path / "a.lock", a_transport)
            )
        )
        a.start()
        deadline = time.monotonic() + 30
        while not list(work.glob("parts-*/*alpha*")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(work.glob("parts-*")), "A's run folder should exist by now"
        b = gather(module("beta"), work, tmp_path / "b.lock", FakeTransport())
        gate.set()
        a.join(timeout=60)
        assert b.status == "ok"
        assert results and results[0].status == "ok", results[0].reason if results else None
        with a_transport.open(0) as tar:
            data = tar.extractfile("./alpha_rows.csv")
            assert data is not None and data.read() == b"id\n1\n2\n"

    def test_what_a_killed_run_left_is_swept(self, tmp_path: Path) -> None:
        """A run killed with SIGKILL mid-collection leaves its folder; the next run removes it."""
        work = tmp_path / "work"
        script = tmp_path / "victim.py"
        script.write_text(
            textwrap.dedent(
                f"""
                import time
                import pipeline_collector as pc

                @pc.register("config", "1.0", config=True)
                def config(**kwargs):
                    return {{}}

                @pc.register("slow", "1.0", format="csv")
                def slow(**kwargs):
                    yield "id\\n"
                    yield "1\\n"
                    print("collecting", flush=True)
                    time.sleep(60)
                    yield "2\\n"

                pc.gather([config, slow], workdir={str(work)!r})
                """
            )
        )
        victim = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
        )
        assert victim.stdout is not None and victim.stdout.readline() == "collecting\n"
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        left = list(work.glob("parts-*"))
        assert left  # the dead run's folder, its part files inside
        with capture_logs() as events:
            run = gather(module("next"), work, tmp_path / "n.lock", FakeTransport())
        assert run.status == "ok"
        assert not any(p.exists() for p in left)
        assert [e for e in events if e["event"] == "workdir.swept"]

    def test_a_folder_without_an_owner_is_swept_only_when_old(self, tmp_path: Path) -> None:
        """A parts folder being made this instant (no owner yet) is left; an old one goes."""
        work = tmp_path / "work"
        work.mkdir()
        young, old = work / "parts-young", work / "parts-old"
        young.mkdir()
        old.mkdir()
        (old / "x.part").write_bytes(b"x")
        past = time.time() - 3600
        os.utime(old, (past, past))
        gather(module("gamma"), work, tmp_path / "g.lock", FakeTransport())
        assert young.exists() and not old.exists()


def _as_nobody() -> None:
    os.setgid(65534)
    os.setuid(65534)


class TestWorkersSeeTheFolder:
    """An executor whose workers cannot write the work folder is refused up front."""

    @pytest.mark.skipif(os.geteuid() != 0, reason="the worker changes user, which needs root")
    def test_workers_as_another_user_are_refused_naming_the_folder(self, tmp_path: Path) -> None:
        """Workers running as nobody cannot write the 0700 folder: a ConfigurationError names
        it before any collector runs."""
        called: list[str] = []

        @pc.register("config", "1.0", config=True)
        def config(**kwargs: Any) -> dict[str, str]:
            called.append("config")
            return {}

        work = tmp_path / "work"
        with (
            ProcessPoolExecutor(1, initializer=_as_nobody) as pool,
            pytest.raises(pc.ConfigurationError) as caught,
        ):
            pc.gather([config], workdir=work, executor=pool)
        assert f"cannot write the work folder {work}" in str(caught.value)
        assert "every worker sees" in str(caught.value)
        assert called == []

    def test_workers_that_see_it_run_as_before(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process pool on this host passes the probe and leaves no probe file."""
        monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
        slow = importlib.import_module("support.slow_collectors")
        with ProcessPoolExecutor(2) as pool:
            run = pc.gather(slow, subset=["quick"], workdir=tmp_path / "w", executor=pool)
        assert run.status == "ok"
        assert not list((tmp_path / "w").rglob(".worker-probe-*"))
