"""Lag and history: what shipped, how far behind each key is, what failed last, recent runs."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support import cli

import pipeline_collector as pc
from pipeline_collector.book.health import (
    FAILURES,
    KEEP_RUNS,
    MAX_ERROR,
    RUNS,
    RunRecord,
    note_run,
    read_runs,
)
from pipeline_collector.book.status import report_json, status
from pipeline_collector.ingress import Fail, IngressServer, Stall
from pipeline_collector.records import State
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore

ROOT = Path(__file__).resolve().parents[1]
# The command reads the real clock: runs here happen "now", on the hour.
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
START = NOW.replace(hour=0) - timedelta(days=2)
CONTENT_TYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "eda"}


@pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
def events(since: datetime, until: datetime, **kwargs: Any) -> Any:
    yield "ts\n"
    yield f"{since.isoformat()}\n"


@pc.register("hosts", "1.0")
def hosts(**kwargs: Any) -> dict[str, Any]:
    return {"count": 1}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return cli.run_cli(*args, cwd=ROOT, timeout=120)


@pytest.fixture
def refused_upload(tmp_path: Path) -> pc.JsonFileStore:
    """A state after a run whose second upload a real ingress refused with 413."""
    store = pc.JsonFileStore(tmp_path / "state.json")
    with IngressServer(tmp_path / "ingress") as server:
        server.script([Stall(0), Fail(413)])
        result = pc.gather(
            [config, events],
            mode="manual",
            state=store,
            transport=pc.HttpTransport(url=server.url, content_type=CONTENT_TYPE),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            since=START,
            workdir=tmp_path / "work",
        )
    assert result.status == "partial"
    return store


class TestAfterAFailedUpload:
    def test_status_shows_the_lag_and_the_last_failure(
        self, refused_upload: pc.JsonFileStore
    ) -> None:
        """The key's entry stops after its first window; its failure names the second and why."""
        report = status(refused_upload, now=NOW)
        (key,) = report.keys
        assert key.key == "events"
        assert key.shipped_until == START + timedelta(days=1)
        assert key.lag == NOW - (START + timedelta(days=1))
        failure = key.last_failure
        assert failure is not None and failure.window is not None
        assert failure.window.since == START + timedelta(days=1)
        assert failure.window.until == START + timedelta(days=2)
        assert "413" in failure.error
        assert failure.at == NOW
        (run,) = report.runs
        assert (run.mode, run.status, run.archives, run.shipped) == ("manual", "partial", 2, 1)
        assert run.failures == 1 and run.rows == 2 and run.bytes > 0
        assert run.reason is not None and "413" in run.reason

    def test_command_exit_code_says_whether_a_key_is_behind(
        self, refused_upload: pc.JsonFileStore
    ) -> None:
        """``status --max-lag`` exits 1 past the lag and 0 within it, with the same JSON."""
        behind = run_cli("status", "--state", str(refused_upload.path), "--max-lag", "1d")
        assert behind.returncode == 1, behind.stderr
        document = json.loads(behind.stdout)
        assert document["behind"] == ["events"]
        (key,) = document["keys"]
        assert key["shipped_until"] == (START + timedelta(days=1)).isoformat()
        assert key["lag_seconds"] >= (NOW - START - timedelta(days=1)).total_seconds()
        assert key["last_failure"]["since"] == (START + timedelta(days=1)).isoformat()
        assert "413" in key["last_failure"]["error"]
        within = run_cli("status", "--state", str(refused_upload.path), "--max-lag", "30d")
        assert within.returncode == 0, within.stderr
        assert json.loads(within.stdout)["behind"] == []
        plain = run_cli("status", "--state", str(refused_upload.path))
        assert plain.returncode == 0 and json.loads(plain.stdout)["max_lag_seconds"] is None

    def test_command_draws_a_table_on_a_terminal(self, refused_upload: pc.JsonFileStore) -> None:
        """On a terminal ``status`` prints a table with the lag, the failure and the runs."""
        main, child = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline_collector",
                "status",
                "--state",
                str(refused_upload.path),
                "--max-lag",
                "1d",
            ],
            stdout=child,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        os.close(child)
        out = b""
        try:
            while chunk := os.read(main, 65536):
                out += chunk
        except OSError:  # the terminal closed: all was read
            pass
        os.close(main)
        text = out.decode()
        assert proc.returncode == 1
        assert "BEHIND" in text and "last failures" in text and "413" in text
        assert "recent runs (1 of 1 kept)" in text and "partial" in text
        assert not text.lstrip().startswith("{")


