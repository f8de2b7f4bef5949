"""Guarantees the fast paths must keep: uploads within the limit, full archives, flat memory."""

from __future__ import annotations

import base64
import gc
import itertools
import random
import tarfile
import tempfile
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_collector as pc
from pipeline_collector.compress import SegmentWriter, available, get_compressor
from pipeline_collector.stages.chunk import cut, read_part

KiB, MiB = 1 << 10, 1 << 20
HEADER = b"id,payload\n"
FASTEST = get_compressor("isal", 1) if "isal" in available() else get_compressor("zlib", 1)


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, str]:
    return {"version": "1.0"}


def table(rows: Iterable[bytes]) -> Callable[..., Iterator[bytes]]:
    """A registered CSV collector yielding ``HEADER`` then ``rows``."""

    @pc.register("data", "1.0", format="csv")
    def data(**kwargs: Any) -> Iterator[bytes]:
        yield HEADER
        yield from rows

    return data


def dry_run(rows: Iterable[bytes], tmp: Path, **kw: Any) -> pc.Run:
    return pc.gather([config, table(rows)], mode="dry-run", workdir=tmp, **kw)


def shipped_rows(run: pc.Run) -> bytes:
    """The data rows of every archive, in order, headers dropped."""
    out = []
    for archive in run.archives:
        with tarfile.open(archive.path) as tar:
            member = tar.extractfile("./data.csv")
            assert member is not None
            data = member.read()
        assert data.startswith(HEADER)
        out.append(data[len(HEADER) :])
    return b"".join(out)


# --- rows of every kind --------------------------------------------------


