"""``Rows`` keeps its promise or is refused: whole records, a true count, a linear search.

A block that ends inside quotes, lacks its last newline or claims a count
it does not hold is refused when it is made, so the cut never splits a
record across parts or archives; a stream whose quotes never close is
refused, naming where its open record starts, instead of becoming one
record of the rest of the input; finding the last record end is checked
against a byte-by-byte reading of the same rule.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline_collector as pc
from pipeline_collector.stages.rows import Rows, count_records, last_end, record_blocks
from pipeline_collector.testing import FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)


def reference_last_end(data: bytes) -> int:
    """The rule read byte by byte: a newline outside quotes ends a record."""
    inside, end = False, 0
    for i, byte in enumerate(data):
        if byte == ord('"'):
            inside = not inside
        elif byte == ord("\n") and not inside:
            end = i + 1
    return end


class TestBlocksAreChecked:
    @pytest.mark.parametrize(
        ("data", "rows", "words"),
        [
            (b"1\n", 5, "holds 1 records, not 5"),
            (b"1\n2\n", 1, "holds 2 records, not 1"),
            (b"", 1, "holds 0 records, not 1"),
            (b"1\n", -1, "holds 1 records, not -1"),
            (b'1,"first line\n', 1, "ends inside a quoted field"),
            (b'second line"\n', 1, "ends inside a quoted field"),
            (b"1,a", 1, "end with a newline"),
        ],
    )
    def test_a_broken_promise_is_refused(self, data: bytes, rows: int, words: str) -> None:
        with pytest.raises(ValueError, match=words):
            Rows(data, rows)

    def test_the_count_cannot_be_changed_afterwards(self) -> None:
        block = Rows(b'1,"a\nb"\n2\n', 2)
        with pytest.raises(AttributeError):
            block.rows = 5  # type: ignore[misc]
        assert (block.rows, block.utf8) == (2, False)

    def test_a_block_crosses_processes_as_it_was(self) -> None:
        block = Rows(b'1,"a\nb"\n', 1, utf8=True)
        copy = pickle.loads(pickle.dumps(block))  # noqa: S301 - our own bytes
        assert (type(copy), bytes(copy), copy.rows, copy.utf8) == (Rows, bytes(block), 1, True)


def _collectors(blocks: list[tuple[bytes, int]]) -> list[Any]:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"platform": "test"}

    @pc.register("split_row", "1.0", format="csv")
    def split_row(**kwargs: Any) -> Iterator[Rows]:
        for data, rows in blocks:
            yield Rows(data, rows)

    @pc.register("fine", "1.0", format="csv")
    def fine(**kwargs: Any) -> Iterator[Rows]:
        yield Rows(b'id,note\n1,"two\nlines"\n', 2)

    return [config, split_row, fine]


@pytest.mark.parametrize(
    "blocks",
    [
        [(b"id,note\n", 1), (b'1,"first line\n', 1), (b'second line"\n', 1)],
        [(b"id,note\n", 1), (b"1,x\n", 5)],
    ],
    ids=["a record split across blocks", "an impossible count"],
)
def test_a_run_refuses_the_key_and_ships_the_others_whole(
    tmp_path: Path, blocks: list[tuple[bytes, int]]
) -> None:
    run = pc.gather(
        _collectors(blocks),
        mode="manual",
        state=MemoryStore(),
        transport=pc.DirectoryTransport(tmp_path / "dest"),
        lock=pc.FileLock(tmp_path / "run.lock"),
        since=NOW - timedelta(hours=1),
        clock=FrozenClock(NOW),
        workdir=tmp_path / "work",
        max_data_size=10,  # a part per record
    )
    [failed] = [c for c in run.collections if c.status == "failed"]
    assert failed.key == "split_row" and "collector 'split_row' raised ValueError" in (
        failed.error or ""
    )
    members: list[bytes] = []
    for path in sorted((tmp_path / "dest").rglob("*.tar.gz")):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m)
                if m.name.endswith(".csv") and "status" not in m.name and f is not None:
                    members.append(f.read())
    assert members == [b'id,note\n1,"two\nlines"\n']  # nothing of split_row, fine whole
    assert sum(c.rows for c in run.collections if c.key == "fine") == 1


class TestRecordBlocks:
    def test_input_ending_inside_quotes_is_refused_naming_the_record(self) -> None:
        data = b'id,note\n1,ok\n2,O"Brien\n3,x\n'
        with pytest.raises(ValueError, match="the record at byte 13 never closes its quotes"):
            list(record_blocks([data[i : i + 5] for i in range(0, len(data), 5)], size=8))

    def test_an_open_record_at_and_past_the_bound(self) -> None:
        """The bound is on what is held of a record whose end has not come yet."""
        field = b'1,"' + b"x\n" * 497 + b'y"\n'  # one record of 1000 bytes
        chunks = [b"h\n", field[:-2], field[-2:], b"2\n"]  # 998 bytes of it held open
        assert len(field) == 1000
        blocks = list(record_blocks(chunks, size=16, max_record=998))
        assert b"".join(blocks) == b"h\n" + field + b"2\n"
        assert sum(b.rows for b in blocks) == 3
        with pytest.raises(ValueError, match="record at byte 2 is still open after 997 bytes"):
            list(record_blocks(chunks, size=16, max_record=997))

    def test_a_record_without_its_last_newline_past_the_bound(self) -> None:
        with pytest.raises(ValueError, match="still open after 9 bytes"):
            list(record_blocks([b"h\n", b"1234567890"], max_record=9))

    def test_a_collector_file_with_a_stray_quote_fails_its_window(self, tmp_path: Path) -> None:
        before = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(9000))

        @pc.register("config", "1.0", config=True)
        def config(**kwargs: Any) -> dict[str, str]:
            return {"platform": "test"}

        @pc.register("names", "1.0", format="csv")
        def names(full_path: str, **kwargs: Any) -> str:
            path = Path(full_path, "names.csv")
            path.write_bytes(before + b'9000,O"Brien\n9001,x\n')
            return str(path)

        run = pc.gather([config, names], workdir=tmp_path / "work", clock=FrozenClock(NOW))
        [c] = [c for c in run.collections if c.key == "names"]
        assert c.status == "failed"
        assert f"ends inside a quoted field: the record at byte {len(before)} " in (c.error or "")


csv_bytes = st.lists(st.sampled_from([b'"', b"\n", b"a", b",", b'""']), max_size=60).map(b"".join)


class TestLastEnd:
    @settings(max_examples=400, deadline=None)
    @given(data=csv_bytes)
    def test_agrees_with_reading_byte_by_byte(self, data: bytes) -> None:
        assert last_end(data) == reference_last_end(data)

    @settings(max_examples=200, deadline=None)
    @given(data=csv_bytes)
    def test_the_block_it_ends_is_whole(self, data: bytes) -> None:
        end = last_end(data)
        assert count_records(data[:end])[1] is False
        assert end == 0 or data[end - 1 : end] == b"\n"

    def test_a_long_quoted_field_and_a_stray_quote(self) -> None:
        field = b'1,"' + b"line of output\n" * 10_000
        assert last_end(b"h\n" + field) == 2
        stray = b'h\n1,O"Brien\n' + b"2,x\n" * 10_000
        assert last_end(stray) == 2


def test_cut_parts_are_whole_records_whatever_the_blocks(tmp_path: Path) -> None:
    """Quote-heavy records in blocks of every record count, tiny limits: every part parses."""
    import csv

    records = [
        b'%d,"a ""quoted"" word\nand, a line",x\n' % i if i % 3 else b'%d,"",""""\n' % i
        for i in range(60)
    ]
    for per_block in (1, 2, 7, 60):
        blocks = [
            Rows(b"".join(records[i : i + per_block]), len(records[i : i + per_block]))
            for i in range(0, len(records), per_block)
        ]
        for limit in (20, 90, 400):
            folder = tmp_path / f"{per_block}-{limit}"
            folder.mkdir()
            parts = list(
                pc.stages.chunk.cut(
                    [Rows(b"id,text,more\n", 1), *blocks], key="k", directory=folder, limit=limit
                )
            )
            rows = []
            for part in parts:
                data = pc.stages.chunk.read_part(part)
                parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
                assert parsed[0] == ["id", "text", "more"] and len(parsed) - 1 == part.rows
                rows += parsed[1:]
            assert [r[0] for r in rows] == [str(i) for i in range(60)]


def test_a_splitter_header_written_a_byte_at_a_time(tmp_path: Path) -> None:
    """The old splitter finds a header sent in one-byte writes (searching new bytes only)."""
    from pipeline_collector.compat import CsvFileSplitter

    header = b"id," + b",".join(b"c%d" % i for i in range(2000)) + b"\n"
    splitter = CsvFileSplitter(filespec=str(tmp_path / "wide.csv"), max_file_size=10**6)
    for i in range(len(header)):
        splitter.write(header[i : i + 1])
    splitter.write(b"1," + b",".join(b"x" for _ in range(2000)) + b"\n")
    [path] = splitter.file_list()
    assert Path(path).read_bytes().startswith(header)
    assert splitter.header == header.decode().rstrip("\n")
