"""Each command's exit codes, as a scheduler sees them, from real processes.

A state that cannot be read is neither "a retry can help" (1) nor bad usage
(2): it exits 6 from every command that reads the state, so a CronJob's
``podFailurePolicy`` stops at once instead of retrying against the same
corrupt file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli

from pipeline_collector.cli.exits import EXIT_STATE

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "examples" / "jobs_collectors.py"


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text('{"last_gather": "2026-11-27T00:00:00+00:00", "entries": {"jobs":')
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["gather", str(MODULE), "--mode", "manual", "--dir", "out"],
        ["gather", str(MODULE)],  # a dry run reads the state too
        ["plan", str(MODULE)],
        ["status"],
    ],
    ids=["gather manual", "gather dry-run", "plan", "status"],
)
def test_a_corrupt_state_file_exits_6_naming_it(
    tmp_path: Path, corrupt: Path, jobs_db: Path, command: list[str]
) -> None:
    """Every command that reads the state exits 6 on a corrupt file, in one line naming it,
    and leaves the file as it was."""
    before = corrupt.read_bytes()
    done = run_cli(
        *command,
        "--state",
        str(corrupt),
        cwd=tmp_path,
        env={"JOBS_DATABASE": str(jobs_db), "PIPELINE_COLLECTOR_LOG_FORMAT": "console"},
    )
    assert done.returncode == EXIT_STATE == 6, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and str(corrupt) in errors[0]
    assert corrupt.read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_the_demo_exits_6_on_a_corrupt_state(tmp_path: Path) -> None:
    """The demo's own state under --dir, corrupt: exit 6, the file named."""
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "state.json").write_text("[1, 2")
    done = run_cli("demo", "--dir", str(folder), cwd=tmp_path)
    assert done.returncode == 6, done.stderr
    assert str(folder / "state.json") in done.stderr


def test_an_unreadable_state_exits_6(tmp_path: Path) -> None:
    """A state path that is a folder cannot be read: exit 6 as well."""
    (tmp_path / "state.json").mkdir()
    done = run_cli("plan", str(MODULE), "--state", "state.json", cwd=tmp_path)
    assert done.returncode == 6, done.stderr
