"""The README's first command: the example pipeline runs, and a second run ships only what is new."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from support.tar import read_member

ROOT = Path(__file__).resolve().parent.parent


def run_example(tmp_path: Path) -> str:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "quickstart.py"),
            "--dir",
            str(tmp_path / "out"),
            "--database",
            str(tmp_path / "jobs.sqlite3"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def shipped(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "out" / "data").rglob("*.tar.gz"))


def test_first_run_ships_every_day_and_second_run_only_new_rows(tmp_path: Path) -> None:
    """The first run ships ten days of events; the second ships only events added since."""
    out = run_example(tmp_path)
    assert "run: ok" in out
    first = shipped(tmp_path)
    assert len(first) >= 10
    ids: list[str] = []
    for path in first:
        with tarfile.open(path) as tar:
            assert {"./config.json", "./manifest.json", "./data_collection_status.csv"} <= set(
                tar.getnames()
            )
            if "./job_events.csv" in tar.getnames():
                ids += [
                    line.split(",")[0]
                    for line in read_member(tar, "./job_events.csv").decode().splitlines()[1:]
                    if line[:1].isdigit()
                ]
    run_example(tmp_path)
    second = [p for p in shipped(tmp_path) if p not in first]
    assert second, "the second run ships an archive"
    new_ids: list[str] = []
    for path in second:
        with tarfile.open(path) as tar:
            if "./job_events.csv" in tar.getnames():
                new_ids += [
                    line.split(",")[0]
                    for line in read_member(tar, "./job_events.csv").decode().splitlines()[1:]
                    if line[:1].isdigit()
                ]
    assert not set(new_ids) & set(ids)


def test_composed_flow_ships_every_archive_and_cleans_up(tmp_path: Path) -> None:
    """examples/compose.py, the default flow with a row step and an archive counter, ships
    archives a reader can open, with every stdout trimmed, and leaves no temporary folder."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    command = [
        sys.executable,
        str(ROOT / "examples" / "compose.py"),
        "--database",
        str(tmp_path / "db.sqlite3"),
        "--out",
        str(tmp_path / "out"),
    ]
    env = {**os.environ, "TMPDIR": str(temp)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    archives = sorted((tmp_path / "out" / "data").rglob("*.tar.gz"))
    assert len(archives) >= 10
    assert f"counted {len(archives)} archives" in result.stdout
    stdouts = 0
    for path in archives:
        with tarfile.open(path) as tar:
            assert {"./config.json", "./manifest.json", "./data_collection_status.csv"} <= set(
                tar.getnames()
            )
            if "./job_events.csv" in tar.getnames():
                data = tar.extractfile("./job_events.csv")
                assert data is not None
                for row in csv.DictReader(io.TextIOWrapper(data, encoding="utf-8")):
                    assert len(row["stdout"]) <= 80
                    stdouts += 1
    assert stdouts > 0
    assert list(temp.iterdir()) == []  # the run's work folder is gone
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    new = len(sorted((tmp_path / "out" / "data").rglob("*.tar.gz"))) - len(archives)
    assert f"counted {new} archives" in again.stdout and new <= 3  # only what is new
