"""The chunk stage: byte-exact cutting between records, header atop every part."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_collector as pc
from pipeline_collector.compress import get_compressor
from pipeline_collector.stages.chunk import csv_records, cut, read_part
from pipeline_collector.stages.rows import Rows, count_records, record_blocks, split_records

HEADER = b"id,text\n"


def csv_record(values: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode("utf-8")


texts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r"),
    max_size=60,
)
records = st.lists(
    st.tuples(st.integers(0, 10**6), texts).map(lambda t: csv_record([str(t[0]), t[1]])),
    max_size=80,
)


def run_cut(rows: list[bytes], limit: int, directory: Path) -> list[pc.Part]:
    return list(cut([HEADER, *rows], key="events", directory=directory, limit=limit))


class TestCutProperties:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=records, limit=st.integers(min_value=1, max_value=400))
    def test_every_record_once_in_order_within_limit(self, rows: list[bytes], limit: int) -> None:
        """Every record appears exactly once, in order, header atop each part, each within the limit."""
        with tempfile.TemporaryDirectory() as d:
            parts = run_cut(rows, limit, Path(d))
            seen: list[bytes] = []
            for part in parts:
                data = read_part(part)
                assert data.startswith(HEADER)
                body = list(csv_records(io.BytesIO(data[len(HEADER) :])))
                assert body, "a part never holds only its header"
                if len(data) > limit:
                    assert part.oversized and len(body) == 1  # one record alone may exceed
                else:
                    assert not part.oversized
                assert part.rows == len(body)
                assert part.raw_size == len(data)
                seen += body
            assert seen == rows

    @settings(max_examples=100, deadline=None)
    @given(rows=records, limit=st.integers(min_value=30, max_value=400))
    def test_parts_are_as_full_as_the_next_record_allows(
        self, rows: list[bytes], limit: int
    ) -> None:
        """A part is closed only when the next record would not fit."""
        with tempfile.TemporaryDirectory() as d:
            parts = run_cut(rows, limit, Path(d))
            position = 0
            for part in parts[:-1]:
                position += part.rows
                assert part.raw_size + len(rows[position]) > limit

    def test_multibyte_utf8_is_counted_in_bytes(self, tmp_path: Path) -> None:
        """A limit counts UTF-8 bytes, not characters."""
        row = "1,żółć€\n"  # 8 characters, 14 bytes
        assert len(row.encode()) == 14
        parts = list(cut(["id,t\n", row, row, row], key="k", directory=tmp_path, limit=5 + 28))
        assert [p.rows for p in parts] == [2, 1]
        assert all(p.raw_size <= 33 for p in parts)

    def test_newlines_inside_quotes_are_never_cut(self, tmp_path: Path) -> None:
        """A record with newlines inside quotes stays whole in one part."""
        rows = [csv_record([str(i), "line one\nline two\nthree"]) for i in range(10)]
        parts = list(
            cut([HEADER, *rows], key="k", directory=tmp_path, limit=len(HEADER) + len(rows[0]) * 3)
        )
        for part in parts:
            parsed = list(csv.reader(io.StringIO(read_part(part).decode())))
            assert parsed[0] == ["id", "text"]
            assert all(r[1] == "line one\nline two\nthree" for r in parsed[1:])
        assert sum(p.rows for p in parts) == 10

    def test_record_bigger_than_limit_goes_alone(self, tmp_path: Path) -> None:
        """A single record larger than the limit sits alone in an oversized part."""
        big = b"2," + b"x" * 500 + b"\n"
        parts = list(cut([HEADER, b"1,a\n", big, b"3,c\n"], key="k", directory=tmp_path, limit=100))
        assert [p.rows for p in parts] == [1, 1, 1]
        assert [p.oversized for p in parts] == [False, True, False]
        assert read_part(parts[1]) == HEADER + big

    def test_header_only_and_empty_make_no_part(self, tmp_path: Path) -> None:
        """Output with only a header, or nothing at all, makes no part."""
        assert list(cut([HEADER], key="k", directory=tmp_path, limit=100)) == []
        assert list(cut([], key="k", directory=tmp_path, limit=100)) == []

    def test_str_and_memoryview_records_are_accepted(self, tmp_path: Path) -> None:
        """Records may be str, bytes or memoryview (what psycopg 3 copy yields)."""
        # Wider than cut's declared ``bytes | str``: buffers as a COPY yields them.
        records: list[Any] = ["id\n", memoryview(b"1\n"), bytearray(b"2\n"), "3"]
        parts = list(cut(records, key="k", directory=tmp_path, limit=100))
        assert read_part(parts[0]) == b"id\n1\n2\n3\n"

    def test_non_text_record_is_an_error_naming_the_key(self, tmp_path: Path) -> None:
        """A record that is neither bytes nor str raises, naming the collector and the record."""
        with pytest.raises(pc.CollectorError, match=r"'k' yielded int as record 2"):
            records: list[Any] = ["id\n", "1\n", 2]  # an int, as a faulty collector may yield
            list(cut(records, key="k", directory=tmp_path, limit=100))
        assert list(tmp_path.iterdir()) == []  # no stray part left behind

    def test_invalid_utf8_is_an_error(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are refused."""
        with pytest.raises(pc.CollectorError, match="not valid UTF-8"):
            list(cut([b"id\n", b"\xff\xfe\n"], key="k", directory=tmp_path, limit=100))

    def test_compressed_ceiling_closes_a_part_early(self, tmp_path: Path) -> None:
        """A part is closed before its compressed size could pass max_deflated."""
        import random

        rng = random.Random(7)
        rows = [f"{i},{rng.getrandbits(256):064x}\n".encode() for i in range(60000)]
        parts = list(
            cut([HEADER, *rows], key="k", directory=tmp_path, limit=10**9, max_deflated=1_500_000)
        )
        assert len(parts) > 1
        assert all(p.deflated_size <= 1_500_000 for p in parts)
        assert sum(p.rows for p in parts) == 60000

    @pytest.mark.parametrize("name", ["zlib", "zlib-ng", "isal"])
    def test_each_compressor_round_trips(self, name: str, tmp_path: Path) -> None:
        """Parts written by each backend decompress to exactly their records."""
        rows = [f"{i},row {i}\n".encode() for i in range(5000)]
        parts = list(
            cut(
                [HEADER, *rows],
                key="k",
                directory=tmp_path,
                limit=20000,
                compressor=get_compressor(name),
            )
        )
        body = b"".join(read_part(p)[len(HEADER) :] for p in parts)
        assert body == b"".join(rows)


