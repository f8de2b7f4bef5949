"""Quiet by default, informative when asked.

A run says at INFO what it did and no more (empty windows and each upload
attempt are debug); ``run.done`` carries the run's figures; a save says what
it moved; a retry and its wait show in the command's progress, on a
terminal and in its ``progress`` events; a fresh state says so.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.cli import clean_env, run_cli
from test_progress import run_on_terminal, screen_lines

import pipeline_collector as pc
from pipeline_collector.cli.progress import Progress
from pipeline_collector.demo import run_demo
from pipeline_collector.testing import Fail, IngressServer, MemoryStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/jobs_collectors.py"
CONTENT_TYPE = "application/vnd.redhat.tower.analytics+tgz"


class TestInfoIsAsked:
    def test_a_demo_run_logs_a_line_per_thing_that_happened(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """At INFO: the plan, each collection with rows, each archive, each upload, each
        save that moved something, and the end; no line for an empty window or an attempt."""
        caplog.set_level(logging.INFO, logger="pipeline_collector")
        demo = run_demo(tmp_path / "demo")
        run = demo.run
        events = [getattr(r, "event", None) for r in caplog.records]
        assert "collection.done" in events and "run.done" in events
        ok = [c for c in run.collections if c.status == "ok"]
        # The config collection is logged too: it is not one of the run's collections.
        assert events.count("collection.done") == len(ok) + 1 < len(run.collections)
        assert "ship.attempt" not in events
        assert events.count("ship.accepted") == len(run.archives)
        # plan, config, a line per collection with rows, three per archive (written,
        # accepted, saved), the last save, state.missing and the end.
        budget = 2 + len(ok) + 3 * len(run.archives) + 3
        assert len(caplog.records) <= budget

    def test_run_done_carries_the_runs_figures(self, tmp_path: Path) -> None:
        with capture_logs() as logs:
            demo = run_demo(tmp_path / "demo", dry_run=True)
        (done,) = [e for e in logs if e["event"] == "run.done"]
        run = demo.run
        assert done["rows"] == sum(c.rows for c in run.collections) > 0
        assert done["bytes"] == sum(c.bytes for c in run.collections) > 0
        assert done["archives"] == len(run.archives) > 0
        assert done["archive_bytes"] == sum(a.size for a in run.archives)
        assert isinstance(done["seconds"], float) and 0 < done["seconds"] <= run.elapsed + 1

    def test_each_save_carries_what_it_moved_not_every_entry(self, tmp_path: Path) -> None:
        """A sliced key moves one window per upload: each save names that key and its new
        end, not the entries that stayed where they were."""
        with capture_logs() as logs:
            demo = run_demo(tmp_path / "demo")
        saves = [e for e in logs if e["event"] == "state.saved"]
        assert len(saves) >= 3
        state = demo.run.state
        assert state is not None
        for save in saves[1:-1]:
            assert len(save["entries"]) <= 2 < len(state.entries) + 1
        moved: dict[str, str] = {}
        for save in saves:
            moved.update(save["entries"])
        assert moved == {k: v.isoformat() for k, v in state.entries.items()}

    def test_a_missing_state_is_said_at_info(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """state.missing is INFO, as docs/events.md says: a fresh start is never silent."""
        caplog.set_level(logging.INFO, logger="pipeline_collector")
        for store in (pc.JsonFileStore(tmp_path / "s.json"), pc.SqliteStore(tmp_path / "s.db")):
            caplog.clear()
            assert store.load() == pc.State()
            (record,) = [r for r in caplog.records if getattr(r, "event", "") == "state.missing"]
            assert record.levelno == logging.INFO


class TestRetriesShow:
    def test_the_tally_names_the_wait_until_the_upload_is_answered(self) -> None:
        progress = Progress()
        progress(None, "warning", {"event": "ship.retry", "archive": "a.tar.gz", "attempt": 1,
                                   "status": 503, "delay": 4.0})  # fmt: skip
        t = progress.tally()
        assert t.retries == 1 and t.waiting == "upload a.tar.gz attempt 2 in 4.0 s (after 503)"
        assert progress.line(200).startswith("| upload a.tar.gz attempt 2 in 4.0 s")
        progress(None, "info", {"event": "ship.accepted", "archive": "a.tar.gz", "bytes": 1})
        assert progress.tally().waiting is None and progress.tally().retries == 1

    def test_a_terminal_shows_each_retry_and_its_wait(self, tmp_path: Path, jobs_db: Path) -> None:
        """Refused twice (503, Retry-After 1), the upload is retried: the terminal shows the
        retries, without -v, and the run ends ok."""
        with IngressServer(tmp_path / "received") as server:
            server.script([Fail(503, retry_after=1), Fail(503, retry_after=1)])
            code, terminal, _ = run_on_terminal(
                "gather",
                EXAMPLE,
                "--subset",
                "job_summary",
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--url",
                server.url,
                "--content-type",
                CONTENT_TYPE,
                env=clean_env(JOBS_DATABASE=str(jobs_db), COLUMNS="200"),
            )
        assert code == 0, terminal
        assert "attempt 2 in 1.0 s (after 503)" in terminal  # the status line, while waiting
        retries = [line for line in screen_lines(terminal) if "ship.retry" in line]
        assert len(retries) == 2  # a warning each, above the line

    def test_progress_events_count_the_retries(self, tmp_path: Path, jobs_db: Path) -> None:
        with IngressServer(tmp_path / "received") as server:
            server.script([Fail(503, retry_after=1)])
            done = subprocess.run(
                [sys.executable, "-m", "pipeline_collector", "gather", EXAMPLE,
                 "--subset", "job_summary", "--mode", "manual",
                 "--state", str(tmp_path / "state.json"), "--lock", str(tmp_path / "run.lock"),
                 "--url", server.url, "--content-type", CONTENT_TYPE,
                 "--progress-interval", "0.2"],
                capture_output=True, text=True, env=clean_env(JOBS_DATABASE=str(jobs_db)),
                cwd=ROOT, timeout=120, check=False,
            )  # fmt: skip
        assert done.returncode == 0, done.stderr
        events = [json.loads(line) for line in done.stderr.splitlines()]
        assert [e["retries"] for e in events if e["event"] == "progress"][-1] == 1
        waits = [e["waiting"] for e in events if e["event"] == "progress" and e["waiting"]]
        assert all("attempt 2 in 1.0 s (after 503)" in w for w in waits)
        assert [e["event"] for e in events].count("ship.retry") == 1


def test_a_gather_with_fakes_is_quiet_at_warning(tmp_path: Path) -> None:
    """A clean run logs nothing at WARNING or above: what a service sees by default."""

    @pc.register("config", "1.0", config=True)
    def config(**kwargs: object) -> dict[str, str]:
        return {"v": "1"}

    with capture_logs() as logs:
        run = pc.gather(
            [config],
            mode="manual",
            state=MemoryStore(),
            transport=pc.DirectoryTransport(tmp_path / "out"),
            lock=None,
            workdir=tmp_path / "work",
        )
    assert run.status == "ok"
    assert [e for e in logs if e["log_level"] in ("warning", "error")] == []


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, cwd=cwd, timeout=120)


class TestFreshStarts:
    """A missing or misspelt state path, or a misspelt variable, is said, not passed over."""

    def test_a_misspelt_variable_is_named_with_the_closest_known(
        self, tmp_path: Path, jobs_db: Path
    ) -> None:
        done = cli(
            "plan",
            str(ROOT / EXAMPLE),
            cwd=tmp_path,
            JOBS_DATABASE=str(jobs_db),
            PIPELINE_COLLECTOR_SATE="state.json",
            PIPELINE_COLLECTOR_LOG_FORMAT="console",
        )
        assert done.returncode == 0, done.stderr
        (line,) = [x for x in done.stderr.splitlines() if "env.unknown" in x]
        assert "PIPELINE_COLLECTOR_SATE" in line and "did you mean PIPELINE_COLLECTOR_STATE" in line

    def test_a_name_near_nothing_is_named_alone(self, tmp_path: Path, jobs_db: Path) -> None:
        done = cli(
            "plan",
            str(ROOT / EXAMPLE),
            cwd=tmp_path,
            JOBS_DATABASE=str(jobs_db),
            PIPELINE_COLLECTOR_XYZZY="1",
        )
        (event,) = [json.loads(x) for x in done.stderr.splitlines() if "env.unknown" in x]
        assert event["variable"] == "PIPELINE_COLLECTOR_XYZZY" and event["closest"] is None

    def test_known_variables_raise_no_warning(self, tmp_path: Path, jobs_db: Path) -> None:
        done = cli(
            "plan",
            cwd=tmp_path,
            JOBS_DATABASE=str(jobs_db),
            PIPELINE_COLLECTOR_MODULE=str(ROOT / EXAMPLE),
            PIPELINE_COLLECTOR_STATE="state.json",
            PIPELINE_COLLECTOR_PASSWORD="not-read-by-plan",
        )
        assert done.returncode == 0, done.stderr
        assert "env.unknown" not in done.stderr

    def test_plan_says_the_state_file_was_not_found(self, tmp_path: Path, jobs_db: Path) -> None:
        done = cli(
            "plan", str(ROOT / EXAMPLE), "--state", "sate.json", cwd=tmp_path,
            JOBS_DATABASE=str(jobs_db),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (
            "not found: sate.json does not exist, so a run starts from scratch, 28 days back"
            in (done.stdout)
        )
        as_json = cli(
            "plan", str(ROOT / EXAMPLE), "--state", "sate.json", "--json", cwd=tmp_path,
            JOBS_DATABASE=str(jobs_db),
        )  # fmt: skip
        assert json.loads(as_json.stdout)["state"]["found"] is False
        (tmp_path / "state.json").write_text('{"last_gather": null, "entries": {}}')
        found = cli(
            "plan", str(ROOT / EXAMPLE), "--state", "state.json", "--json", cwd=tmp_path,
            JOBS_DATABASE=str(jobs_db),
        )  # fmt: skip
        assert json.loads(found.stdout)["state"]["found"] is True

    def test_gather_on_a_terminal_says_first_it_starts_from_scratch(
        self, tmp_path: Path, jobs_db: Path
    ) -> None:
        code, terminal, _ = run_on_terminal(
            "gather",
            EXAMPLE,
            "--subset",
            "job_summary",
            "--mode",
            "manual",
            "--state",
            str(tmp_path / "sate.json"),
            "--lock",
            str(tmp_path / "run.lock"),
            "--dir",
            str(tmp_path / "out"),
            env=clean_env(JOBS_DATABASE=str(jobs_db), COLUMNS="200"),
        )
        assert code == 0, terminal
        said = f"state {tmp_path / 'sate.json'} was not found: this run starts from scratch"
        lines = screen_lines(terminal)
        assert said in lines[0] and lines[-1].startswith("run ok (manual)")
