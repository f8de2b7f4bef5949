"""``bench_chunking`` and ``pipeline-collector bench`` on a user's own data: the figures add up."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline_collector.cli.entry import main
from pipeline_collector.errors import ConfigurationError
from pipeline_collector.stages.chunk import csv_records
from pipeline_collector.tools.bench import (
    BenchResult,
    bench_chunking,
    parse_compressor,
    render_table,
)

HEADER = b"id,host,note\n"
LIMIT = 64 * 1024


def _rows(n: int) -> list[bytes]:
    """Rows of varied width, with quoted newlines and non-ASCII text."""
    out = []
    for i in range(n):
        note = "café, 服务器 ✅ " * (i % 17) + ("line one\nline two" if i % 5 == 0 else "ok")
        out.append(f'{i},host-{i % 40}.example.com,"{note}"\n'.encode())
    return out


def _greedy_parts(records: list[bytes], limit: int) -> int:
    """How many parts cutting between records at ``limit`` bytes (header on each) makes."""
    parts, used = 1, len(HEADER)
    for r in records:
        if used + len(r) > limit:
            parts, used = parts + 1, len(HEADER)
        used += len(r)
    return parts


@pytest.fixture
def csv_file(tmp_path: Path) -> tuple[Path, list[bytes]]:
    records = _rows(3000)
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"".join(records))
    return path, records


def _check(r: BenchResult, path: Path, records: list[bytes], max_upload: int) -> None:
    parts = _greedy_parts(records, LIMIT)
    assert r.rows == len(records)
    assert r.parts == parts
    # Every input byte is in a part, and a header on top of each part beyond the first.
    assert r.bytes == path.stat().st_size + (parts - 1) * len(HEADER)
    assert r.deflated > 0
    if not r.compressor.endswith(":0"):  # stored blocks only add framing
        assert r.deflated < r.bytes
    assert r.ratio == pytest.approx(r.bytes / r.deflated)
    assert r.archives >= 1
    assert all(size <= max_upload for size in r.archive_sizes)
    assert 0 < r.fill <= r.largest_fill <= 1
    assert r.seconds > 0 and r.rows_per_second > 0 and r.mib_per_second > 0
    assert r.peak_rss > 0


def test_bench_on_a_csv_file_reports_the_inputs_rows_parts_and_bytes_exactly(
    csv_file: tuple[Path, list[bytes]],
) -> None:
    """Rows, parts and bytes match the CSV file byte for byte, for each compressor given."""
    path, records = csv_file
    results = bench_chunking(
        path,
        max_data_size=LIMIT,
        max_upload_size=1 << 20,
        compressors=["zlib:1", "zlib:9", parse_compressor("zlib:0")],
    )
    assert [r.compressor for r in results] == ["zlib:1", "zlib:9", "zlib:0"]
    for r in results:
        _check(r, path, records, 1 << 20)
    assert results[1].deflated < results[0].deflated < results[2].deflated  # 9 < 1 < stored
    table = render_table(results)
    assert "zlib:9" in table and f"{len(records):,}" in table


def test_bench_keeps_every_archive_within_a_small_upload_limit(
    csv_file: tuple[Path, list[bytes]],
) -> None:
    """With a low max_upload_size the archives multiply but none passes it."""
    path, records = csv_file
    (r,) = bench_chunking(
        path, max_data_size=1 << 20, max_upload_size=200_000, compressors=["zlib:0"]
    )
    assert r.archives >= 3
    assert max(r.archive_sizes) <= 200_000
    assert r.rows == len(records)


def test_bench_over_a_collector_module_collects_only_its_key_in_the_window(
    tmp_path: Path,
) -> None:
    """A module's collector runs over [since, until) and the figures are its rows'."""
    module = tmp_path / "mine.py"
    module.write_text(
        textwrap.dedent(
            """
            import pipeline_collector as pc

            @pc.register("config", "1.0", config=True)
            def config(**kwargs):
                return {"version": "1"}

            @pc.register("other", "1.0", format="csv")
            def other(**kwargs):
                raise RuntimeError("not benchmarked, so never called")

            @pc.register("events", "1.0", format="csv")
            def events(since, until, **kwargs):
                yield "id,day\\n"
                for day in range(since.day, until.day):
                    for i in range(100):
                        yield f"{i},{day}\\n"
            """
        )
    )
    from pipeline_collector.cli.loading import load_module

    (r,) = bench_chunking(
        load_module(str(module)),
        key="events",
        since=datetime(2026, 11, 3, tzinfo=timezone.utc),
        until=datetime(2026, 11, 8, tzinfo=timezone.utc),
        compressors=["zlib:6"],
    )
    assert (r.key, r.rows, r.parts) == ("events", 500, 1)
    assert r.bytes == len(b"id,day\n") + sum(
        len(f"{i},{d}\n") for d in range(3, 8) for i in range(100)
    )


def test_bench_refuses_what_it_cannot_measure(tmp_path: Path) -> None:
    """A missing file, a module without a key and bad compressor settings are named errors."""
    with pytest.raises(ConfigurationError, match="not found"):
        bench_chunking(tmp_path / "absent.csv")
    import types

    with pytest.raises(ConfigurationError, match="needs the key"):
        bench_chunking(types.ModuleType("m"))
    for spec, words in (
        ("zlib:12", "levels 0..9"),
        ("zlib:x", "must be a number"),
        ("lzma:1", "unknown"),
    ):
        with pytest.raises(ConfigurationError, match=words):
            parse_compressor(spec)


def test_bench_command_prints_json_figures_that_match_the_file(
    csv_file: tuple[Path, list[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``pipeline-collector bench --csv --json`` gives one entry per compressor, with the same counts."""
    path, records = csv_file
    code = main(
        ["bench", "--csv", str(path), "--max-data-size", "64KiB", "--json",
         "--compressor", "zlib:1,zlib:6", "--compressor", "zlib:9"]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [x["compressor"] for x in out] == ["zlib:1", "zlib:6", "zlib:9"]
    parts = _greedy_parts(records, LIMIT)
    for x in out:
        assert (x["rows"], x["parts"]) == (len(records), parts)
        assert x["bytes"] == path.stat().st_size + (parts - 1) * len(HEADER)
        assert x["max_upload_size"] == 100 * 1024 * 1024


def test_bench_command_table_names_its_settings(
    csv_file: tuple[Path, list[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The table says the sizes used and has a row per compressor."""
    path, _ = csv_file
    assert main(["bench", "--csv", str(path), "--key", "events", "--compressor", "zlib:6"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("events: max_data_size 200 MiB, max_upload_size 100 MiB")
    assert "zlib:6" in out and "peak RSS MiB" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bench"], "either --csv FILE or a collector MODULE"),
        (["bench", "examples/jobs_collectors.py"], "name the collector with --key"),
        (["bench", "--csv", "x.csv", "examples/jobs_collectors.py"], "either --csv"),
        (["bench", "--csv", "x.csv", "--since", "2026-11-01T00:00:00Z"], "not to --csv"),
        (["bench", "examples/jobs_collectors.py", "--key", "nosuch"], "nosuch"),
        (["bench", "--csv", "absent.csv"], "CSV file not found"),
        (["bench", "--csv", "x.csv", "--compressor", "zlib:12"], "zlib:12"),
    ],
)
def test_bench_command_bad_usage_exits_2_naming_the_problem(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad usage of bench exits 2 and says what is wrong."""
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_bench_command_refuses_a_malformed_compressor_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A compressor spec that is not NAME:LEVEL is refused by the parser."""
    with pytest.raises(SystemExit) as e:
        main(["bench", "--csv", "x.csv", "--compressor", "zlib:high"])
    assert e.value.code == 2
    assert "expected NAME or NAME:LEVEL" in capsys.readouterr().err


def test_csv_records_of_the_fixture_are_its_rows(csv_file: tuple[Path, list[bytes]]) -> None:
    """The fixture's quoted newlines stay inside records, so the expected counts are right."""
    path, records = csv_file
    with path.open("rb") as f:
        assert list(csv_records(f))[1:] == records