def contents(parts: list[pc.Part]) -> list[tuple[int, bytes]]:
    return [(p.rows, read_part(p)) for p in parts]


def as_blocks(rows: list[bytes], sizes: list[int]) -> list[Rows]:
    """The rows grouped into blocks of the given numbers of records (cycled)."""
    blocks, i, k = [], 0, 0
    while i < len(rows):
        n = max(1, sizes[k % len(sizes)]) if sizes else 1
        blocks.append(Rows(b"".join(rows[i : i + n]), len(rows[i : i + n])))
        i, k = i + n, k + 1
    return blocks


class TestBatches:
    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        rows=records,
        limit=st.integers(min_value=1, max_value=400),
        sizes=st.lists(st.integers(1, 30), max_size=6),
        with_header=st.booleans(),
    )
    def test_blocks_cut_exactly_as_rows_one_at_a_time(
        self, rows: list[bytes], limit: int, sizes: list[int], with_header: bool
    ) -> None:
        """Rows handed over in blocks (the header inside the first one or not) make the same parts."""
        with tempfile.TemporaryDirectory() as d:
            one = contents(run_cut(rows, limit, Path(d)))
        blocks = as_blocks(rows, sizes)
        items: list[Any]
        if with_header and blocks:
            items = [Rows(HEADER + blocks[0], blocks[0].rows + 1), *blocks[1:]]
        else:
            items = [Rows(HEADER, 1), *blocks]
        with tempfile.TemporaryDirectory() as d:
            parts = list(cut(items, key="events", directory=Path(d), limit=limit))
            assert contents(parts) == one
            assert all(p.header == HEADER for p in parts)

    def test_a_batch_crossing_the_limit_is_cut_between_records(self, tmp_path: Path) -> None:
        """Many small rows taken in one batch are cut where the limit falls, not at the batch's end."""
        rows = [b"%04d,abcdef\n" % i for i in range(3000)]  # 12 bytes each
        parts = list(cut([HEADER, *rows], key="k", directory=tmp_path, limit=len(HEADER) + 12 * 70))
        assert [p.rows for p in parts] == [70] * 42 + [60]
        assert b"".join(read_part(p)[len(HEADER) :] for p in parts) == b"".join(rows)

    @pytest.mark.parametrize("blocks", [False, True])
    def test_a_single_huge_row_goes_alone_in_a_batch_or_a_block(
        self, blocks: bool, tmp_path: Path
    ) -> None:
        """A record larger than the limit amid small ones sits alone in an oversized part."""
        small = [b"%d,a\n" % i for i in range(50)]
        big = b"x," + b"y" * 5000 + b"\n"
        rows = [*small, big, *small]
        items: list[Any] = [HEADER, Rows.of(b"".join(rows))] if blocks else [HEADER, *rows]
        parts = list(cut(items, key="k", directory=tmp_path, limit=200))
        huge = [p for p in parts if p.oversized]
        assert len(huge) == 1 and huge[0].rows == 1
        assert read_part(huge[0]) == HEADER + big
        assert all(p.raw_size <= 200 for p in parts if not p.oversized)
        assert sum(p.rows for p in parts) == 101

    def test_empty_rows_become_empty_lines(self, tmp_path: Path) -> None:
        """An empty record is an empty line, counted as a row, whether alone or amid others."""
        items: list[Any] = [HEADER, b"", b"1,a\n", "", b"2,b"]
        parts = list(cut(items, key="k", directory=tmp_path, limit=100))
        assert contents(parts) == [(4, HEADER + b"\n1,a\n\n2,b\n")]

    def test_header_only_block_makes_no_part(self, tmp_path: Path) -> None:
        """A first block holding only the header, and nothing after, yields no part."""
        assert list(cut([Rows(HEADER, 1)], key="k", directory=tmp_path, limit=100)) == []
        assert (
            list(cut([Rows(HEADER, 1), Rows(b"", 0)], key="k", directory=tmp_path, limit=100)) == []
        )

    def test_quoted_newline_in_the_header_block(self, tmp_path: Path) -> None:
        """A header with a quoted newline is taken whole from the first block."""
        header = b'id,"two\nlines"\n'
        parts = list(cut([Rows.of(header + b"1,a\n2,b\n")], key="k", directory=tmp_path, limit=99))
        assert parts[0].header == header
        assert contents(parts) == [(2, header + b"1,a\n2,b\n")]

    def test_block_near_the_compressed_ceiling_fills_the_part(self, tmp_path: Path) -> None:
        """Blocks are split near the compressed ceiling too: parts stay under it and nearly full."""
        import random

        rng = random.Random(11)
        rows = [f"{i},{rng.getrandbits(256):064x}\n".encode() for i in range(60000)]
        blocks = as_blocks(rows, [700])
        ceiling = 1_500_000
        parts = list(
            cut(
                [Rows(HEADER, 1), *blocks],
                key="k",
                directory=tmp_path,
                limit=10**9,
                max_deflated=ceiling,
            )
        )
        assert len(parts) > 1
        assert all(p.deflated_size <= ceiling for p in parts)
        assert all(p.deflated_size > ceiling * 0.95 for p in parts[:-1])
        assert b"".join(read_part(p)[len(HEADER) :] for p in parts) == b"".join(rows)
        assert sum(p.rows for p in parts) == 60000


