r"""Blocks of whole CSV records: many rows handed over as one ``bytes``.

A CSV collector may yield ``Rows`` instead of one record at a time: the
chunk stage then takes a block in one step and looks inside it only where a
part must end, so the Python work per row disappears.  ``copy_rows`` yields
them, and so does reading a CSV file.

A newline inside a quoted field does not end a record (PostgreSQL's CSV
COPY quotes such fields), so record ends are found by quote parity: a
newline ends a record when an even number of ``"`` precede it since the
block began (a doubled ``""`` inside a field counts twice, so it changes
nothing).  Every search is a few passes in C over the block, whatever its
records: a 64 MiB quoted field or a stray quote costs about a read of it
(``benchmarks/bench_record_end.py``).

>>> block = Rows.of(b'1,"a\nb"\n2,x\n')
>>> block.rows, bytes(block)
(2, b'1,"a\nb"\n2,x\n')
>>> split_records(block)
[b'1,"a\nb"\n', b'2,x\n']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "BLOCK",
    "MAX_RECORD",
    "Rows",
    "count_records",
    "first_record",
    "last_end",
    "record_blocks",
    "split_records",
]

BLOCK = 1 << 18  # bytes joined into one block: a quarter of a compressor block
MAX_RECORD = 1 << 29
"""The longest record ``record_blocks`` holds while it looks for its end (512 MiB).

A quote that is never closed makes the rest of the input one record; this
bounds the memory it takes before the input is refused.
"""

_QUOTE, _NL = ord('"'), ord("\n")
# Every byte but the quote and the newline, for ``bytes.translate`` to delete.
_OTHERS = bytes(b for b in range(256) if b not in (_QUOTE, _NL))


class Rows(bytes):
    r"""Whole CSV records joined (``rows`` of them), ending in a newline outside quotes.

    A ``bytes``, so whoever reads the items as bytes still can.  Make one with
    ``Rows(data, rows)`` when the count is known, or ``Rows.of(data)``;
    ``utf8=True`` says the bytes are known to be UTF-8 (a PostgreSQL server
    sending in a UTF-8 client encoding validates them), so the deflate workers
    skip their check, which holds the GIL.

    The cut trusts the promise (it cuts a block only between its records and
    counts its ``rows``), so it is checked when a block is made: a block
    that ends inside quotes or without its last newline, or whose count is
    not the number of its records, is refused with ``ValueError``.  The
    check counts the records, a tenth of the cost of compressing them.

    >>> Rows(b"1\n", 5)
    Traceback (most recent call last):
    ...
    ValueError: a block of 2 bytes holds 1 records, not 5
    >>> Rows(b'1,"first line\n', 1)
    Traceback (most recent call last):
    ...
    ValueError: a block of rows ends inside a quoted field; end its last record
    """

    _rows: int
    _utf8: bool

    def __new__(cls, data: bytes | bytearray | memoryview, rows: int, utf8: bool = False) -> Rows:
        self = super().__new__(cls, data)
        if self and not self.endswith(b"\n"):
            raise ValueError("a block of rows must end with a newline; end its last record")
        found, odd = count_records(self)
        if odd:
            raise ValueError("a block of rows ends inside a quoted field; end its last record")
        if rows != found:
            raise ValueError(f"a block of {len(self)} bytes holds {found} records, not {rows}")
        self._rows = rows
        self._utf8 = utf8  # vouched for by the producer: the UTF-8 check is skipped
        return self

    @property
    def rows(self) -> int:
        """How many records the block holds (read-only: the count was checked)."""
        return self._rows

    @property
    def utf8(self) -> bool:
        """Whether the producer vouched for the bytes being UTF-8."""
        return self._utf8

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> Rows:
        """The block of ``data``, its records counted; ``data`` must end at a record's end."""
        rows, odd = count_records(bytes(data))
        if odd:
            raise ValueError("a block of rows ends inside a quoted field; end its last record")
        return cls(data, rows)

    def __reduce__(self) -> Any:
        return (_counted, (bytes(self), self.rows, self.utf8))


def _counted(data: bytes, rows: int, utf8: bool) -> Rows:
    """A block whose records were counted here (or checked when it was made): not again."""
    block = bytes.__new__(Rows, data)
    block._rows = rows
    block._utf8 = utf8
    return block


def count_records(data: bytes) -> tuple[int, bool]:
    r"""How many newlines of ``data`` end a record, and whether it ends inside quotes.

    Done in a few passes in C: only quotes and newlines are kept, doubled
    quotes (which change no parity) are dropped, and the newlines outside
    quotes are counted.

    >>> count_records(b'a,"x\n""y""z"\nb\n')
    (2, False)
    >>> count_records(b'a,"open\n')
    (0, True)
    """
    if b'"' not in data:
        return data.count(b"\n"), False
    marks = data.translate(None, _OTHERS).replace(b'""', b"")
    if b'"' not in marks:
        return len(marks), False
    pieces = marks.split(b'"')
    return sum(map(len, pieces[::2])), len(pieces) % 2 == 0


