"""``pipeline-collector demo``: the package's own database and collectors, shipped locally."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.tar import read_member

from pipeline_collector.checks import check_archive
from pipeline_collector.cli import main
from pipeline_collector.cli.invocation import invocation
from pipeline_collector.demo import grow, run_demo


def shipped_event_ids(archives: list[Path]) -> list[int]:
    """The job-event ids in the archives' ``./job_events.csv`` members, in order."""
    ids: list[int] = []
    for path in archives:
        with tarfile.open(path) as tar:
            if "./job_events.csv" in tar.getnames():
                text = read_member(tar, "./job_events.csv").decode()
                ids += [int(row["id"]) for row in csv.DictReader(io.StringIO(text))]
    return ids


def listed_archives(out: str) -> list[Path]:
    """The archive paths the command printed, one per indented line (not the commands)."""
    lines = (line.strip() for line in out.splitlines())
    return [Path(line) for line in lines if line.endswith(".tar.gz") and " " not in line]


def events_added(out: str) -> int:
    match = re.search(r": (\d+) new events", out)
    assert match, out
    return int(match.group(1))


class TestDemoCommand:
    def test_ships_every_event_to_the_folder_and_lists_the_archives(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The first run ships every event of the new database into DIR/data/, and says where."""
        assert main(["demo", "--dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        listed = listed_archives(out)
        on_disk = sorted((tmp_path / "data").rglob("*.tar.gz"))
        assert sorted(p.resolve() for p in listed) == on_disk
        assert len(on_disk) >= 10  # a day per archive at least
        for path in on_disk:
            assert check_archive(path) == [], path
        with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
            in_db = [r[0] for r in db.execute("SELECT id FROM job_events ORDER BY id")]
        assert sorted(shipped_event_ids(on_disk)) == in_db
        assert events_added(out) == len(in_db)
        assert f"{invocation()} inspect" in out and "state.json" in out

    def test_second_run_ships_only_the_events_added_since(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A second run ships exactly the events the database gained since the first."""
        assert main(["demo", "--dir", str(tmp_path)]) == 0
        first = set(shipped_event_ids(listed_archives(capsys.readouterr().out)))
        assert main(["demo", "--dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        second = shipped_event_ids(listed_archives(out))
        assert len(second) == events_added(out)
        assert not first & set(second)

    def test_ingress_receives_valid_archives_over_http(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--ingress ships over HTTP to a local ingress, which saves them under DIR/received/."""
        assert main(["demo", "--dir", str(tmp_path), "--ingress"]) == 0
        out = capsys.readouterr().out
        assert re.search(r"local ingress at http://127\.0\.0\.1:\d+/", out), out
        received = sorted((tmp_path / "received").glob("*.tar.gz"))
        assert sorted(p.resolve() for p in listed_archives(out)) == received
        assert len(received) >= 10
        for path in received:
            assert check_archive(path) == [], path
        assert not (tmp_path / "data").exists()

    def test_dry_run_keeps_the_archives_and_ships_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--dry-run builds the archives in DIR/work/, ships none and saves no state."""
        assert main(["demo", "--dir", str(tmp_path), "--dry-run"]) == 0
        out = capsys.readouterr().out
        kept = listed_archives(out)
        assert kept and all(p.parent == (tmp_path / "work") for p in kept)
        assert all(check_archive(p) == [] for p in kept)
        assert not (tmp_path / "data").exists()
        assert not (tmp_path / "state.json").exists()

    def test_a_file_that_is_not_a_database_is_a_one_line_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--database naming a file that is not SQLite exits 2 with one line naming it."""
        bad = tmp_path / "notes.txt"
        bad.write_text("not a database, " * 100)
        assert main(["demo", "--dir", str(tmp_path / "out"), "--database", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err and "--database" in err

    def test_help_names_the_folder_layout_and_no_repository_file(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """demo --help says what goes under --dir and points at URLs, not repository paths."""
        with pytest.raises(SystemExit) as exit_:
            main(["demo", "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "state.json" in text and "received/" in text and "https://github.com/" in text
        assert "examples/" not in text


class TestRunDemo:
    def test_returns_the_run_and_where_each_archive_went(self, tmp_path: Path) -> None:
        """``run_demo`` reports the events added, an ok run and the shipped archives' paths."""
        until = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
        demo = run_demo(tmp_path, until=until)
        assert demo.run.status == "ok"
        assert demo.events_added == len(shipped_event_ids(list(demo.archives))) > 0
        assert all(p.is_file() for p in demo.archives)
        assert demo.state.is_file() and demo.url is None

    def test_grow_adds_only_what_happened_since_the_last_call(self, tmp_path: Path) -> None:
        """``grow`` starts ten days back, then adds events only after its last moment."""
        db = tmp_path / "jobs.sqlite3"
        now = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
        first = grow(db, now)
        assert grow(db, now) == 0
        later = grow(db, now + timedelta(hours=6))
        with sqlite3.connect(db) as conn:
            created = [
                datetime.fromisoformat(r[0]) for r in conn.execute("SELECT created FROM job_events")
            ]
        assert len(created) == first + later and later > 0
        assert min(created) >= now - timedelta(days=10)
        assert max(created) < now + timedelta(hours=6)