class TestRows:
    @settings(max_examples=200, deadline=None)
    @given(rows=records, cuts=st.lists(st.integers(0, 5000), max_size=12), size=st.integers(1, 300))
    def test_blocks_from_arbitrary_pieces_end_at_record_ends(
        self, rows: list[bytes], cuts: list[int], size: int
    ) -> None:
        """A stream cut anywhere is rejoined into blocks of whole records, counted exactly."""
        data = HEADER + b"".join(rows)
        points = sorted({min(c, len(data)) for c in cuts})
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        blocks = list(record_blocks(pieces, size=size))
        assert b"".join(blocks) == data
        assert sum(b.rows for b in blocks) == len(rows) + 1
        for b in blocks:
            assert split_records(b) == list(csv_records(io.BytesIO(b)))
            assert len(split_records(b)) == b.rows

    @given(rows=records)
    def test_count_records_agrees_with_csv_records(self, rows: list[bytes]) -> None:
        """Counting by quote parity finds the records a line-by-line parse finds."""
        data = b"".join(rows)
        assert count_records(data) == (len(rows), False)

    def test_bad_blocks_are_refused(self) -> None:
        """A block must end with a newline outside quotes, and its count must fit its bytes."""
        with pytest.raises(ValueError, match="end with a newline"):
            Rows(b"1,a", 1)
        with pytest.raises(ValueError, match="inside a quoted field"):
            Rows.of(b'1,"a\n')
        with pytest.raises(ValueError, match="holds 0 records, not 2"):
            Rows(b"", 2)


class TestUtf8Check:
    def test_bytes_blocks_are_checked_and_str_rows_need_not_be(self, tmp_path: Path) -> None:
        """Invalid UTF-8 in a bytes batch or a block is refused; text encoded from str is valid."""
        with pytest.raises(pc.CollectorError, match="not valid UTF-8"):
            list(cut([HEADER, *[b"1,\xc3\n"] * 100], key="k", directory=tmp_path, limit=10**6))
        assert list(tmp_path.iterdir()) == []  # no part left behind
        with pytest.raises(pc.CollectorError, match="not valid UTF-8"):
            list(cut([HEADER, Rows(b"1,\xff\n", 1)], key="k", directory=tmp_path, limit=10**6))
        rows = [f"{i},żółć 日本\n" for i in range(5000)]
        parts = list(cut(["id,text\n", *rows], key="k", directory=tmp_path, limit=10**6))
        assert read_part(parts[0]) == ("id,text\n" + "".join(rows)).encode()