def last_end(data: bytes) -> int:
    r"""The offset just past the last record end in ``data`` (0 when there is none).

    A few passes in C, linear in ``data``: only quotes and newlines are
    kept, doubled quotes dropped, and the rest split at the quotes; the
    pieces at even places are outside quotes, and the last of them that
    holds a newline holds the last record end.  The newlines after it say
    which newline of ``data`` that is, found by counting back from the end.

    >>> last_end(b'1\n2,"a\nb'), last_end(b'1,"a\nb'), last_end(b'1\n2\n3')
    (2, 0, 4)
    """
    if b'"' not in data:
        return data.rfind(b"\n") + 1
    pieces = data.translate(None, _OTHERS).replace(b'""', b"").split(b'"')
    last = bytes(map(bool, pieces[::2])).rfind(1)  # the last piece outside quotes with a newline
    if last < 0:
        return 0
    after = sum(map(len, pieces[2 * last + 1 :]))  # the newlines after the record end
    return _newline_from_end(data, after + 1) + 1


_STRIDE = 1 << 20


def _newline_from_end(data: bytes, n: int) -> int:
    r"""The offset of ``data``'s ``n``-th newline counted from its end (``n`` >= 1; -1 if none).

    Counted a stride at a time, so only the stride that holds it is split.

    >>> [_newline_from_end(b"a\nb\nc", n) for n in (1, 2, 3)]
    [3, 1, -1]
    """
    end = len(data)
    while end > 0:
        start = max(0, end - _STRIDE)
        found = data.count(b"\n", start, end)
        if found >= n:
            return start + len(data[start:end].rsplit(b"\n", n)[0])
        n -= found
        end = start
    return -1


def split_records(data: bytes) -> list[bytes]:
    r"""The records of ``data``, each with its newline (the last gets one if it lacks it).

    >>> split_records(b'h\n1,"x\n\ny"\n2\n')
    [b'h\n', b'1,"x\n\ny"\n', b'2\n']
    """
    lines = data.split(b"\n")
    tail = lines.pop()
    records: list[bytes] = []
    pending: list[bytes] = []
    odd = False
    for line in lines:
        if line.count(b'"') % 2:
            odd = not odd
        pending.append(line)
        if not odd:
            records.append(b"\n".join(pending) + b"\n")
            pending.clear()
    if tail:
        pending.append(tail)
    if pending:
        records.append(b"\n".join(pending) + b"\n")
    return records


def first_record(data: bytes) -> int:
    """The offset just past ``data``'s first record (``len(data)`` when it has one only)."""
    start = 0
    odd = False
    while (end := data.find(b"\n", start)) >= 0:
        odd ^= data.count(b'"', start, end) % 2 == 1
        if not odd:
            return end + 1
        start = end + 1
    return len(data)


def record_blocks(
    chunks: Iterable[bytes | bytearray | memoryview],
    size: int = BLOCK,
    utf8: bool = False,
    *,
    max_record: int = MAX_RECORD,
) -> Iterator[Rows]:
    r"""Join buffers cut anywhere (COPY messages, file reads) into ``Rows`` of about ``size`` bytes.

    Each block ends at the last record end seen; the rest is carried into the
    next.  A last record without its newline gets one.  Input that ends
    inside quotes, or a record still open past ``max_record`` bytes, is
    refused with ``ValueError`` naming where that record starts: a quote was
    never closed, and the rest of the input would be one record.

    >>> [bytes(b) for b in record_blocks([b'h\n1,"a', b'\nb"\n2', b"\n3"], size=4)]
    [b'h\n', b'1,"a\nb"\n', b'2\n', b'3\n']
    >>> list(record_blocks([b'h\n1,a"b\n2\n']))
    Traceback (most recent call last):
    ...
    ValueError: the CSV ends inside a quoted field: the record at byte 2 never closes its quotes (a stray '"'?)
    """  # noqa: E501
    pending: list[bytes | bytearray | memoryview] = []
    have = 0
    need = size
    start = 0  # where the carried record starts in the input
    for chunk in chunks:
        pending.append(chunk)
        have += len(chunk)
        if have < need:
            continue
        data = b"".join(pending)
        pending.clear()
        block, rest = _whole(data, utf8)
        if block:
            yield block
            start += len(block)
        if rest:
            pending.append(rest)
        have = len(rest)
        _bound(have, start, max_record)
        # A record longer than a block: look again once it has doubled, or passed the bound.
        need = size if block else min(max(size, 2 * have), max_record + 1)
    data = b"".join(pending)
    block, rest = _whole(data, utf8)
    if block:
        yield block
        start += len(block)
    _bound(len(rest), start, max_record)
    if rest:  # the last record, its newline missing
        if count_records(rest)[1]:
            raise ValueError(
                f"the CSV ends inside a quoted field: the record at byte {start} never"
                " closes its quotes (a stray '\"'?)"
            )
        yield _counted(rest if rest.endswith(b"\n") else rest + b"\n", 1, utf8)


def _bound(size: int, start: int, max_record: int) -> None:
    if size > max_record:
        raise ValueError(
            f"the record at byte {start} is still open after {max_record:,} bytes (a stray '\"'?)"
        )


def _whole(data: bytes, utf8: bool) -> tuple[Rows | None, bytes]:
    """The whole records at the start of ``data`` as a block, and the rest."""
    rows, odd = count_records(data)
    if not odd and data.endswith(b"\n"):
        return (_counted(data, rows, utf8) if data else None), b""
    end = last_end(data)
    if not end:
        return None, data
    block = data[:end]
    return _counted(block, count_records(block)[0], utf8), data[end:]
