"""Progress: a live line on a terminal, ``progress`` events off one, a table at the end."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest
from structlog.testing import capture_logs
from support.cli import clean_env

import pipeline_collector as pc
from pipeline_collector.cli.progress import Progress, Screen
from pipeline_collector.cli.report import report_table, summary_line
from pipeline_collector.demo import grow
from pipeline_collector.testing import FakeTransport, MemoryStore
from pipeline_collector.units import human_bytes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/jobs_collectors.py"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def jobs_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database of ten days of job events, up to now."""
    path = tmp_path_factory.mktemp("jobs") / "jobs.sqlite3"
    grow(path, datetime.now(timezone.utc))
    return path


@pytest.fixture
def jobs(jobs_db: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example collector module, reading the test database."""
    monkeypatch.setenv("JOBS_DATABASE", str(jobs_db))
    return _load(ROOT / EXAMPLE, "_progress_jobs_collectors")


def run_on_terminal(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the command with stderr on a pseudo-terminal; return (code, terminal text, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline_collector", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        cwd=ROOT,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=60)
    return code, seen.decode("utf-8", "replace"), out


def screen_lines(text: str) -> list[str]:
    """What remains visible: each line after its last carriage return, escapes removed."""
    lines = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        visible = ANSI.sub("", raw.split("\r")[-1]).rstrip()
        if visible:
            lines.append(visible)
    return lines


class TestTerminal:
    def test_live_line_then_report_table(self, tmp_path: Path, jobs_db: Path) -> None:
        """On a terminal the run draws a status line and ends with the table per collection."""
        code, terminal, out = run_on_terminal(
            "gather",
            EXAMPLE,
            "--mode",
            "manual",
            "--state",
            str(tmp_path / "state.json"),
            "--lock",
            str(tmp_path / "run.lock"),
            "--dir",
            str(tmp_path / "out"),
            env=clean_env(JOBS_DATABASE=str(jobs_db), COLUMNS="160"),
        )
        assert code == 0, terminal
        assert out == ""
        assert "\r" in terminal and "windows" in terminal and "shipped" in terminal
        assert "{" not in terminal  # console lines, not JSON
        lines = screen_lines(terminal)
        header = max(i for i, line in enumerate(lines) if line.startswith("collection"))
        table = lines[header:]
        assert table[0].split() == [
            "collection",
            "windows",
            "rows",
            "bytes",
            "parts",
            "archives",
            "status",
            "seconds",
        ]
        keys = [line.split()[0] for line in table[2:-2] if not line.startswith("-")]
        assert keys == ["host_counts", "job_summary", "job_events"]
        total = next(line for line in table if line.startswith("total"))
        with __import__("sqlite3").connect(jobs_db) as db:
            events = db.execute("SELECT count(*) FROM job_events").fetchone()[0]
        assert f"{events:,}" in total.split()
        assert table[-1].startswith("run ok (manual):")
        assert "shipped" in table[-1]

    def test_failures_show_in_the_table(self, tmp_path: Path) -> None:
        """A failed collection shows as failed in the table and the run exits 1."""
        module = tmp_path / "flaky.py"
        module.write_text(
            textwrap.dedent("""\
                import pipeline_collector as pc

                @pc.register("config", "1.0", config=True)
                def config(**kwargs):
                    return {}

                @pc.register("good", "1.0")
                def good(**kwargs):
                    return {"ok": 1}

                @pc.register("bad", "1.0")
                def bad(**kwargs):
                    raise ValueError("no such table")
                """)
        )
        code, terminal, out = run_on_terminal(
            "gather", str(module), "--workdir", str(tmp_path / "w"), env=clean_env(COLUMNS="160")
        )
        assert code == 1
        lines = screen_lines(terminal)
        bad = next(line for line in lines if line.startswith("bad "))
        assert "failed" in bad.split()
        assert lines[-1].startswith("run partial (dry-run)")
        assert "no such table" in terminal  # the error event, shown above the line
        assert len(out.split()) == 1  # the one archive kept, on stdout


class TestOffTerminal:
    def test_progress_events_match_the_report(self, tmp_path: Path, jobs_db: Path) -> None:
        """Off a terminal progress is a JSON 'progress' event whose last counts match the report."""
        report = tmp_path / "report.json"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline_collector",
                "gather",
                EXAMPLE,
                "--mode",
                "manual",
                "--state",
                str(tmp_path / "state.json"),
                "--lock",
                str(tmp_path / "run.lock"),
                "--dir",
                str(tmp_path / "out"),
                "--report-json",
                str(report),
                "--progress-interval",
                "0.05",
            ],
            capture_output=True,
            text=True,
            env=clean_env(JOBS_DATABASE=str(jobs_db)),
            cwd=ROOT,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stderr.splitlines()]
        progress = [e for e in events if e["event"] == "progress"]
        assert progress
        last = progress[-1]
        data = json.loads(report.read_text())
        assert last["rows"] == sum(c["rows"] for c in data["collections"])
        assert last["done"] == last["windows"] == len(data["collections"])
        assert last["archives"] == len(data["archives"])
        assert last["shipped"] == len(data["shipments"])
        assert last["shipped_bytes"] == sum(a["bytes"] for a in data["archives"])
        assert all(e["level"] == "info" for e in progress)

    def test_progress_off(self, tmp_path: Path, jobs_db: Path) -> None:
        """--progress off logs no progress event."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline_collector",
                "gather",
                EXAMPLE,
                "--workdir",
                str(tmp_path),
                "--progress",
                "off",
            ],
            capture_output=True,
            text=True,
            env=clean_env(JOBS_DATABASE=str(jobs_db)),
            cwd=ROOT,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stderr.splitlines()]
        assert events and not [e for e in events if e["event"] == "progress"]


