"""CsvFileSplitter: the old file-splitting helper, counting bytes and leaving no strays."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from pipeline_collector import compat
from pipeline_collector.compat import CsvFileSplitter
from pipeline_collector.errors import ConfigurationError

HEADER = "id,name\n"


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def write_all(splitter: CsvFileSplitter, pieces: Sequence[str | bytes]) -> list[str]:
    for piece in pieces:
        splitter.write(piece)
    return splitter.file_list()


def rows_of(files: list[str]) -> tuple[list[bytes], list[bytes]]:
    """Return (headers, data rows) of the files, rows split on line ends."""
    headers, rows = [], []
    for name in files:
        lines = Path(name).read_bytes().splitlines(keepends=True)
        headers.append(lines[0])
        rows.extend(lines[1:])
    return headers, rows


class TestNothingToWrite:
    def test_no_write_returns_no_files(self, tmp_path: Path) -> None:
        """A splitter that was never written to returns [] and creates no file."""
        splitter = CsvFileSplitter(filespec=str(tmp_path / "t.csv"), max_file_size=100)
        assert splitter.file_list() == []
        assert listing(tmp_path) == set()

    def test_no_write_with_keep_empty_returns_no_files(self, tmp_path: Path) -> None:
        """keep_empty cannot keep a header that was never written: still [] and no file."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100, keep_empty=True)
        assert splitter.file_list() == []
        assert listing(tmp_path) == set()

    def test_header_only_returns_no_files(self, tmp_path: Path) -> None:
        """A header without rows gives [] and leaves no file by default."""
        splitter = CsvFileSplitter(filespec=str(tmp_path / "t.csv"), max_file_size=100)
        assert write_all(splitter, [HEADER]) == []
        assert listing(tmp_path) == set()
        assert splitter.header == "id,name"

    def test_header_only_kept_when_asked_in_constructor(self, tmp_path: Path) -> None:
        """keep_empty=True in the constructor keeps one header-only file named <filespec>."""
        spec = tmp_path / "t.csv"
        splitter = CsvFileSplitter(filespec=str(spec), max_file_size=100, keep_empty=True)
        assert write_all(splitter, [HEADER]) == [str(spec)]
        assert spec.read_bytes() == HEADER.encode()
        assert listing(tmp_path) == {"t.csv"}

    def test_header_only_kept_when_asked_in_file_list(self, tmp_path: Path) -> None:
        """file_list(keep_empty=True), as metrics-utility calls it, keeps the header-only file."""
        spec = tmp_path / "t.csv"
        splitter = CsvFileSplitter(filespec=str(spec), max_file_size=100)
        splitter.write(HEADER)
        assert splitter.file_list(keep_empty=True) == [str(spec)]
        assert spec.read_bytes() == HEADER.encode()

    def test_keep_empty_adds_nothing_when_rows_exist(self, tmp_path: Path) -> None:
        """With rows written, keep_empty adds no header-only file after the last full one."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), len(HEADER) + 4, keep_empty=True)
        files = write_all(splitter, [HEADER, "1,a\n", "2,b\n"])
        assert [Path(f).name for f in files] == ["t.csv_split0", "t.csv_split1"]
        assert listing(tmp_path) == {"t.csv_split0", "t.csv_split1"}


class TestLimit:
    def test_rotates_before_a_row_that_would_overflow(self, tmp_path: Path) -> None:
        """A file is closed before a row that would take it past the limit, not after."""
        limit = len(HEADER) + 11
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), limit)
        files = write_all(splitter, [HEADER, "1,aaaa\n", "2,bbbb\n", "3,c\n"])
        contents = [Path(f).read_bytes() for f in files]
        assert contents == [
            b"id,name\n1,aaaa\n",
            b"id,name\n2,bbbb\n3,c\n",
        ]
        assert [len(c) for c in contents] == [15, limit]

    def test_a_file_may_be_exactly_the_limit(self, tmp_path: Path) -> None:
        """Rows that fill a file to exactly the limit stay together."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), len(HEADER) + 9)
        files = write_all(splitter, [HEADER, "1,aa\n", "2,b\n", "3,c\n"])
        assert [Path(f).read_bytes() for f in files] == [
            b"id,name\n1,aa\n2,b\n",
            b"id,name\n3,c\n",
        ]

    def test_non_ascii_is_counted_in_bytes(self, tmp_path: Path) -> None:
        """Rows are measured in UTF-8 bytes, so multi-byte text never passes the limit."""
        limit = 40
        row = "1," + "é" * 10 + "\n"  # 13 characters, 23 bytes
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), limit)
        for piece in [HEADER] + [row] * 4:
            splitter.write(piece)
        assert splitter.counter == len(HEADER) + len(row.encode())
        files = splitter.file_list()
        assert len(files) == 4
        for name in files:
            data = Path(name).read_bytes()
            assert len(data) <= limit
            assert data == HEADER.encode() + row.encode()

    def test_row_bigger_than_limit_goes_alone_and_is_logged(self, tmp_path: Path) -> None:
        """A row larger than the limit gets a file of its own and a record.oversized event."""
        big = "2," + "x" * 50 + "\n"
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 20)
        with capture_logs() as logs:
            files = write_all(splitter, [HEADER, "1,a\n", big, "3,c\n"])
        assert [Path(f).read_bytes() for f in files] == [
            b"id,name\n1,a\n",
            HEADER.encode() + big.encode(),
            b"id,name\n3,c\n",
        ]
        events = [e for e in logs if e["event"] == "record.oversized"]
        assert len(events) == 1
        assert events[0]["bytes"] == len(big)
        assert events[0]["limit"] == 20
        assert events[0]["file"].endswith("t.csv_split1")
        assert events[0]["log_level"] == "warning"

    def test_row_bigger_than_limit_as_first_row(self, tmp_path: Path) -> None:
        """An oversized first row is alone in its file and the next row starts a new one."""
        big = "1," + "x" * 50 + "\n"
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 20)
        files = write_all(splitter, [HEADER, big, "2,b\n"])
        assert [Path(f).read_bytes() for f in files] == [
            HEADER.encode() + big.encode(),
            b"id,name\n2,b\n",
        ]

    def test_header_repeated_at_top_of_every_file(self, tmp_path: Path) -> None:
        """Every file starts with the header line that was written first."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 30)
        files = write_all(splitter, [HEADER] + [f"{n},name{n}\n" for n in range(20)])
        assert len(files) > 3
        headers, rows = rows_of(files)
        assert set(headers) == {HEADER.encode()}
        assert rows == [f"{n},name{n}\n".encode() for n in range(20)]

    def test_rejects_a_limit_that_is_not_positive(self, tmp_path: Path) -> None:
        """A zero limit is a configuration error, not an endless rotation."""
        with pytest.raises(ConfigurationError, match="max_file_size"):
            CsvFileSplitter(str(tmp_path / "t.csv"), 0)

    @settings(max_examples=60, deadline=None)
    @given(
        rows=st.lists(
            st.text(
                alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
                max_size=30,
            ),
            max_size=40,
        ),
        limit=st.integers(min_value=1, max_value=120),
    )
    def test_files_stay_within_limit_and_keep_every_row(self, rows: list[str], limit: int) -> None:
        """For any rows and limit: files hold at most the limit unless a row alone is bigger,
        and the rows put back together are exactly the rows written."""
        lines = [f"{n},{text}\n" for n, text in enumerate(rows)]
        header_bytes = len(HEADER.encode())
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            splitter = CsvFileSplitter(str(directory / "t.csv"), limit)
            files = write_all(splitter, [HEADER, *lines])
            assert listing(directory) == {Path(f).name for f in files}
            headers, got = rows_of(files)
            assert got == [line.encode() for line in lines]
            assert set(headers) <= {HEADER.encode()}
            for name in files:
                size = os.path.getsize(name)
                body = size - header_bytes
                assert size <= limit or Path(name).read_bytes().count(b"\n") == 2, (
                    f"{name} holds {size} bytes ({body} of rows) over {limit} with several rows"
                )


class TestNaming:
    def test_single_file_is_renamed_to_filespec(self, tmp_path: Path) -> None:
        """One file is renamed from <filespec>_split0 to <filespec>, as the old class did."""
        spec = tmp_path / "jobs_table.csv"
        splitter = CsvFileSplitter(filespec=str(spec))
        assert write_all(splitter, [HEADER, "1,a\n"]) == [str(spec)]
        assert listing(tmp_path) == {"jobs_table.csv"}

    def test_several_files_keep_split_suffixes(self, tmp_path: Path) -> None:
        """Several files are named <filespec>_split<N> in the order written."""
        spec = tmp_path / "t.csv"
        splitter = CsvFileSplitter(str(spec), len(HEADER) + 4)
        files = write_all(splitter, [HEADER, "1,a\n", "2,b\n", "3,c\n"])
        assert files == [f"{spec}_split{n}" for n in range(3)]
        assert splitter.files == files
        assert listing(tmp_path) == {f"t.csv_split{n}" for n in range(3)}

    def test_filespec_containing_split0_is_not_mangled(self, tmp_path: Path) -> None:
        """A filespec that itself contains '_split0' is kept as given."""
        spec = tmp_path / "a_split0_b.csv"
        splitter = CsvFileSplitter(filespec=spec)
        assert write_all(splitter, [HEADER, "1,a\n"]) == [str(spec)]

    def test_filespec_is_required(self) -> None:
        """Without filespec there is nowhere to write: a configuration error names it."""
        with pytest.raises(ConfigurationError, match="filespec"):
            CsvFileSplitter()

    def test_same_files_as_the_old_class_for_its_own_test_pattern(self, tmp_path: Path) -> None:
        """For the old test suite's 10-byte rows, names and contents match the old class."""
        from insights_analytics_collector import csv_file_splitter as old_module

        header, line, max_size, files_cnt = "Col1,Col2\n", "1234,6789\n", 100, 3
        results = []
        for name, cls in (("old", old_module.CsvFileSplitter), ("new", CsvFileSplitter)):
            directory = tmp_path / name
            directory.mkdir()
            f = cls(filespec=str(directory / "big_table_table.csv"), max_file_size=max_size)
            f.write(header)
            for _ in range(files_cnt * int(max_size / len(line)) - files_cnt):
                f.write(line)
            files = f.file_list()
            results.append([(Path(p).name, Path(p).read_bytes()) for p in files])
        assert results[0] == results[1]
        assert len(results[1]) == files_cnt


