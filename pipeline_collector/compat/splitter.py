"""``CsvFileSplitter``: the old file-splitting helper, counting bytes and leaving no strays.

It keeps the old class's public and subclass-facing surface (``filespec``,
``max_file_size``, ``files``, ``header``, ``counter``, ``currentfile``,
``cycle_file``, ``write``, ``file_list``), so a service's subclass that
overrides ``file_list`` and closes ``self.currentfile`` itself (as
metrics-utility's does) works as it did under the old library.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any

from ..errors import ConfigurationError
from ..log import logger

__all__ = ["MAX_DATA_SIZE", "CsvFileSplitter"]

#: The old ``Package.MAX_DATA_SIZE``: 200 MiB of uncompressed CSV per file.
MAX_DATA_SIZE = 200 * 2**20

log = logger("compat")


def _as_bytes(s: str | bytes | bytearray | memoryview) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


class _CurrentFile:
    """The open part file as the old ``currentfile`` attribute showed it.

    Writes through it (``str`` as UTF-8, or bytes) are counted in the
    splitter's ``counter``, as the old class counted what it wrote.
    """

    def __init__(self, splitter: CsvFileSplitter, raw: IO[bytes]) -> None:
        self._splitter = splitter
        self._raw = raw

    @property
    def name(self) -> str:
        return str(self._raw.name)

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def write(self, s: str | bytes | bytearray | memoryview) -> int:
        data = _as_bytes(s)
        self._raw.write(data)
        self._splitter.counter += len(data)
        return len(s)

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        self._raw.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<current part {os.path.basename(self.name)} ({state})>"


class CsvFileSplitter(io.TextIOBase):
    """A file-like object that writes CSV into files of at most ``max_file_size`` bytes.

    The first line written is the header; it is repeated at the top of every
    file.  Each ``write`` is kept whole: when it would take the current file
    past the limit, a new file is started first (``<filespec>_split<N>``).  A
    single write larger than the limit goes alone into its own file and is
    logged as ``row.oversized``.  Files are created only when a row arrives,
    so nothing is left behind for an empty result.  ``file_list()`` closes the
    last file and returns the paths; a lone file is renamed to ``<filespec>``.

    ``write`` takes ``str`` (psycopg2's ``copy_expert`` and ``csv.writer``
    write one row per call) or bytes (psycopg 3 COPY blocks, UTF-8).  It is a
    text stream so psycopg2 decodes rows in the connection's encoding before
    they reach it, as it did for the old class.

    A subclass that reads ``currentfile`` gets the open file, as the old
    class always had one: when none is open yet, one is opened then (with
    the header, if one was written), so an override of ``file_list`` that
    closes it and renames ``files`` keeps a header-only file as before.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> f = CsvFileSplitter(filespec=str(d / "t.csv"), max_file_size=12)
    >>> for line in ["id,n\\n", "1,ab\\n", "2,cd\\n", "3,é\\n"]:
    ...     _ = f.write(line)
    >>> [pathlib.Path(p).read_bytes() for p in f.file_list()]
    [b'id,n\\n1,ab\\n', b'id,n\\n2,cd\\n', b'id,n\\n3,\\xc3\\xa9\\n']
    >>> import shutil; shutil.rmtree(d)
    """

    def __init__(
        self,
        filespec: str | os.PathLike[str] | None = None,
        max_file_size: int = MAX_DATA_SIZE,
        *args: Any,
        keep_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._current: IO[bytes] | None = None
        self._finished = False
        if filespec is None:
            raise ConfigurationError("CsvFileSplitter needs filespec, the path of the CSV file")
        if not isinstance(max_file_size, int) or max_file_size <= 0:
            raise ConfigurationError(
                f"CsvFileSplitter max_file_size={max_file_size!r} must be a positive integer"
            )
        self.filespec = os.fspath(filespec)
        self.max_file_size = max_file_size
        self.keep_empty = keep_empty
        #: Paths of the files written so far, the open one included.
        self.files: list[str] = []
        #: The header line without its line break, once it has been written.
        self.header: str | None = None
        #: Bytes in the current file (0 before its first row).
        self.counter = 0
        self._header: bytes | None = None
        self._pending = bytearray()
        self._row_complete = True

    @property
    def currentfile(self) -> _CurrentFile | None:
        """The file being written; opened now if none is (the old class always had one)."""
        if self._current is None and not self._finished and not self.closed:
            if self._header is None and self._pending:
                self._set_header(bytes(self._pending))
                self._pending.clear()
            self._open_next()
        return None if self._current is None else _CurrentFile(self, self._current)

    @currentfile.setter
    def currentfile(self, value: None) -> None:
        if value is not None:
            raise ConfigurationError(
                "CsvFileSplitter.currentfile can only be set to None (which closes it);"
                " write rows with write()"
            )
        self.cycle_file()

    def writable(self) -> bool:
        return True

    def write(self, s: str | bytes | bytearray | memoryview) -> int:
        """Write one or more whole rows (or the header); return what was given."""
        if self._finished or self.closed:
            raise ValueError(f"CsvFileSplitter for {self.filespec} is already finished")
        size = len(s)
        data = _as_bytes(s)
        if not data:
            return size
        if self._header is None:
            self._pending += data
            # Only the new bytes are searched: a header written a byte at a time stays linear.
            end = self._pending.find(b"\n", len(self._pending) - len(data))
            if end < 0:
                return size
            self._set_header(bytes(self._pending[: end + 1]))
            data = bytes(self._pending[end + 1 :])
            self._pending.clear()
            if not data:
                return size
        self._write_row(data)
        return size

    def cycle_file(self) -> None:
        """Close the current file; the next row starts a new one under the header."""
        if self._current is not None:
            self._current.close()
            self._current = None
        self.counter = 0

    def file_list(self, keep_empty: bool | None = None) -> list[str]:
        """Finish writing and return the paths of the files, in order.

        With no rows, return ``[]`` and leave no file, unless ``keep_empty``
        (here or in the constructor) asks for a header-only file.
        """
        if not self._finished:
            self.cycle_file()
            if self._header is None and self._pending:
                self._set_header(bytes(self._pending))
                self._pending.clear()
            keep = self.keep_empty if keep_empty is None else keep_empty
            if not self.files and keep and self._header is not None:
                with open(self.filespec, "wb") as out:
                    out.write(self._header)
                self.files.append(self.filespec)
            elif len(self.files) == 1 and self.files[0] != self.filespec:
                os.replace(self.files[0], self.filespec)
                self.files[0] = self.filespec
            self._finished = True
        return list(self.files)

    def close(self) -> None:
        """Close the open file; ``file_list()`` still works afterwards."""
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()

    def _set_header(self, header: bytes) -> None:
        self._header = header
        self.header = header.decode("utf-8", "replace").removesuffix("\n")

    def _open_next(self) -> IO[bytes]:
        name = f"{self.filespec}_split{len(self.files)}"
        self._current = open(name, "wb")  # noqa: SIM115 - closed by cycle_file
        self.files.append(name)
        self.counter = 0
        if self._header is not None:
            self._current.write(self._header)
            self.counter = len(self._header)
        return self._current

    def _write_row(self, data: bytes) -> None:
        assert self._header is not None
        size = len(data)
        if self._current is not None and self._current.closed:
            # A subclass closed ``currentfile`` itself: carry on in a new file.
            self._current = None
        # Rotate only between rows: a write that did not end a line is part of
        # a row that was handed over in pieces.
        if (
            self._current is not None
            and self._row_complete
            and self.counter > len(self._header)  # never leave a header-only file behind
            and self.counter + size > self.max_file_size
        ):
            self.cycle_file()
        if self._current is None:
            self._open_next()
            if self.counter + size > self.max_file_size:
                log.warning(
                    "record.oversized",
                    file=self.files[-1],
                    bytes=size,
                    header_bytes=len(self._header),
                    limit=self.max_file_size,
                )
        assert self._current is not None
        self._current.write(data)
        self.counter += size
        self._row_complete = data.endswith(b"\n")
