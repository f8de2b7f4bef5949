"""Archives assembled from deflate segments are plain gzip, and their size bound holds."""

from __future__ import annotations

import gzip
import random
import subprocess
import tarfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.tar import read_member

from pipeline_collector.compress import available, crc32_combine, get_compressor
from pipeline_collector.records import Batch, Collection, Collector, Part, Task, Window
from pipeline_collector.stages.archive import write_archive
from pipeline_collector.stages.archive_format import archive_bound
from pipeline_collector.stages.chunk import cut, document_part

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def collection(key: str, parts: tuple[Part, ...]) -> Collection:
    task = Task(
        collector=Collector(key=key, version="1.0", func=print, format="csv"),
        window=Window(since=NOW, until=NOW),
        seq=0,
    )
    return Collection(task=task, status="ok", started_at=NOW, elapsed=0.0, parts=parts)


def build(tmp_path: Path, name: str, rows: list[bytes]) -> tuple[Path, list[bytes], Batch]:
    comp = get_compressor(name)
    parts = tuple(
        cut([b"h\n", *rows], key="data", directory=tmp_path, limit=10**9, compressor=comp)
    )
    other = tuple(
        cut([b"k\n", b"1\n"], key="other", directory=tmp_path, limit=10**9, compressor=comp)
    )
    cfg = document_part(
        b'{"a": 1}', key="config", filename="config.json", directory=tmp_path, compressor=comp
    )
    batch = Batch(
        group="default",
        number=0,
        parts=parts + other,
        collections=(collection("data", parts), collection("other", other)),
    )
    archive = write_archive(
        batch, config=cfg, config_version="1.0", directory=tmp_path, until=NOW, compressor=comp
    )
    assert archive.size <= archive_bound(list(batch.parts), list(batch.collections), cfg)
    return archive.path, rows, batch


class TestGzipStream:
    @pytest.mark.parametrize("name", available())
    def test_python_gzip_and_tarfile_read_it(self, name: str, tmp_path: Path) -> None:
        """The spliced stream passes gzip's CRC and length checks and tarfile reads every member."""
        rows = [f"{i},{'abc' * (i % 50)}\n".encode() for i in range(20000)]
        path, rows, _ = build(tmp_path, name, rows)
        gzip.decompress(path.read_bytes())  # verifies CRC-32 and ISIZE
        with tarfile.open(path) as tar:
            assert read_member(tar, "./data.csv") == b"h\n" + b"".join(rows)
            assert read_member(tar, "./other.csv") == b"k\n1\n"

    def test_system_gzip_accepts_it(self, tmp_path: Path) -> None:
        """The gzip command line tool finds nothing wrong with the archive."""
        path, _, _ = build(tmp_path, "zlib", [b"1,2\n"] * 1000)
        result = subprocess.run(["gzip", "-t", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    def test_incompressible_data_stays_within_the_bound(self, tmp_path: Path) -> None:
        """Random data, which deflate cannot shrink, still respects the computed bound."""
        rng = random.Random(1)
        rows = [rng.randbytes(3000).hex().encode() + b"\n" for _ in range(200)]
        build(tmp_path, "zlib", rows)  # asserts the bound inside


class TestCrcCombine:
    def test_matches_crc_of_concatenation(self) -> None:
        """crc32_combine equals the CRC-32 of the joined data for assorted lengths."""
        rng = random.Random(3)
        for n in [0, 1, 7, 1000, 65537]:
            a, b = rng.randbytes(n // 2 + 1), rng.randbytes(n)
            assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)

    def test_python_fallback_matches_native(self) -> None:
        """The pure-Python combine agrees with zlib's result, so archives are right without zlib-ng."""
        from pipeline_collector.compress.crc import _python_combine

        rng = random.Random(5)
        for n in [1, 100, 70000]:
            a, b = rng.randbytes(n), rng.randbytes(n + 3)
            assert _python_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