class TestInputs:
    def test_accepts_bytes_and_memoryview_rows(self, tmp_path: Path) -> None:
        """psycopg 3 blocks (bytes, memoryview) and str can be mixed in one splitter."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"))
        files = write_all(splitter, [b"id,name\n", "1,\u00e9\n"])
        splitter2 = CsvFileSplitter(str(tmp_path / "u.csv"))
        splitter2.write(memoryview(b"id,name\n"))
        splitter2.write(memoryview("1,\u00e9\n".encode()))
        files += splitter2.file_list()
        assert [Path(f).read_bytes() for f in files] == [b"id,name\n1,\xc3\xa9\n"] * 2

    def test_header_and_rows_in_one_write(self, tmp_path: Path) -> None:
        """A first write holding the header and rows takes its first line as the header."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        files = write_all(splitter, ["id,name\n1,a\n2,b\n", "3,c\n"])
        assert splitter.header == "id,name"
        assert Path(files[0]).read_bytes() == b"id,name\n1,a\n2,b\n3,c\n"

    def test_header_written_in_pieces(self, tmp_path: Path) -> None:
        """A header that arrives in pieces is whole before the first row."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), len(HEADER) + 4)
        files = write_all(splitter, ["id,", "name\n", "1,a\n", "2,b\n"])
        assert [Path(f).read_bytes() for f in files] == [b"id,name\n1,a\n", b"id,name\n2,b\n"]

    def test_a_row_written_in_pieces_is_never_cut(self, tmp_path: Path) -> None:
        """Pieces of one row (a producer buffering by size) stay in one file, even past the limit."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), len(HEADER) + 10)
        files = write_all(splitter, [HEADER, "1,a\n", "2,bbb", "bbbb", "bb\n", "3,c\n"])
        assert [Path(f).read_bytes() for f in files] == [
            b"id,name\n1,a\n2,bbbbbbbbb\n",
            b"id,name\n3,c\n",
        ]

    def test_csv_writer_rows(self, tmp_path: Path) -> None:
        """csv.writer writes one row per call, quoted newlines included, and rows survive."""
        data = [["id", "text"], ["1", 'say "hi"'], ["2", "two\nlines"], ["3", "ünï, cødé"]]
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 30)
        writer = csv.writer(splitter)
        writer.writerows(data)
        files = splitter.file_list()
        assert len(files) == 3
        back: list[list[str]] = []
        for name in files:
            with open(name, newline="", encoding="utf-8") as f:
                parsed = list(csv.reader(f))
            assert parsed[0] == data[0]
            back.extend(parsed[1:])
            assert os.path.getsize(name) <= 30
        assert back == data[1:]

    def test_context_manager_as_metrics_utility_uses_it(self, tmp_path: Path) -> None:
        """Used in a with block and finished inside it, the splitter returns its file."""
        with CsvFileSplitter(filespec=str(tmp_path / "t.csv"), max_file_size=100) as f:
            f.write(HEADER)
            f.write("1,a\n")
            files = f.file_list()
        assert files == [str(tmp_path / "t.csv")]
        assert f.closed

    def test_file_list_after_close_still_works(self, tmp_path: Path) -> None:
        """Closing first (a with block) does not lose the files."""
        with CsvFileSplitter(filespec=str(tmp_path / "t.csv"), max_file_size=100) as f:
            f.write(HEADER)
            f.write("1,a\n")
        assert f.file_list() == [str(tmp_path / "t.csv")]

    def test_file_list_twice_returns_the_same(self, tmp_path: Path) -> None:
        """file_list() can be asked again and changes nothing on disk."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), len(HEADER) + 4)
        first = write_all(splitter, [HEADER, "1,a\n", "2,b\n"])
        assert splitter.file_list() == first
        assert listing(tmp_path) == {Path(f).name for f in first}

    def test_write_after_file_list_is_refused(self, tmp_path: Path) -> None:
        """Writing to a finished splitter raises instead of writing to a closed file."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"))
        write_all(splitter, [HEADER, "1,a\n"])
        with pytest.raises(ValueError, match="finished"):
            splitter.write("2,b\n")

    def test_is_a_text_stream(self, tmp_path: Path) -> None:
        """It is an io.TextIOBase, so psycopg2 hands it decoded str rows as before."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"))
        assert isinstance(splitter, io.TextIOBase)
        assert splitter.writable()

    def test_cycle_file_starts_a_new_file_at_the_next_row(self, tmp_path: Path) -> None:
        """cycle_file() closes the current file; the next row opens one, and none is empty."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"))
        splitter.write(HEADER)
        splitter.write("1,a\n")
        splitter.cycle_file()
        splitter.cycle_file()
        splitter.write("2,b\n")
        splitter.cycle_file()
        files = splitter.file_list()
        assert [Path(f).read_bytes() for f in files] == [b"id,name\n1,a\n", b"id,name\n2,b\n"]
        assert listing(tmp_path) == {"t.csv_split0", "t.csv_split1"}


class TestModuleSurface:
    def test_old_collector_module_names_exist(self) -> None:
        """What collector modules import from the old package is importable here."""
        from pipeline_collector.compat import (  # noqa: F401
            MAX_DATA_SIZE,
            CsvFileSplitter,
            register,
            slicing,
        )

        assert MAX_DATA_SIZE == 200 * 1048576

    def test_register_is_the_library_register(self) -> None:
        """compat.register is pipeline_collector's own register, not a copy."""
        from pipeline_collector.stages.discover import register

        assert compat.register is register

    @pytest.mark.parametrize("name", ["Collector", "Package", "CollectionCSV", "CollectionJSON"])
    def test_base_classes_point_to_the_guide(self, name: str) -> None:
        """Importing an old base class fails with a message that names the replacement."""
        with pytest.raises(ImportError, match=r"migration\.md"):
            exec(f"from pipeline_collector.compat import {name}", {})

    def test_unknown_names_are_plain_attribute_errors(self) -> None:
        """Other missing names behave as usual, so hasattr() works."""
        assert not hasattr(compat, "no_such_name")
