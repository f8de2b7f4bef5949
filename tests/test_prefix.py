"""The archive prefix is checked like a name: one plain path component, before anything is written.

``naming.check_name`` and ``check_prefix`` get a hostile twin of every rule;
``write_archive`` refuses a bad prefix itself; ``gather``, ``--prefix``,
``PIPELINE_COLLECTOR_PREFIX`` and Django's ``PREFIX`` write nothing outside
the work folder, whatever the prefix.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli

import pipeline_collector as pc
from pipeline_collector.naming import NAME_MAX, PREFIX_MAX, check_name, check_prefix
from pipeline_collector.records import Batch, Part
from pipeline_collector.stages.archive import write_archive
from pipeline_collector.stages.chunk import document_part
from pipeline_collector.testing import FrozenClock, MemoryStore

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)

HOSTILE: dict[str, object] = {
    "empty": "",
    "dot": ".",
    "dot dot": "..",
    "hidden": ".analytics",
    "parent": "../escaped",
    "absolute": "/tmp/escaped",
    "separator": "a/b",
    "backslash": "a\\b",
    "NUL": "a\x00b",
    "newline": "a\nb",
    "escape": "a\x1b[31m",
    "DEL": "a\x7f",
    "lone surrogate": "old\ud800",
    "not text": b"analytics",
    "none": None,
    "a number": 5,
    "one byte too long": "a" * (NAME_MAX + 1),
    "two-byte letters too long": "\u00e9" * 128,  # 256 bytes
}


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_check_name_refuses_each_hostile_twin(name: object) -> None:
    with pytest.raises(pc.ConfigurationError) as caught:
        check_name(name, "the archive prefix")
    assert str(caught.value).startswith("the archive prefix ")
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


@pytest.mark.parametrize("name", ["analytics", "a" * NAME_MAX, "\u00e9" * 127, "tower-2.0_x+y"])
def test_check_name_takes_plain_names_up_to_the_bound(name: str) -> None:
    assert check_name(name, "the archive prefix") == name


def test_check_prefix_at_and_past_its_bound() -> None:
    longest = "p" * PREFIX_MAX
    assert check_prefix(longest) == longest
    with pytest.raises(pc.ConfigurationError, match=f"at most {PREFIX_MAX}"):
        check_prefix(longest + "p")
    stamp = datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert len(pc.naming.archive_name(longest, stamp, 999_999)) == NAME_MAX


def _config(directory: Path) -> Part:
    return document_part(b'{"a": 1}', key="config", filename="config.json", directory=directory)


@pytest.mark.parametrize("prefix", ["../escaped", "/tmp/pc-escaped", "a\x00b", "p" * 300])
def test_write_archive_refuses_a_bad_prefix_and_writes_nothing(tmp_path: Path, prefix: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    part = _config(work)
    before = set(tmp_path.rglob("*"))
    with pytest.raises(pc.ConfigurationError, match="the archive prefix"):
        write_archive(
            Batch(group="default", number=0),
            config=part,
            config_version="1.0",
            directory=work,
            until=NOW,
            prefix=prefix,
        )
    assert set(tmp_path.rglob("*")) == before
    assert not Path("/tmp/pc-escaped-2026-11-27-120000+0000-0.tar.gz").exists()


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, str]:
    return {"platform": "test"}


@pc.register("hosts", "1.0")
def hosts(**kwargs: Any) -> dict[str, int]:
    return {"count": 3}


@pytest.mark.parametrize("prefix", ["../escaped", str(Path("/tmp") / "pc-abs"), "a\x00b"])
def test_gather_writes_nothing_outside_its_folders(tmp_path: Path, prefix: str) -> None:
    work = tmp_path / "deep" / "work"
    with pytest.raises(pc.ConfigurationError, match="the archive prefix"):
        pc.gather(
            [config, hosts],
            mode="manual",
            state=MemoryStore(),
            transport=pc.DirectoryTransport(tmp_path / "out"),
            lock=pc.FileLock(tmp_path / "run.lock"),
            since=NOW - timedelta(days=1),
            clock=FrozenClock(NOW),
            workdir=work,
            prefix=prefix,
        )
    assert not list((tmp_path / "deep").glob("*.tar.gz"))
    assert not list(Path("/tmp").glob("pc-abs*.tar.gz"))


def _cli(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    where = ("--workdir", str(tmp / "deep" / "work"), "--lock", str(tmp / "run.lock"))
    return run_cli("gather", "examples/jobs_collectors.py", *where, *args, env=env, cwd=ROOT)


def test_the_prefix_flag_and_variable_are_refused(tmp_path: Path, jobs_db: Path) -> None:
    flag = _cli(tmp_path, "--prefix", "../escaped", JOBS_DATABASE=str(jobs_db))
    variable = _cli(tmp_path, PIPELINE_COLLECTOR_PREFIX="../escaped", JOBS_DATABASE=str(jobs_db))
    for done in (flag, variable):
        assert done.returncode == 2, done.stderr
        assert "the archive prefix" in done.stderr and "Traceback" not in done.stderr
    assert not list((tmp_path / "deep").glob("*.tar.gz"))
