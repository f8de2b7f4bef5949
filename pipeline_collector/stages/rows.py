r"""Blocks of whole CSV records: many rows handed over as one ``bytes``.

A CSV collector may yield ``Rows`` instead of one record at a time: the
chunk stage then takes a block in one step and looks inside it only where a
part must end, so the Python work per row disappears.  ``copy_rows`` yields
them, and so does reading a CSV file.

A newline inside a quoted field does not end a record (PostgreSQL's CSV
COPY quotes such fields), so record ends are found by quote parity: a
newline ends a record when an even number of ``"`` precede it since the
block began (a doubled ``""`` inside a field counts twice, so it changes
nothing).

>>> block = Rows.of(b'1,"a\nb"\n2,x\n')
>>> block.rows, bytes(block)
(2, b'1,"a\nb"\n2,x\n')
>>> split_records(block)
[b'1,"a\nb"\n', b'2,x\n']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["BLOCK", "Rows", "count_records", "first_record", "record_blocks", "split_records"]

BLOCK = 1 << 18  # bytes joined into one block: a quarter of a compressor block

_QUOTE, _NL = ord('"'), ord("\n")
# Every byte but the quote and the newline, for ``bytes.translate`` to delete.
_OTHERS = bytes(b for b in range(256) if b not in (_QUOTE, _NL))


class Rows(bytes):
    """Whole CSV records joined (``rows`` of them), ending in a newline outside quotes.

    A ``bytes``, so whoever reads the items as bytes still can.  Make one with
    ``Rows(data, rows)`` when the count is known, or ``Rows.of(data)``;
    ``utf8=True`` says the bytes are known to be UTF-8 (a PostgreSQL server
    sending in a UTF-8 client encoding validates them), so the deflate workers
    skip their check, which holds the GIL.
    """

    rows: int
    utf8: bool

    def __new__(cls, data: bytes | bytearray | memoryview, rows: int, utf8: bool = False) -> Rows:
        self = super().__new__(cls, data)
        if rows < 0 or (rows > 0) != bool(self):
            raise ValueError(f"a block of {len(self)} bytes cannot hold {rows} rows")
        if self and not self.endswith(b"\n"):
            raise ValueError("a block of rows must end with a newline; end its last record")
        self.rows = rows
        self.utf8 = utf8  # vouched for by the producer: the UTF-8 check is skipped
        return self

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> Rows:
        """The block of ``data``, its records counted; ``data`` must end at a record's end."""
        rows, odd = count_records(bytes(data))
        if odd:
            raise ValueError("a block of rows ends inside a quoted field; end its last record")
        return cls(data, rows)

    def __reduce__(self) -> Any:
        return (Rows, (bytes(self), self.rows, self.utf8))


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


def _last_end(data: bytes) -> int:
    """The offset just past the last record end in ``data`` (0 when there is none)."""
    odd = count_records(data)[1]
    end = len(data)
    while (end := data.rfind(b"\n", 0, end)) >= 0:
        # The quotes after this newline have the parity of all quotes when
        # those before it are even: then it ends a record.
        if (data.count(b'"', end + 1) % 2 == 1) == odd:
            return end + 1
    return 0


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
    chunks: Iterable[bytes | bytearray | memoryview], size: int = BLOCK, utf8: bool = False
) -> Iterator[Rows]:
    r"""Join buffers cut anywhere (COPY messages, file reads) into ``Rows`` of about ``size`` bytes.

    Each block ends at the last record end seen; the rest is carried into the
    next.  A last record without its newline gets one.

    >>> [bytes(b) for b in record_blocks([b'h\n1,"a', b'\nb"\n2', b"\n3"], size=4)]
    [b'h\n', b'1,"a\nb"\n', b'2\n', b'3\n']
    """
    pending: list[bytes | bytearray | memoryview] = []
    have = 0
    need = size
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
        if rest:
            pending.append(rest)
        have = len(rest)
        # A record longer than a block: look again only once it has doubled.
        need = size if block else max(size, 2 * have)
    data = b"".join(pending)
    block, rest = _whole(data, utf8)
    if block:
        yield block
    if rest:  # the last record, its newline missing or its quotes unclosed
        yield Rows(rest if rest.endswith(b"\n") else rest + b"\n", 1, utf8)


def _whole(data: bytes, utf8: bool) -> tuple[Rows | None, bytes]:
    """The whole records at the start of ``data`` as a block, and the rest."""
    rows, odd = count_records(data)
    if not odd and data.endswith(b"\n"):
        return (Rows(data, rows, utf8) if data else None), b""
    end = _last_end(data)
    if not end:
        return None, data
    block = data[:end]
    return Rows(block, count_records(block)[0], utf8), data[end:]
