"""Drop-in names for collector modules written for ``insights_analytics_collector``.

A collector module moves over by changing one import::

    from insights_analytics_collector import CsvFileSplitter, register
    # becomes
    from pipeline_collector.compat import CsvFileSplitter, register

``register`` is the library's own (it writes the old metadata attributes, so
functions decorated by either library are found).  ``CsvFileSplitter`` keeps
the old methods and file names but counts bytes, never lets a file pass its
limit when rows are written whole, and leaves no stray files.  The old
``Collector`` and ``Package`` base classes have no counterpart: their hooks
became arguments of ``gather`` (see ``docs/migration.md``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import IO, Any, TypeVar

from .errors import ConfigurationError
from .log import logger
from .stages.discover import register

__all__ = [
    "MAX_DATA_SIZE",
    "CsvFileSplitter",
    "positional_slicer",
    "register",
    "slicing",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The old ``Package.MAX_DATA_SIZE``: 200 MiB of uncompressed CSV per file.
MAX_DATA_SIZE = 200 * 2**20

_REPLACED = {
    "Collector": "gather(module, state=..., transport=..., lock=..., is_licensed=...)",
    "Package": "gather(module, transport=HttpTransport(...), max_data_size=..., prefix=...)",
    "CollectionCSV": "a CSV collector that returns file paths or yields rows",
    "CollectionJSON": "a JSON collector that returns a JSON-serialisable value",
}

log = logger("compat")


def __getattr__(name: str) -> Any:
    # ImportError (not AttributeError) so that ``from ... import Collector``
    # shows this message instead of a bare "cannot import name".
    if name in _REPLACED:
        raise ImportError(
            f"pipeline_collector.compat has no {name}: subclasses of the old {name} are"
            f" replaced by {_REPLACED[name]}; see docs/migration.md"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def slicing(default: bool = False) -> Callable[[F], F]:
    """Mark a slicing function as the old decorator did; nothing reads the mark.

    Kept so that modules using it import unchanged.

    >>> @slicing(default=True)
    ... def daily(key, last_gather, **kwargs): return []
    >>> daily.__insights_analytics_slicing_default__
    True
    """

    def decorate(func: F) -> F:
        func.__insights_analytics_slicing_name__ = func.__name__  # type: ignore[attr-defined]
        func.__insights_analytics_slicing_default__ = default  # type: ignore[attr-defined]
        return func

    return decorate


def positional_slicer(
    fn: Callable[[str, datetime | None, datetime | None, datetime | None], Iterable[Any]],
) -> Callable[..., Iterable[Any]]:
    """Adapt an AWX-style slicer ``fn(key, since, until, last_gather)`` to the contract form.

    The result is called as ``slicer(key, last_gather, since=..., until=...,
    full_sync_enabled=False, **kwargs)``.  AWX slicers know no full sync, so
    ``full_sync_enabled`` is accepted and ignored: they get the same
    ``since``/``until`` either way.

    >>> def awx(key, since, until, last_gather):
    ...     return [(key, since, until, last_gather)]
    >>> list(positional_slicer(awx)("jobs", "LG", since="S", until="U"))
    [('jobs', 'S', 'U', 'LG')]
    """

    def slicer(
        key: str,
        last_gather: datetime | None,
        since: datetime | None = None,
        until: datetime | None = None,
        full_sync_enabled: bool = False,
        **kwargs: Any,
    ) -> Iterable[Any]:
        return fn(key, since, until, last_gather)

    slicer.__name__ = getattr(fn, "__name__", "slicer")
    slicer.__qualname__ = getattr(fn, "__qualname__", slicer.__name__)
    slicer.__doc__ = fn.__doc__
    slicer.__wrapped__ = fn  # type: ignore[attr-defined]
    return slicer


def _as_bytes(s: str | bytes | bytearray | memoryview) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


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
            end = self._pending.find(b"\n")
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

    def _write_row(self, data: bytes) -> None:
        assert self._header is not None
        size = len(data)
        # Rotate only between rows: a write that did not end a line is part of
        # a row that was handed over in pieces.
        if (
            self._current is not None
            and self._row_complete
            and self.counter + size > self.max_file_size
        ):
            self.cycle_file()
        if self._current is None:
            name = f"{self.filespec}_split{len(self.files)}"
            self._current = open(name, "wb")  # noqa: SIM115 - closed by cycle_file
            self.files.append(name)
            self._current.write(self._header)
            self.counter = len(self._header)
            if self.counter + size > self.max_file_size:
                log.warning(
                    "record.oversized",
                    file=name,
                    bytes=size,
                    header_bytes=len(self._header),
                    limit=self.max_file_size,
                )
        self._current.write(data)
        self.counter += size
        self._row_complete = data.endswith(b"\n")