def hex_rows(rng: random.Random, count: int, width: int) -> list[bytes]:
    """Random bytes as hex: compresses about 2:1."""
    return [b"%d,%s\n" % (i, rng.randbytes(width // 2).hex().encode()) for i in range(count)]


def base64_rows(rng: random.Random, count: int, width: int) -> list[bytes]:
    """Random bytes as base64: hardly compresses (about 4:3)."""
    return [b"%d,%s\n" % (i, base64.b64encode(rng.randbytes(width * 3 // 4))) for i in range(count)]


def text_rows(rng: random.Random, count: int, width: int) -> list[bytes]:
    """Phrases of a few words: compresses very well."""
    words = [b"ok", b"changed", b"failed", b"skipped", b"host", b"task", b"play"]
    phrases = [b" ".join(rng.choices(words, k=12)) for _ in range(256)]
    per = max(1, width // 76)
    return [b"%d,%s\n" % (i, b" ".join(rng.choices(phrases, k=per))) for i in range(count)]


def huge_row(rng: random.Random, count: int, width: int) -> list[bytes]:
    """One row far longer than the rest, half hex, half padding; small enough to upload."""
    size = min(count * width, 256 * KiB)
    return [b"0,%s%s\n" % (rng.randbytes(size // 4).hex().encode(), b"x" * (size // 2))]


KINDS = {"hex": hex_rows, "base64": base64_rows, "text": text_rows, "huge": huge_row}


class TestUploadLimit:
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        blocks=st.lists(
            st.tuples(st.sampled_from(sorted(KINDS)), st.integers(1, 400), st.integers(8, 3000)),
            min_size=1,
            max_size=5,
        ),
        seed=st.integers(0, 2**32),
        limit_kib=st.sampled_from([160, 256, 512]),
        max_data_kib=st.sampled_from([64, 400, 1 << 20]),
        compressor=st.sampled_from(available()),
    )
    def test_no_archive_exceeds_the_upload_limit(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        blocks: list[tuple[str, int, int]],
        seed: int,
        limit_kib: int,
        max_data_kib: int,
        compressor: str,
    ) -> None:
        """Whatever the rows (incompressible, compressible, one huge, mixed), every archive fits the limit and every row arrives once, in order."""
        rng = random.Random(seed)
        rows = [r for kind, count, width in blocks for r in KINDS[kind](rng, count, width)]
        limit = limit_kib * KiB
        run = dry_run(
            rows,
            tmp_path_factory.mktemp("run"),
            max_upload_size=limit,
            max_data_size=max_data_kib * KiB,
            compressor=get_compressor(compressor),
        )
        assert run.status == "ok", run.reason
        assert run.archives
        for archive in run.archives:
            assert archive.size <= limit
            assert archive.path.stat().st_size == archive.size
        assert shipped_rows(run) == b"".join(rows)

    @pytest.mark.parametrize("name", available())
    def test_incompressible_rows_are_cut_to_the_limit(self, tmp_path: Path, name: str) -> None:
        """Rows that barely compress are cut into many parts, each archive within the limit."""
        rows = base64_rows(random.Random(5), 400, 6000)  # 2.4 MB that compresses to ~1.8 MB
        limit = 256 * KiB
        run = dry_run(
            rows,
            tmp_path,
            max_upload_size=limit,
            max_data_size=MiB,
            compressor=get_compressor(name),
        )
        assert run.status == "ok", run.reason
        assert len(run.archives) >= 8
        assert all(a.size <= limit for a in run.archives)
        assert shipped_rows(run) == b"".join(rows)

    def test_huge_compressible_record_fits_alone(self, tmp_path: Path) -> None:
        """A 20 MB record that compresses well travels alone, oversized but within the upload limit."""
        big = b"1," + b"abc," * 5_000_000 + b"\n"
        run = dry_run(
            [b"0,a\n", big, b"2,c\n"], tmp_path, max_upload_size=256 * KiB, max_data_size=MiB
        )
        assert run.status == "ok", run.reason
        assert all(a.size <= 256 * KiB for a in run.archives)
        assert shipped_rows(run) == b"0,a\n" + big + b"2,c\n"
        assert [p.oversized for c in run.collections for p in c.parts] == [False, True, False]

    def test_record_that_no_upload_can_carry_fails_its_collection(self, tmp_path: Path) -> None:
        """A single record whose compressed size passes the limit fails its collection, nothing oversized ships."""
        rng = random.Random(9)
        rows = [b"0,a\n", b"1,%s\n" % base64.b64encode(rng.randbytes(600 * KiB)), b"2,c\n"]
        run = dry_run(rows, tmp_path, max_upload_size=256 * KiB, max_data_size=4 * MiB)
        [failed] = run.failures
        assert "compresses to" in (failed.error or "")
        assert all(a.size <= 256 * KiB for a in run.archives)


class TestFill:
    @pytest.mark.parametrize("name", available())
    @pytest.mark.parametrize("kind", ["hex", "base64", "text"])
    def test_archives_are_filled_close_to_the_upload_limit(
        self, tmp_path: Path, name: str, kind: str
    ) -> None:
        """With a large max_data_size every archive but the last holds at least 85% of the upload limit."""
        limit = 2 * MiB
        rng = random.Random(11)
        width = {"hex": 400, "base64": 400, "text": 2000}[kind]
        # About five archives' worth of compressed data.
        ratio = {"hex": 1.8, "base64": 1.33, "text": 10.0}[kind]
        count = int(5 * limit * ratio / width)
        rows = KINDS[kind](rng, count, width)
        run = dry_run(
            rows,
            tmp_path,
            max_upload_size=limit,
            max_data_size=1 << 30,
            compressor=get_compressor(name),
        )
        assert run.status == "ok", run.reason
        sizes = [a.size for a in run.archives]
        assert len(sizes) >= 3
        assert all(s <= limit for s in sizes)
        assert all(s >= 0.85 * limit for s in sizes[:-1]), [s / limit for s in sizes]


class TestParallelCompression:
    def test_parts_do_not_depend_on_the_number_of_workers(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Blocks compressed on one, two or four threads, or in a compressor process, make
        byte-identical parts."""
        rows = hex_rows(random.Random(3), 9000, 500) + text_rows(random.Random(4), 9000, 300)
        default = pc.default_compressor()
        outputs = []
        for workers in (1, 2, 4, 0):  # 0: the compressor process, as by default
            comp = default if not workers else get_compressor(default.name, process=False)
            monkeypatch.setattr(SegmentWriter, "workers", workers or 2)
            folder = tmp_path / str(workers)
            folder.mkdir()
            parts = list(
                cut([HEADER, *rows], key="k", directory=folder, limit=3 * MiB, compressor=comp)
            )
            assert b"".join(read_part(p)[len(HEADER) :] for p in parts) == b"".join(rows)
            outputs.append([p.path.read_bytes() for p in parts])
        assert outputs[0] == outputs[1] == outputs[2] == outputs[3]

    @pytest.mark.parametrize("name", available())
    def test_primed_blocks_keep_the_ratio_of_one_stream(self, tmp_path: Path, name: str) -> None:
        """A part compressed as separate primed blocks is within 0.1% of one stream's size."""
        rows = text_rows(random.Random(6), 40000, 120) + hex_rows(random.Random(7), 4000, 200)
        comp = get_compressor(name)
        [part] = cut([HEADER, *rows], key="k", directory=tmp_path, limit=1 << 30, compressor=comp)
        one = comp.deflater()
        data = HEADER + b"".join(rows)
        single = len(one.compress(data)) + len(comp.sync_flush(one))
        assert part.deflated_size <= single * 1.001
        d = zlib.decompressobj(-15)
        assert d.decompress(part.path.read_bytes()) == data


def synthetic(size: int) -> Iterator[bytes]:
    """``size`` bytes of rows made on the fly, nothing kept."""
    rng = random.Random(1)
    pool = [rng.randbytes(150).hex().encode() for _ in range(64)]
    yield HEADER
    total, i = len(HEADER), 0
    while total < size:
        row = b"%d,%s\n" % (i, pool[i % 64])
        total += len(row)
        i += 1
        yield row


def traced_peak(work: Callable[[], object]) -> int:
    """Peak of memory allocated through Python while ``work()`` runs (all threads)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


class TestMemory:
    def test_cutting_memory_does_not_grow_with_the_table(self, tmp_path: Path) -> None:
        """Cutting 50 MiB needs no more memory than cutting 5 MiB: blocks in flight are bounded."""

        def cut_all(size: int) -> None:
            folder = tmp_path / str(size)
            folder.mkdir()
            parts = list(
                cut(synthetic(size), key="k", directory=folder, limit=8 * MiB, compressor=FASTEST)
            )
            assert sum(p.raw_size for p in parts) >= size

        small = traced_peak(lambda: cut_all(5 * MiB))
        large = traced_peak(lambda: cut_all(50 * MiB))
        assert large - small < 2 * MiB, (small, large)
        assert large < 16 * MiB, large

    def test_cutting_blocks_takes_few_at_a_time(self, tmp_path: Path) -> None:
        """Rows blocks (as copy_rows yields) are taken a few at a time: 64 MiB of them in
        256 KiB blocks need no more memory than rows one by one."""
        from pipeline_collector.stages.rows import Rows

        def blocks(size: int) -> Iterator[Rows]:
            it = synthetic(size)
            yield Rows(next(it), 1)
            while batch := list(itertools.islice(it, 800)):  # about 256 KiB
                yield Rows(b"".join(batch), len(batch))

        def cut_all(source: Iterator[Any]) -> None:
            folder = Path(tempfile.mkdtemp(dir=tmp_path))
            parts = list(cut(source, key="k", directory=folder, limit=8 * MiB, compressor=FASTEST))
            assert sum(p.raw_size for p in parts) >= 64 * MiB

        rows = traced_peak(lambda: cut_all(synthetic(64 * MiB)))
        joined = traced_peak(lambda: cut_all(blocks(64 * MiB)))
        assert joined - rows < 2 * MiB, (rows, joined)

    def test_gather_memory_does_not_grow_with_the_table(self, tmp_path: Path) -> None:
        """A dry-run gather of 40 MiB peaks no higher than one of 4 MiB: parts and archives stream."""

        def gather(size: int) -> None:
            run = dry_run(
                synthetic(size),
                tmp_path / str(size),
                max_data_size=4 * MiB,
                compressor=FASTEST,
            )
            assert run.status == "ok" and len(run.archives) >= size // (4 * MiB)

        small = traced_peak(lambda: gather(4 * MiB))
        large = traced_peak(lambda: gather(40 * MiB))
        assert large - small < 2 * MiB, (small, large)
        assert large < 16 * MiB, large