class TestRecord:
    def test_history_keeps_the_last_runs_at_and_past_the_bound(self) -> None:
        """The history holds KEEP_RUNS runs; one more drops the oldest."""
        state = State()
        for n in range(KEEP_RUNS):
            state = note_run(
                state, RunRecord(at=NOW + timedelta(hours=n), mode="manual", status="ok")
            )
        assert len(state.extra[RUNS]) == KEEP_RUNS
        state = note_run(
            state, RunRecord(at=NOW + timedelta(hours=99), mode="scheduled", status="ok")
        )
        runs, problem = read_runs(state)
        assert problem is None and len(runs) == KEEP_RUNS
        assert runs[0].at == NOW + timedelta(hours=1) and runs[-1].mode == "scheduled"

    def test_every_shipping_run_is_recorded_and_a_dry_run_is_not(self, tmp_path: Path) -> None:
        """Manual runs append to the history; a dry run leaves the state alone."""
        store = MemoryStore()
        clock = FrozenClock(NOW)
        for _ in range(3):
            pc.gather(
                [config, hosts],
                mode="manual",
                state=store,
                transport=FakeTransport(),
                lock=FakeLock(),
                clock=clock,
                workdir=tmp_path / "w",
            )
            clock.advance(timedelta(hours=1))
        pc.gather([config, hosts], state=store, clock=clock, workdir=tmp_path / "dry")
        runs = status(store, now=clock.now).runs
        assert [r.at for r in runs] == [NOW, NOW + timedelta(hours=1), NOW + timedelta(hours=2)]
        assert all(r.status == "ok" and r.reason is None for r in runs)

    def test_last_full_sync_is_shown(self, tmp_path: Path) -> None:
        """A sliced key with a full-sync interval shows when it last synced in full."""

        @pc.register(
            "synced", "1.0", format="csv", fnc_slicing=pc.slicers.daily, full_sync_interval_days=7
        )
        def synced(since: datetime, **kwargs: Any) -> Any:
            yield "ts\n"
            yield f"{since.isoformat()}\n"

        store = MemoryStore()
        pc.gather(
            [config, synced],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            since=START,
            workdir=tmp_path / "w",
        )
        (key,) = status(store, now=NOW + timedelta(hours=3)).keys
        assert key.key == "synced" and key.full_sync == NOW
        assert key.lag == timedelta(hours=3)

    def test_config_failure_is_a_failed_run_not_a_key_behind(self, tmp_path: Path) -> None:
        """A failing config collector records a failed run with its reason; no key is behind."""

        @pc.register("config", "1.0", config=True)
        def broken(**kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("settings table missing")

        store = MemoryStore()
        result = pc.gather(
            [broken, hosts],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "w",
        )
        assert result.status == "failed"
        report = status(store, now=NOW, max_lag=timedelta(days=1))
        assert report.behind == () and report.keys == ()
        (run,) = report.runs
        assert run.status == "failed" and "settings table missing" in (run.reason or "")
        assert store.state.entries == {}

    def test_error_is_cut_to_the_bound(self, tmp_path: Path) -> None:
        """A failure's error is stored up to MAX_ERROR characters."""

        @pc.register("hosts", "1.0")
        def noisy(**kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("x" * (MAX_ERROR * 3))

        store = MemoryStore()
        pc.gather(
            [config, noisy],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "w",
        )
        stored = store.state.extra[FAILURES]["hosts"]["error"]
        assert len(stored) == MAX_ERROR and stored.startswith("collector 'hosts' raised")

    def test_key_that_failed_and_never_shipped_is_behind(self, tmp_path: Path) -> None:
        """A key with a failure and no entry counts as behind once --max-lag is given."""

        @pc.register("hosts", "1.0")
        def failing(**kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("no hosts table")

        store = MemoryStore()
        pc.gather(
            [config, failing],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "w",
        )
        assert [k.key for k in status(store, now=NOW, max_lag=timedelta(days=9)).behind] == [
            "hosts"
        ]
        assert status(store, now=NOW).behind == ()

    def test_a_retired_key_is_shown_but_never_behind(self, tmp_path: Path) -> None:
        """A key named retired (its collector was removed) stays in the report, marked
        retired, and no longer counts as behind; the others still do."""

        @pc.register("hosts", "1.0")
        def failing(**kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("no hosts table")

        @pc.register("users", "1.0")
        def also_failing(**kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("no users table")

        store = MemoryStore()
        pc.gather(
            [config, failing, also_failing],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "w",
        )
        report = status(store, now=NOW, max_lag=timedelta(days=9), retired=["hosts"])
        assert [k.key for k in report.behind] == ["users"]
        by_key = {k.key: k for k in report.keys}
        assert by_key["hosts"].retired and by_key["hosts"].last_failure is not None
        assert not by_key["users"].retired
        assert report_json(report)["keys"][0]["retired"] is True

    def test_command_takes_retired_keys(self, refused_upload: pc.JsonFileStore) -> None:
        """``status --retired events`` exits 0 where the same state without it is behind."""
        args = ("status", "--state", str(refused_upload.path), "--max-lag", "1d")
        assert run_cli(*args).returncode == 1
        retired = run_cli(*args, "--retired", "events")
        assert retired.returncode == 0, retired.stderr
        document = json.loads(retired.stdout)
        assert document["behind"] == [] and document["keys"][0]["retired"] is True


class TestStates:
    def test_state_without_records_loads(self, tmp_path: Path) -> None:
        """A state written before these records existed (entries as a string) gives a report."""
        path = tmp_path / "state.json"
        path.write_text(
            json.dumps(
                {
                    "last_gather": "2026-11-25T12:00:00Z",
                    "entries": json.dumps(
                        {"jobs": "2026-11-25T12:00:00Z", "jobs_full": "2026-11-20T00:00:00Z"}
                    ),
                }
            )
        )
        report = status(pc.JsonFileStore(path), now=datetime(2026, 11, 27, 12, tzinfo=timezone.utc))
        (key,) = report.keys
        assert key.key == "jobs" and key.lag == timedelta(days=2)
        assert key.full_sync == datetime(2026, 11, 20, tzinfo=timezone.utc)
        assert report.runs == () and report.problems == () and key.last_failure is None

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            (FAILURES, "boom"),
            (FAILURES, {"jobs": {"at": "yesterday", "error": "x"}}),
            (FAILURES, {"jobs": {"at": "2026-11-25T12:00:00", "error": "x"}}),
            (RUNS, {"not": "a list"}),
            (RUNS, [{"at": "2026-11-25T12:00:00Z", "mode": "manual", "status": "ok"}]),
            (
                RUNS,
                [
                    {
                        "at": "2026-11-25T12:00:00Z",
                        "mode": "manual",
                        "status": "ok",
                        "archives": -1,
                        "shipped": 0,
                        "bytes": 0,
                        "rows": 0,
                        "failures": 0,
                        "seconds": 1,
                    }
                ],
            ),
        ],
    )
    def test_foreign_records_are_named_and_left_alone(
        self, tmp_path: Path, name: str, value: Any
    ) -> None:
        """A record of another shape is a named problem in the report and survives a run."""
        store = MemoryStore(State(extra={name: value}))
        report = status(store, now=NOW)
        assert any(p.startswith(f"state: {name}") for p in report.problems), report.problems

        @pc.register("hosts", "1.0")
        def failing(**kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("boom")

        pc.gather(
            [config, failing],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "w",
        )
        assert store.state.extra[name] == value

    def test_report_json_round_trips_through_json(self, tmp_path: Path) -> None:
        """The JSON report is plain JSON values."""
        store = MemoryStore()
        pc.gather(
            [config, hosts],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "w",
        )
        document = report_json(status(store, now=NOW))
        assert json.loads(json.dumps(document)) == document


class TestCommandInput:
    def test_without_state_is_a_usage_error(self) -> None:
        """``status`` without --state exits 2 and says what it needs."""
        result = run_cli("status")
        assert result.returncode == 2 and "--state" in result.stderr

    @pytest.mark.parametrize("lag", ["0", "-1d", "soon", "2x"])
    def test_bad_max_lag_is_refused(self, tmp_path: Path, lag: str) -> None:
        """A --max-lag that is not a positive duration exits 2, naming the value."""
        result = run_cli("status", "--state", str(tmp_path / "s.json"), f"--max-lag={lag}")
        assert result.returncode == 2 and lag in result.stderr

    def test_unreadable_state_fails_the_probe(self, tmp_path: Path) -> None:
        """A state that cannot be read exits 6 with the store's error, never an empty report."""
        path = tmp_path / "state.json"
        path.write_text("{not json")
        result = run_cli("status", "--state", str(path), "--max-lag", "2d")
        assert result.returncode == 6 and "not valid JSON" in result.stderr

    def test_state_from_the_config_file(self, tmp_path: Path) -> None:
        """``status --config`` reads --state from gather's TOML file and passes over the rest."""
        state = tmp_path / "state.json"
        state.write_text(json.dumps({"last_gather": None, "entries": {"jobs": NOW.isoformat()}}))
        toml = tmp_path / "collector.toml"
        toml.write_text(
            f'module = "examples/jobs_collectors.py"\nmode = "manual"\n'
            f'state = "{state}"\nmax-lag = "2d"\n'
        )
        result = run_cli("status", "--config", str(toml))
        assert result.returncode == 0, result.stderr
        assert [k["key"] for k in json.loads(result.stdout)["keys"]] == ["jobs"]
