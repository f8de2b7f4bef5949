"""Sizes a person writes: bytes where MiB were meant are caught before anything is collected.

A run (any front-end: ``gather``'s keywords, a ``RunConfig``, Django's
dict, the command line) warns once, before collecting, of a size below
1 MiB; the command line refuses one written without a unit.  The stages
alone take any size, as the tests of tiny parts need.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.cli import run_cli

import pipeline_collector as pc
from pipeline_collector.cli.options import parse_run_size
from pipeline_collector.config import SANE_SIZE
from pipeline_collector.ingress.cli import _parser as ingress_parser
from pipeline_collector.tools.bench import BenchResult, render_table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "jobs_collectors.py")


@pc.register("config", "1.0", config=True)
def config(**kwargs: object) -> dict[str, str]:
    return {"v": "1"}


@pc.register("rows", "1.0", format="csv")
def rows(**kwargs: object) -> list[str]:
    return ["id,name\n", *(f"{n},row {n}\n" for n in range(5))]


def small_warnings(**sizes: int) -> list[str]:
    with capture_logs() as logs:
        run = pc.gather([config, rows], mode="dry-run", **sizes)  # type: ignore[arg-type]
    for archive in run.archives:
        archive.path.unlink()
    assert run.status == "ok"  # warned, not refused: the run goes on
    return [e["reason"] for e in logs if e["event"] == "limits.small"]


class TestRunWarns:
    def test_ten_bytes_is_warned_once_naming_the_setting(self) -> None:
        (reason,) = small_warnings(max_data_size=10)
        assert reason.startswith("max_data_size=10 (10 B) is below 1 MiB")
        assert "200 * 2**20" in reason

    def test_at_the_bound_no_warning(self) -> None:
        assert small_warnings(max_data_size=SANE_SIZE) == []

    def test_one_byte_under_the_bound_is_warned(self) -> None:
        assert len(small_warnings(max_data_size=SANE_SIZE - 1)) == 1

    def test_a_small_upload_limit_is_warned_too(self) -> None:
        (reason,) = small_warnings(max_upload_size=512 * 1024)
        assert reason.startswith("max_upload_size=524288 (512 KiB) is below 1 MiB")

    def test_the_stages_alone_take_any_size(self, tmp_path: Path) -> None:
        """pc.chunk with a 10-byte limit cuts a part per row, without a word."""
        with capture_logs() as logs:
            parts = pc.chunk(
                rows(), key="rows", directory=tmp_path, limits=pc.Limits(max_data_size=10)
            )
        assert len(parts) == 5
        assert [e for e in logs if e["event"] == "limits.small"] == []


class TestCommandLineRefuses:
    @pytest.mark.parametrize("flag", ["--max-data-size", "--max-upload-size"])
    def test_a_bare_small_number_is_refused_with_the_unit_to_write(self, flag: str) -> None:
        done = run_cli("gather", EXAMPLE, flag, "10")
        assert done.returncode == 2
        assert "'10' is 10 bytes, below 1 MiB: write the unit, 10MiB" in done.stderr

    def test_at_the_bound_a_bare_number_is_taken(self) -> None:
        """1 MiB written in bytes is taken; a byte less, written bare, is refused."""
        assert parse_run_size(str(SANE_SIZE)) == SANE_SIZE
        with pytest.raises(argparse.ArgumentTypeError, match="below 1 MiB"):
            parse_run_size(str(SANE_SIZE - 1))
        assert parse_run_size(f"{SANE_SIZE - 1}B") == SANE_SIZE - 1

    def test_bytes_said_with_a_unit_are_taken_and_warned(
        self, tmp_path: Path, jobs_db: Path
    ) -> None:
        """A unit says the small size is meant: the run goes on, the warning on stderr."""
        done = run_cli(
            "gather",
            EXAMPLE,
            "--subset",
            "job_summary",
            "--max-data-size",
            "4KiB",
            "--workdir",
            str(tmp_path / "work"),
            env={"JOBS_DATABASE": str(jobs_db), "PIPELINE_COLLECTOR_LOG_FORMAT": "console"},
        )
        assert done.returncode == 0, done.stderr
        assert "limits.small" in done.stderr and "max_data_size=4096 (4.00 KiB)" in done.stderr

    def test_the_environment_and_the_config_file_refuse_it_too(self, tmp_path: Path) -> None:
        env = run_cli("gather", EXAMPLE, env={"PIPELINE_COLLECTOR_MAX_DATA_SIZE": "10"})
        assert env.returncode == 2 and "PIPELINE_COLLECTOR_MAX_DATA_SIZE" in env.stderr
        toml = tmp_path / "c.toml"
        toml.write_text("max-data-size = 10\n")
        done = run_cli("gather", EXAMPLE, "--config", str(toml))
        assert done.returncode == 2 and "below 1 MiB" in done.stderr

    def test_bench_refuses_it(self, tmp_path: Path) -> None:
        csv = tmp_path / "x.csv"
        csv.write_text("a\n1\n")
        done = run_cli("bench", "--csv", str(csv), "--max-data-size", "10")
        assert done.returncode == 2 and "below 1 MiB" in done.stderr


class TestIngressSizes:
    def test_max_body_takes_a_unit(self) -> None:
        assert ingress_parser().parse_args(["--max-body", "10MiB"]).max_body == 10 * 2**20

    def test_max_body_that_is_no_size_is_named(self) -> None:
        done = run_cli("ingress", "--max-body", "lots")
        assert done.returncode == 2 and "'lots' is not a size" in done.stderr


def result(max_data_mib: int, key: str = "jobs") -> BenchResult:
    return BenchResult(
        compressor="zlib:6",
        key=key,
        max_data_size=max_data_mib * 2**20,
        max_upload_size=100 * 2**20,
        rows=10,
        bytes=1000,
        deflated=100,
        parts=1,
        archive_sizes=(100,),
        seconds=1.0,
        peak_rss=2**25,
    )


class TestBenchTable:
    def test_shared_sizes_head_the_table(self) -> None:
        table = render_table([result(8), result(8)])
        assert table.splitlines()[0] == "jobs: max_data_size 8 MiB, max_upload_size 100 MiB"

    def test_sizes_that_differ_get_a_column_each_row_its_own(self) -> None:
        """Rows that used 8, 32 and 200 MiB parts each show theirs; none sits under another's."""
        lines = render_table([result(8), result(32), result(200)]).splitlines()
        assert lines[0] == "jobs: max_upload_size 100 MiB"
        assert lines[1].split()[0] == "max_data_size"
        assert [line.split()[0:2] for line in lines[2:]] == [
            ["8", "MiB"],
            ["32", "MiB"],
            ["200", "MiB"],
        ]
