"""Text that leaves the library is valid UTF-8 or escaped, whatever lone surrogates it met.

A lone surrogate reaches a ``str`` from a JSON state (``"\\ud800"``), from a
file name decoded with ``surrogateescape``, or from an exception's message.
A state key holding one is refused on load, named escaped (keys name
collectors, so none can hold one); a failure message holding one is
escaped wherever it is written: the state, the metrics file, the JSON
report, the command's output and ``status``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import pipeline_collector as pc
from pipeline_collector.records import Run, State
from pipeline_collector.testing import FrozenClock
from pipeline_collector.tools.metrics import write_metrics_file

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
KEY = '"old\\ud800key"'  # as the JSON text holds it
ESCAPED = "'old\\ud800key'"  # as a message shows the key: its repr, the surrogate escaped

MODULE = """
import pipeline_collector as pc

@pc.register("config", "1.0", config=True)
def config(**kwargs):
    return {"platform": "test"}

@pc.register("files", "1.0")
def files(**kwargs):
    raise OSError("cannot read /data/report-\\udcff.csv")

@pc.register("hosts", "1.0")
def hosts(**kwargs):
    return {"count": 3}
"""


def error_of(done: subprocess.CompletedProcess[bytes]) -> str:
    """The command's one error line (JSON off a terminal), its stderr read as strict UTF-8."""
    lines = done.stderr.decode("utf-8").splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    [failed] = [e for e in events if e["event"] == "command.failed"]
    return str(failed["error"])


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline_collector", *args],
        capture_output=True,
        env=env,
        cwd=tmp,
        timeout=180,
        check=False,
    )


def gather_args(tmp: Path, *extra: str) -> list[str]:
    return [
        "gather",
        str(tmp / "module.py"),
        "--mode",
        "manual",
        "--state",
        str(tmp / "state.json"),
        "--dir",
        str(tmp / "out"),
        "--lock",
        str(tmp / "run.lock"),
        "--workdir",
        str(tmp / "work"),
        *extra,
    ]


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "module.py"
    path.write_text(MODULE)
    return path


class TestAStateKeyWithALoneSurrogate:
    def state_file(self, tmp: Path) -> Path:
        path = tmp / "state.json"
        path.write_text('{"entries": {' + KEY + ': "2026-11-27T10:00:00Z"}}')
        return path

    def test_gather_refuses_it_naming_the_key_and_keeps_the_metrics_file(
        self, tmp_path: Path, module: Path
    ) -> None:
        self.state_file(tmp_path)
        metrics = tmp_path / "collector.prom"
        metrics.write_text("# the last run's figures\n")
        done = cli(tmp_path, *gather_args(tmp_path, "--metrics-file", str(metrics)))
        assert done.returncode == 6  # the state cannot be read: a retry would meet it again
        error = error_of(done)
        assert error.startswith("StateError: ") and f"entries key {ESCAPED} is not valid" in error
        assert metrics.read_text() == "# the last run's figures\n"

    def test_status_refuses_it_naming_the_key(self, tmp_path: Path) -> None:
        self.state_file(tmp_path)
        done = cli(tmp_path, "status", "--state", str(tmp_path / "state.json"))
        assert done.returncode == 6 and f"entries key {ESCAPED} is not valid" in error_of(done)

    def test_every_store_refuses_it(self, tmp_path: Path) -> None:
        json_state = self.state_file(tmp_path)
        with pytest.raises(pc.StateError) as caught:
            pc.JsonFileStore(json_state).load()
        assert f"entries key {ESCAPED} is not valid" in str(caught.value)
        settings = pc.stores.SettingsStore(
            {"AUTOMATION_ANALYTICS_LAST_ENTRIES": "{" + KEY + ': "2026-11-27T10:00:00Z"}'}.get,
            lambda key, value: None,
        )
        with pytest.raises(pc.StateError) as caught:
            settings.load()
        assert f"entries key {ESCAPED} is not valid" in str(caught.value)


class TestAFailureMessageWithALoneSurrogate:
    def test_state_metrics_report_and_status_are_valid_utf8(
        self, tmp_path: Path, module: Path
    ) -> None:
        metrics, report = tmp_path / "collector.prom", tmp_path / "report.json"
        done = cli(
            tmp_path,
            *gather_args(tmp_path, "--metrics-file", str(metrics), "--report-json", str(report)),
        )
        stderr = done.stderr.decode("utf-8")  # strict: valid UTF-8
        assert done.returncode == 1, stderr  # partial: files failed, hosts shipped
        assert "UnicodeEncodeError" not in stderr
        for path in (tmp_path / "state.json", metrics, report):
            path.read_bytes().decode("utf-8")  # strict
        families = {f.name for f in text_string_to_metric_families(metrics.read_text())}
        assert "pipeline_collector_key_failures" in families
        failures = json.loads((tmp_path / "state.json").read_text())["failures"]
        assert failures["files"]["error"].endswith("report-\\udcff.csv")  # escaped, not a surrogate
        shown = cli(tmp_path, "status", "--state", str(tmp_path / "state.json"))
        status = shown.stdout.decode("utf-8")  # JSON off a terminal, strict UTF-8
        [files] = [k for k in json.loads(status)["keys"] if k["key"] == "files"]
        assert files["last_failure"]["error"].endswith("report-\\udcff.csv")
        assert "UnicodeEncodeError" not in shown.stderr.decode("utf-8")

    def test_a_metrics_file_of_a_state_holding_one(self, tmp_path: Path) -> None:
        """A ``Run`` whose state was made in memory with such a key still writes its figures."""
        state = State(entries={"old\ud800key": NOW - timedelta(hours=1)})
        run = Run(mode="manual", status="ok", state=state)
        path = write_metrics_file(tmp_path / "c.prom", run)
        text = path.read_bytes().decode("utf-8")
        assert 'key="old\\\\ud800key"' in text
        assert list(text_string_to_metric_families(text))

    def test_the_library_run_records_it_escaped(self, tmp_path: Path) -> None:
        @pc.register("config", "1.0", config=True)
        def config(**kwargs: object) -> dict[str, str]:
            return {"platform": "test"}

        @pc.register("files", "1.0")
        def files(**kwargs: object) -> dict[str, str]:
            raise OSError(os.fsdecode(b"cannot read /data/\xff.csv"))

        store = pc.JsonFileStore(tmp_path / "state.json")
        run = pc.gather(
            [config, files],
            mode="manual",
            state=store,
            transport=pc.DirectoryTransport(tmp_path / "out"),
            lock=pc.FileLock(tmp_path / "run.lock"),
            clock=FrozenClock(NOW),
            workdir=tmp_path / "work",
        )
        [failure] = run.failures
        assert failure.error == "collector 'files' raised OSError: cannot read /data/\\udcff.csv"
        assert str(run).encode("utf-8")
        assert store.load().extra["failures"]["files"]["error"] == failure.error
