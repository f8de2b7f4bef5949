"""The state of one ``cut``: the open part, its unsent records, when to look next.

Kept apart from the chunk stage so that stage reads as the loop it is: take
records from the producer, hand them here.  Records come in batches (lists
of whole records, placed by bisecting their running lengths) or in blocks
(``Rows``, placed whole unless a part must end inside them).
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..compress import Compression, PartWriter
from ..errors import CollectorError
from ..log import logger
from ..protocols import Compressor
from ..records import Part
from .rows import Rows, split_records

__all__ = ["CHUNK", "LOOK", "TARGET", "Cutter", "whole_records"]

# Bytes handed to the compressor at a time, and its flush interval.  512 KiB
# blocks (and one waiting block per part writer) keep 5 MiB less peak
# RSS than 1 MiB (and two) at the same wall and CPU time; 4 MiB blocks saved
# 1.5% of the wall time for 15 MiB more (benchmarks/README.md).
CHUNK = 1 << 19
LOOK = 1 << 14  # the smallest step between looks at the compressed size, near the ceiling
TARGET = 1 << 18  # bytes of records taken from the producer at a time

log = logger("chunk")


class Cutter:
    """One ``cut`` under way: the open part, its unsent records, when to look next.

    Records arrive in batches (a list of records) or in blocks (``Rows``);
    a batch is placed by bisecting its running lengths, and a block whole,
    unless a part must end inside it: only then is it split into records.
    """

    def __init__(
        self,
        *,
        key: str,
        directory: Path,
        limit: int,
        ceiling: int,
        compressor: Compressor,
        seq: int,
        stem: str,
        header: bytes,
    ) -> None:
        self.key, self.directory, self.limit, self.ceiling = key, directory, limit, ceiling
        self.compressor, self.seq, self.stem, self.header = compressor, seq, stem, header
        # Where the parts are compressed: a process of the cut's own, or threads.
        self.compression = Compression(compressor, key=key)
        self.segment: PartWriter | None = None
        self.index = 0
        self.used = self.buffered = self.rows = 0  # bytes in the part, bytes unsent, records
        self.step = CHUNK  # unsent bytes allowed before the next look at the compressed size
        self.buf: list[bytes] = []
        self.utf8 = True  # the buffer holds only text encoded here, from str
        self.done: list[Part] = []

    def start(self, size: int) -> PartWriter:
        seg = self.compression.writer(self.directory / f"{self.stem}-{self.index}.part")
        seg.submit(self.header)
        self.segment, self.used, self.buffered, self.rows = seg, len(self.header), 0, 0
        self.step = self.fit(seg, size) or LOOK  # a low ceiling: look often
        return seg

    def fit(self, seg: PartWriter, size: int) -> int:
        """The largest step (``CHUNK`` halved) after which ``size`` more bytes still fit, or 0."""
        step = CHUNK
        while seg.bound(step + size) > self.ceiling:
            if step <= LOOK:
                return 0
            step >>= 1  # close to the ceiling: look more often
        return step

    def flush(self, seg: PartWriter) -> None:
        if self.buf:
            seg.submit_all(self.buf, self.utf8)  # joined only where a writer needs one bytes
            self.buf = []
        self.utf8 = True
        self.buffered = 0

    def look(self, seg: PartWriter, size: int) -> bool:
        """Send what is buffered; whether a step and then ``size`` more bytes still fit."""
        self.flush(seg)
        self.step = CHUNK
        if seg.bound(CHUNK + size) > self.ceiling:
            seg.settle()  # the loose bound says maybe: ask exactly
            self.step = self.fit(seg, size)
        return self.step > 0

    def decide(self, size: int) -> PartWriter:
        """Make room for a record of ``size`` bytes: a look, a new part, or both."""
        seg = self.segment
        if seg is not None and self.rows:
            if self.used + size > self.limit or (
                self.buffered + size > self.step and not self.look(seg, size)
            ):
                self.finish(seg)
                seg = None
        elif seg is not None:  # no record yet: this one goes in whatever its size
            self.step = self.fit(seg, size) or LOOK
        return seg or self.start(size)

    def records(self, batch: list[bytes], total: int, utf8: bool = False) -> None:
        """Place a batch of records (each ending with a newline), ``total`` bytes in all.

        ``utf8``: encoded here from ``str``, so known to be UTF-8.
        """
        self.utf8 = self.utf8 and utf8
        seg = self.segment
        if seg is not None and total <= min(self.limit - self.used, self.step - self.buffered):
            self.buf.extend(batch)
            self.used += total
            self.buffered += total
            self.rows += len(batch)
            return
        ends = list(accumulate(map(len, batch)))
        pos, base, n = 0, 0, len(batch)
        while pos < n:
            if seg is not None:
                room = min(self.limit - self.used, self.step - self.buffered)
                j = bisect_right(ends, base + room, pos)
                if j > pos:
                    taken = ends[j - 1] - base
                    self.buf.extend(batch[pos:j])
                    self.used += taken
                    self.buffered += taken
                    self.rows += j - pos
                    pos, base = j, ends[j - 1]
                    if pos == n:
                        return
            size = ends[pos] - base
            seg = self.decide(size)
            self.utf8 = self.utf8 and utf8  # a look may have sent the buffer
            self.buf.append(batch[pos])
            self.used += size
            self.buffered += size
            self.rows += 1
            pos, base = pos + 1, ends[pos]

    def block(self, data: Rows) -> None:
        """Place a block of whole records: whole, unless a part must end inside it."""
        size = len(data)
        if not size:
            return
        seg = self.segment or self.start(size)
        if size > self.limit - self.used or (
            size > self.step - self.buffered and not self.look(seg, size)
        ):
            records = split_records(data)
            self.records(records, size, data.utf8)
            return
        self.buf.append(data)
        self.utf8 = self.utf8 and data.utf8
        self.used += size
        self.buffered += size
        self.rows += data.rows

    def finish(self, seg: PartWriter) -> None:
        try:
            self.flush(seg)
            raw, deflated, crc = seg.close()
        except BaseException:
            seg.abort()  # no part file left behind
            raise
        finally:
            self.segment = None
        key, limit = self.key, self.limit
        part = Part(
            key=key,
            seq=self.seq,
            index=self.index,
            filename=f"{key}.csv",
            path=seg.path,
            raw_size=raw,
            deflated_size=deflated,
            crc32=crc,
            rows=self.rows,
            oversized=raw > limit,
            header=self.header,
        )
        self.index += 1
        if part.oversized:
            log.warning("record.oversized", key=key, part=part.index, bytes=raw, limit=limit)
        if deflated > self.ceiling:
            seg.path.unlink(missing_ok=True)
            raise CollectorError(
                f"collector {key!r}: a single record of {raw - len(self.header)} bytes"
                f" compresses to {deflated} bytes, more than one upload may carry"
                f" ({self.ceiling})"
            )
        self.done.append(part)

    def abort(self) -> None:
        """End the cut: remove an unfinished part, end the compressor process."""
        try:
            if self.segment is not None:
                self.segment.abort()
                self.segment = None
        finally:
            self.compression.close()
            self.buf.clear()


def whole_records(batch: list[Any]) -> tuple[list[bytes], int, bool] | None:
    """The batch as records with their total size, when it holds only whole records.

    Checked in C (types, last bytes): what takes the per-row work out of Python.
    """
    kinds = set(map(type, batch))
    utf8 = kinds == _STR
    if utf8:
        batch = list(map(str.encode, batch))
    elif kinds != _BYTES:
        return None
    if b"".join(map(_LAST, batch)).count(b"\n") != len(batch):
        return None
    return batch, sum(map(len, batch)), utf8


_STR, _BYTES = {str}, {bytes}
_LAST = itemgetter(slice(-1, None))
