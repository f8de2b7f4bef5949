"""CsvFileSplitter's subclass-facing attributes behave as the old class's did."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipeline_collector.compat import CsvFileSplitter
from pipeline_collector.errors import ConfigurationError


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class TestCurrentFile:
    def test_is_the_open_file_holding_the_rows(self, tmp_path: Path) -> None:
        """After rows, currentfile is the open part file that holds them."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        splitter.write("id\n1\n")
        current = splitter.currentfile
        assert current is not None and not current.closed
        assert current.name == str(tmp_path / "t.csv_split0")
        assert splitter.files == [current.name]

    def test_opens_a_file_with_the_header_when_none_is_open(self, tmp_path: Path) -> None:
        """With only a header written, reading currentfile opens the first file with the
        header in it, as the old class had one open from the start."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        splitter.write("id,name\n")
        current = splitter.currentfile
        assert current is not None
        current.close()
        assert (tmp_path / "t.csv_split0").read_bytes() == b"id,name\n"
        assert splitter.counter == len(b"id,name\n")

    def test_before_any_write_opens_an_empty_file(self, tmp_path: Path) -> None:
        """Nothing written: currentfile is an empty first file, as under the old class."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        current = splitter.currentfile
        assert current is not None
        current.close()
        assert names(tmp_path) == ["t.csv_split0"]
        assert (tmp_path / "t.csv_split0").read_bytes() == b""

    def test_writes_through_it_are_counted(self, tmp_path: Path) -> None:
        """A subclass writing to currentfile directly moves counter by the bytes it wrote."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        splitter.write("id\n1\n")
        before = splitter.counter
        current = splitter.currentfile
        assert current is not None
        assert current.write("é\n") == 2
        assert splitter.counter == before + 3

    def test_rows_after_a_subclass_closed_it_go_to_a_new_file(self, tmp_path: Path) -> None:
        """When a subclass closes currentfile, the next row starts a new file under the header."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        splitter.write("id\n1\n")
        current = splitter.currentfile
        assert current is not None
        current.close()
        splitter.write("2\n")
        assert splitter.file_list() == [str(tmp_path / f"t.csv_split{n}") for n in (0, 1)]
        assert (tmp_path / "t.csv_split1").read_bytes() == b"id\n2\n"

    def test_no_header_only_file_is_left_before_an_oversized_row(self, tmp_path: Path) -> None:
        """A file opened through currentfile holding only the header takes the next row even
        when it is oversized, so no header-only file is left behind."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 10)
        splitter.write("id\n")
        assert splitter.currentfile is not None
        splitter.write("x" * 40 + "\n")
        assert splitter.file_list() == [str(tmp_path / "t.csv")]
        assert (tmp_path / "t.csv").read_bytes() == b"id\n" + b"x" * 40 + b"\n"

    def test_none_closes_it(self, tmp_path: Path) -> None:
        """Setting currentfile to None (the old __init__ did) closes the open file."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        splitter.write("id\n1\n")
        splitter.currentfile = None
        splitter.write("2\n")
        assert len(splitter.file_list()) == 2

    def test_another_value_is_refused(self, tmp_path: Path) -> None:
        """Anything but None assigned to currentfile is refused with a clear error."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        with pytest.raises(ConfigurationError, match="currentfile"):
            splitter.currentfile = io.StringIO()  # type: ignore[assignment]

    def test_after_file_list_it_opens_nothing(self, tmp_path: Path) -> None:
        """Once finished, reading currentfile creates no new file."""
        splitter = CsvFileSplitter(str(tmp_path / "t.csv"), 100)
        splitter.write("id\n1\n")
        splitter.file_list()
        assert splitter.currentfile is None
        assert names(tmp_path) == ["t.csv"]