class TestProgressProcessor:
    def test_counts_follow_a_real_run(self, jobs: ModuleType, tmp_path: Path) -> None:
        """Fed the events of a real run, the tally matches the run's report."""
        progress = Progress(config_key="config")
        transport = FakeTransport()
        with capture_logs(processors=[progress]) as logs:
            run = pc.gather(
                jobs,
                mode="manual",
                state=MemoryStore(),
                transport=transport,
                lock=pc.FileLock(tmp_path / "lock"),
                workdir=tmp_path / "work",
            )
        assert run.status == "ok"
        assert any(e["event"] == "collection.done" for e in logs)
        t = progress.tally()
        assert run.plan is not None
        assert t.windows == len(run.plan.tasks) == t.done == len(run.collections)
        assert t.rows == sum(c.rows for c in run.collections)
        assert t.bytes == sum(c.bytes for c in run.collections)
        assert t.parts == sum(len(c.parts) for c in run.collections)
        assert t.archives == len(run.archives) == t.shipped == len(transport.sent)
        assert t.shipped_bytes == sum(len(s.data) for s in transport.sent)
        assert t.key == "job_events" and t.failed == 0

    def test_failures_and_refusals_are_counted(self, jobs: ModuleType, tmp_path: Path) -> None:
        """A refused upload and the windows it stops are counted as such."""
        progress = Progress(config_key="config")
        with capture_logs(processors=[progress]):
            run = pc.gather(
                jobs,
                mode="manual",
                state=MemoryStore(),
                transport=FakeTransport(fail_on={1}),
                lock=pc.FileLock(tmp_path / "lock"),
                workdir=tmp_path / "work",
            )
        t = progress.tally()
        refused = [s for s in run.shipments if not s.ok]
        assert refused and t.refused == len(refused)
        assert t.shipped == len(run.receipts)

    def test_line_fits_the_width(self) -> None:
        """The status line never exceeds the width it is given."""
        progress = Progress()
        for event in (
            {"event": "plan.made", "tasks": 12},
            {"event": "collector.called", "stage": "collect", "key": "job_events", "since": "x"},
            {"event": "collection.done", "rows": 1234567, "bytes": 50 * 2**20, "parts": 2},
        ):
            progress(None, "info", event)
        assert len(progress.line(40)) <= 40
        wide = progress.line(200)
        assert "job_events" in wide and "1/12 windows" in wide and "1,234,567 rows" in wide
        assert human_bytes(50 * 2**20) in wide

    def test_own_events_are_not_counted(self) -> None:
        """The processor leaves events unchanged and ignores the config collection."""
        progress = Progress(config_key="config")
        event = {"event": "collection.done", "key": "config", "rows": 5, "bytes": 9}
        assert progress(None, "info", dict(event)) == event
        progress(None, "info", {"event": "progress", "rows": 99})
        assert progress.tally().done == 0 and progress.tally().rows == 0


class TestReport:
    def test_table_per_collection(self, jobs: ModuleType, tmp_path: Path) -> None:
        """The table has one line per key, with its windows, rows and archives, and a total."""
        run = pc.gather(jobs, mode="dry-run", workdir=tmp_path)
        lines = report_table(run).splitlines()
        rows = {line.split()[0]: line.split() for line in lines[2:] if not line.startswith("-")}
        assert set(rows) == {"host_counts", "job_summary", "job_events", "total"}
        events = [c for c in run.collections if c.key == "job_events"]
        assert rows["job_events"][1] == str(len(events))
        assert rows["job_events"][2] == f"{sum(c.rows for c in events):,}"
        assert rows["host_counts"][2] == "-"  # a JSON collection has no rows
        assert rows["total"][1] == str(len(run.collections))
        holding = sum(1 for a in run.archives if "job_events" in {p.key for p in a.batch.parts})
        assert rows["job_events"][6] == str(holding)  # bytes take two cells: "1.95 MiB"
        assert summary_line(run).startswith(f"run ok (dry-run): {len(run.archives)} archives")


class TestScreen:
    def test_lines_go_above_the_status(self) -> None:
        """A printed line clears the status line, and the status is drawn again under it."""
        stream = io.StringIO()
        screen = Screen(stream, redact=lambda s: s.replace("hunter2", "<redacted>"))
        screen.status("working 1")
        screen.print("warning: hunter2 happened")
        screen.status("working 2")
        screen.clear()
        text = stream.getvalue()
        assert "hunter2" not in text
        assert text.index("warning: <redacted> happened\n") < text.rindex("working 1")
        assert text.endswith("\r\x1b[K")
