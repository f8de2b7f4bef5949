"""Stream a PostgreSQL ``COPY ... TO STDOUT`` as rows, for CSV collectors.

A CSV collector yields rows; these helpers turn a COPY into such rows without
holding the table in memory::

    @register("jobs", "1.0", format="csv")
    def jobs(cursor, since, until, **kwargs):
        yield from copy_rows(cursor, "COPY (SELECT ...) TO STDOUT WITH CSV HEADER")

Each item is a ``Rows`` block (a ``bytes``) of whole rows, about 256 KiB:
the server's messages joined and split at the last record end, found by
quote parity, so a newline inside a quoted field stays inside its row and
``rows`` counts records, not newlines.  The chunk stage takes such a block in
one step instead of one row at a time.  Bytes are in the connection's client
encoding (UTF-8 unless changed); in UTF-8 the blocks are marked ``utf8`` (the
server validated them), so the deflate workers skip their UTF-8 check.

Stopping early (closing the iterator, an exception in the consumer) cancels
the COPY on the server; like any cancelled statement it leaves the current
transaction aborted, so roll it back (or use autocommit) before reusing the
connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import ConfigurationError
from ..log import logger
from ..stages.rows import BLOCK, Rows, record_blocks

__all__ = ["copy_rows", "copy_rows_psycopg2"]

log = logger("copy")

Buffer = bytes | bytearray | memoryview


class CopyCursor(Protocol):
    """Protocol: a psycopg 3 cursor, as far as ``copy_rows`` needs it."""

    def copy(self, statement: Any, params: Any = ...) -> AbstractContextManager[Iterable[Buffer]]:
        """Start a COPY and return its context manager, iterable by rows."""
        ...


def copy_rows(
    cursor: CopyCursor, sql: Any, params: Any = None, *, block: int = BLOCK
) -> Iterator[Rows]:
    """Yield blocks of the rows of ``COPY ... TO STDOUT`` through psycopg 3's ``cursor.copy``.

    psycopg 3 pulls: its buffers are read only when asked for and joined, no
    copy of each, into blocks of about ``block`` bytes of whole rows.
    Closing it early makes psycopg cancel the COPY.
    """
    if block < 1:
        raise ConfigurationError(f"block must be at least 1 byte, not {block}")
    info = getattr(getattr(cursor, "connection", None), "info", None)
    utf8 = _utf8(getattr(info, "encoding", None))
    with cursor.copy(sql, params) as copy:
        yield from record_blocks(copy, block, utf8)


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class _QueueWriter:
    """The file psycopg2 writes to: rows joined into chunks of ``block`` bytes, queued.

    Not a text stream on purpose, so psycopg2 passes the raw bytes.  Once the
    consumer has gone, rows are dropped instead of queued.
    """

    def __init__(self, rows: queue.Queue[object], stop: threading.Event, block: int) -> None:
        self._rows = rows
        self._stop = stop
        self._block = block
        self._pending: list[Buffer] = []
        self._size = 0

    def write(self, data: Buffer | str) -> int:
        if not self._stop.is_set():
            if isinstance(data, str):
                data = data.encode("utf-8")
            elif type(data) is not bytes:
                data = bytes(data)  # a buffer the driver may reuse
            self._pending.append(data)
            self._size += len(data)
            if self._size >= self._block:
                self.flush()
        return len(data)

    def flush(self) -> None:
        if self._pending and not self._stop.is_set():
            self._rows.put(b"".join(self._pending))
        self._pending.clear()
        self._size = 0


def _cancel(cursor: Any) -> None:
    cancel = getattr(getattr(cursor, "connection", None), "cancel", None)
    if cancel is None:
        return
    try:
        cancel()
    except Exception as e:  # the COPY is then drained instead of cancelled
        log.debug("copy.cancel_failed", error=type(e).__name__)


def copy_rows_psycopg2(
    cursor: Any, sql: str, *, max_pending: int = 4, block: int = BLOCK
) -> Iterator[Rows]:
    """Yield blocks of the rows of ``COPY ... TO STDOUT`` through psycopg2's ``copy_expert``.

    psycopg2 pushes rows into a file, so ``copy_expert`` runs in a thread that
    joins them into chunks of about ``block`` bytes and puts those into a
    queue of at most ``max_pending`` chunks: the producer waits while the
    consumer is busy, and memory stays bounded (``max_pending`` times
    ``block``).  Items are ``Rows`` blocks of whole rows, as ``copy_rows``
    yields.  An error in the COPY is raised here; the thread is always joined.
    Stopping early cancels the statement through ``cursor.connection.cancel()``.
    """
    if max_pending < 1:
        raise ConfigurationError(f"max_pending must be at least 1, not {max_pending}")
    if block < 1:
        raise ConfigurationError(f"block must be at least 1 byte, not {block}")
    utf8 = _utf8(getattr(getattr(cursor, "connection", None), "encoding", None))
    return _blocks(_pump(cursor, sql, max_pending, block), block, utf8)


def _utf8(encoding: object) -> bool:
    """Whether a connection's client encoding is UTF-8: the server then sends valid UTF-8.

    >>> _utf8("utf-8"), _utf8("UTF8"), _utf8("LATIN1"), _utf8(None)
    (True, True, False, False)
    """
    return isinstance(encoding, str) and encoding.upper().replace("-", "") in ("UTF8", "UNICODE")


def _blocks(chunks: Iterator[bytes], block: int, utf8: bool) -> Iterator[Rows]:
    try:
        yield from record_blocks(chunks, block, utf8)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # now, not when collected: it cancels the COPY and joins its thread


def _pump(cursor: Any, sql: str, max_pending: int, block: int) -> Iterator[bytes]:
    rows: queue.Queue[object] = queue.Queue(maxsize=max_pending)
    stop = threading.Event()
    sink = _QueueWriter(rows, stop, block)

    def produce() -> None:
        try:
            cursor.copy_expert(sql, sink)
            sink.flush()
        except BaseException as e:
            if stop.is_set():
                log.debug("copy.cancelled", error=type(e).__name__)
            else:
                rows.put(_Failure(e))
        finally:
            rows.put(_END)

    thread = threading.Thread(target=produce, name="copy_rows_psycopg2", daemon=True)
    thread.start()
    done = False
    try:
        while True:
            item = rows.get()
            if item is _END:
                done = True
                return
            if isinstance(item, _Failure):
                done = rows.get() is _END  # the producer's last word
                raise item.error
            assert isinstance(item, bytes)
            yield item
    finally:
        if not done:
            stop.set()
            _cancel(cursor)
            while rows.get() is not _END:
                pass
        thread.join()
