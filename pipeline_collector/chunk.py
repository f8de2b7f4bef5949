"""Stage 4, chunk: cut collector output into size-limited parts, then pack them.

``cut`` streams CSV records into parts of at most ``limit`` bytes of
uncompressed CSV (bytes, not characters), cutting only between records, with
the header on top of every part.  Each part is compressed as it is written,
on worker threads, into a raw deflate segment (see ``compress``), so memory
stays flat whatever the table size and the part's exact compressed size is
known.  ``pack`` then places parts into archives by docs/contract.md, section 4.
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from .archive import archive_bound
from .collect import Collected, describe
from .compress import Compressor, ZlibCompressor, crc32, default_compressor, deflate_bound
from .errors import CollectorError
from .log import logger
from .records import Batch, Collection, Part, Status

__all__ = ["CHUNK", "csv_records", "cut", "document_part", "pack", "read_part", "split"]

CHUNK = 1 << 20  # bytes handed to the compressor at a time; also its flush interval

log = logger("chunk")


class _Segment:
    """One part file, compressed on worker threads as data arrives.

    Each block handed over is compressed on its own by a fresh deflater, primed
    with the 32 KiB that precede it and ended by a sync flush, so blocks of one
    part are compressed on several cores at once and still splice into one raw
    deflate segment (as pigz does) at the ratio of a single stream.  Blocks are
    written in order; at most ``workers + AHEAD`` are in flight, so memory stays flat.
    """

    WINDOW = 1 << 15  # deflate's history: what primes the next block
    AHEAD = 2  # blocks that may wait beyond one per worker
    # One worker per core, up to four: more cannot be fed by one producer.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(4, cores or 1))

    def __init__(self, path: Path, compressor: Compressor, workers: int | None = None) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.path = path
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self._compressor = compressor
        self._primed = isinstance(compressor, ZlibCompressor)
        n = workers or self.workers
        self._jobs: queue.SimpleQueue[tuple[int, bytes, bytes] | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(n + self.AHEAD)
        self._cond = threading.Condition()
        self._ready: dict[int, tuple[bytes, tuple[bytes, bytes]]] = {}
        self._sent = 0  # blocks handed over
        self._written = 0  # blocks written, in order
        self._tail = b""
        self.submitted = 0  # raw bytes handed over
        self._pending = 0  # deflate bound of the blocks handed over and not yet written
        self._flushed_raw = 0  # raw bytes whose output is written
        self._flushed_out = 0  # compressed bytes written
        self.crc = 0
        self.error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"deflate-{path.name}-{i}", daemon=True)
            for i in range(n)
        ]
        for t in self._threads:
            t.start()

    def _compress(self, data: bytes, zdict: bytes) -> tuple[bytes, bytes]:
        if not data.isascii():
            data.decode("utf-8")  # CSV must be UTF-8; checked where it is cheap
        comp = self._compressor
        if zdict and isinstance(comp, ZlibCompressor):
            deflater = comp.deflater(zdict)
        else:
            deflater = comp.deflater()
        # Kept apart, not joined: one copy less while holding the GIL.
        return deflater.compress(data), comp.sync_flush(deflater)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            seq, data, zdict = job
            out = (b"", b"")
            try:
                if self.error is None:
                    out = self._compress(data, zdict)
            except BaseException as e:
                self.error = self.error or e
            finally:
                self._deliver(seq, data, out)

    def _deliver(self, seq: int, data: bytes, out: tuple[bytes, bytes]) -> None:
        """Write the blocks that are next in order; the crc runs in order too."""
        with self._cond:
            self._ready[seq] = (data, out)
            while self._written in self._ready:
                data, out = self._ready.pop(self._written)
                if self.error is None:
                    try:
                        self._file.writelines(out)
                    except BaseException as e:
                        self.error = e
                    else:
                        self.crc = crc32(data, self.crc)
                        self._flushed_raw += len(data)
                        self._flushed_out += len(out[0]) + len(out[1])
                self._pending -= deflate_bound(len(data))
                self._written += 1
                self._slots.release()
            self._cond.notify_all()

    def submit(self, data: bytes) -> None:
        if self.error is not None:
            raise self._failure()
        zdict = b""
        if self._primed:
            zdict = self._tail
            window = self.WINDOW
            self._tail = data[-window:] if len(data) >= window else (zdict + data)[-window:]
        self._slots.acquire()
        with self._cond:
            self.submitted += len(data)
            self._pending += deflate_bound(len(data))
        self._jobs.put((self._sent, data, zdict))
        self._sent += 1

    def bound(self, extra: int) -> int:
        """An upper bound of the compressed size if ``extra`` more bytes came in one block."""
        with self._cond:
            return self._flushed_out + self._pending + deflate_bound(extra)

    def settle(self) -> None:
        """Wait until everything handed over is written, so ``bound`` is exact."""
        with self._cond:
            self._cond.wait_for(lambda: self._written == self._sent)
        if self.error is not None:
            raise self._failure()

    def _failure(self) -> Exception:
        e = self.error
        if isinstance(e, UnicodeDecodeError):
            return CollectorError(
                f"output is not valid UTF-8 ({e.reason} in part {self.path.name})"
            )
        return CollectorError(f"could not write part {self.path.name}: {e}")

    def _stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join()

    def close(self) -> tuple[int, int, int]:
        """Finish the segment; return ``(raw_size, deflated_size, crc32)``."""
        self._stop()
        self._file.close()
        if self.error is not None:
            raise self._failure()
        return self._flushed_raw, self._flushed_out, self.crc

    def abort(self) -> None:
        self.error = self.error or CollectorError("aborted")
        self._stop()
        self._file.close()
        self.path.unlink(missing_ok=True)


def _record(value: Any, key: str, n: int) -> bytes:
    if type(value) is bytes:
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise CollectorError(
            f"collector {key!r} yielded {type(value).__name__} as record {n}; expected bytes or str"
        )
    return data if data.endswith(b"\n") else data + b"\n"


def cut(
    records: Iterable[bytes | str],
    *,
    key: str,
    directory: Path,
    limit: int,
    max_deflated: int | None = None,
    seq: int = 0,
    compressor: Compressor | None = None,
    stem: str | None = None,
) -> Iterator[Part]:
    """Cut CSV records (header first) into parts; yield each part when done.

    A part holds at most ``limit`` bytes, header included, unless a single
    record alone exceeds it (that part is marked ``oversized``).  A part is
    also closed before its compressed size could pass ``max_deflated``.
    Header-only or empty output yields no part.  Parts are files in
    ``directory`` named ``<stem>-<n>.part``; read one back with ``read_part``.
    """
    if limit <= 0:
        raise ValueError(f"limit must be positive, not {limit}")
    comp = compressor or default_compressor()
    ceiling = max_deflated if max_deflated is not None else sys.maxsize
    stem = stem or f"{key}-{seq}"
    it = iter(records)
    first = next(it, None)
    if first is None:
        return
    header = _record(first, key, 0)
    hlen = len(header)
    index = 0
    segment: _Segment | None = None
    used = rows = buffered = 0
    buf: list[bytes] = []

    def start() -> _Segment:
        seg = _Segment(directory / f"{stem}-{index}.part", comp)
        seg.submit(header)
        return seg

    def fit(seg: _Segment, size: int) -> int:
        """The largest step (``CHUNK`` halved) after which ``size`` more bytes still fit, or 0."""
        step = CHUNK
        while seg.bound(step + size) > ceiling:
            if step <= CHUNK >> 6:
                return 0
            step >>= 1  # close to the ceiling: look more often
        return step

    def finish(seg: _Segment) -> Part:
        if buf:
            seg.submit(b"".join(buf))
            buf.clear()
        raw, deflated, crc = seg.close()
        part = Part(
            key=key,
            seq=seq,
            index=index,
            filename=f"{key}.csv",
            path=seg.path,
            raw_size=raw,
            deflated_size=deflated,
            crc32=crc,
            rows=rows,
            oversized=raw > limit,
        )
        if part.oversized:
            log.warning("record.oversized", key=key, part=index, bytes=raw, limit=limit)
        if deflated > ceiling:
            seg.path.unlink(missing_ok=True)
            raise CollectorError(
                f"collector {key!r}: a single record of {raw - hlen} bytes compresses to"
                f" {deflated} bytes, more than one upload may carry ({ceiling})"
            )
        return part

    try:
        n = 0
        step = CHUNK  # raw bytes gathered before the next look at the compressed size
        room = mark = 0  # bytes that may come before a decision is due; room at the last one
        first_row = 1  # number of the current part's first record
        append = buf.append
        for n, value in enumerate(it, 1):
            data = value if type(value) is bytes and value[-1:] == b"\n" else _record(value, key, n)
            size = len(data)
            if size > room:  # the part's limit or the next look is near: decide
                used += mark - room
                buffered += mark - room
                if segment is not None:
                    if used + size > limit:
                        rows = n - first_row
                        yield finish(segment)
                        segment, index = None, index + 1
                    elif buffered + size > step:
                        segment.submit(b"".join(buf))
                        buf.clear()
                        buffered = 0
                        step = CHUNK
                        # Up to ``step`` more bytes and this record arrive before the next look.
                        if segment.bound(step + size) > ceiling:
                            segment.settle()  # the loose bound says maybe: ask exactly
                            step = fit(segment, size)
                            if not step:
                                rows = n - first_row
                                yield finish(segment)
                                segment, index = None, index + 1
                if segment is None:
                    segment = start()
                    used, buffered, first_row = hlen, 0, n
                    step = fit(segment, size) or CHUNK >> 6  # a low ceiling: look often
                room = mark = min(limit - used, step - buffered)
            room -= size
            append(data)
        if segment is not None:
            rows = n - first_row + 1
            yield finish(segment)
            segment = None
    finally:
        if segment is not None:
            segment.abort()
        buf.clear()


def document_part(
    data: bytes,
    *,
    key: str,
    filename: str,
    directory: Path,
    seq: int = 0,
    compressor: Compressor | None = None,
) -> Part:
    """Store a whole JSON document as a single part."""
    comp = compressor or default_compressor()
    path = directory / f"{key}-{seq}.part"
    deflater = comp.deflater()
    out = deflater.compress(data) + comp.sync_flush(deflater)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(out)
    return Part(
        key=key,
        seq=seq,
        index=0,
        filename=filename,
        path=path,
        raw_size=len(data),
        deflated_size=len(out),
        crc32=crc32(data, 0),
    )


def read_part(part: Part) -> bytes:
    """Decompress a part back to its content (for checks and tests)."""
    d = zlib.decompressobj(-15)
    data = d.decompress(part.path.read_bytes()) + d.flush()
    if len(data) != part.raw_size or crc32(data, 0) != part.crc32:
        raise ValueError(f"part {part.path.name} does not match its record")
    return data


def csv_records(lines: Iterable[bytes]) -> Iterator[bytes]:
    r"""Join lines into whole CSV records: a newline inside quotes does not end one.

    >>> list(csv_records([b'a,b\n', b'1,"x\n', b'y"\n', b'2,z\n']))
    [b'a,b\n', b'1,"x\ny"\n', b'2,z\n']
    """
    pending: list[bytes] = []
    quotes = 0
    for line in lines:
        quotes += line.count(b'"')
        if quotes % 2:
            pending.append(line)
            continue
        if pending:
            pending.append(line)
            yield b"".join(pending)
            pending.clear()
        else:
            yield line
        quotes = 0
    if pending:
        yield b"".join(pending)


def _file_records(path: Path, key: str) -> Iterator[bytes]:
    if not path.is_file():
        raise CollectorError(f"collector {key!r} returned {path}, which is not a file")
    if path.stat().st_size == 0:
        raise CollectorError(f"collector {key!r} wrote {path.name} with no CSV header")
    with path.open("rb") as f:
        yield from csv_records(f)


def split(
    collected: Collected,
    *,
    directory: Path,
    max_data_size: int,
    max_deflated: int | None = None,
    compressor: Compressor | None = None,
) -> Collection:
    """Cut what was collected into parts and report the collection.

    Records are pulled through here, so a generator's failure surfaces here
    and is recorded for its task; parts of a failed collection are removed.
    """
    task = collected.task
    key = task.key
    parts: list[Part] = []
    error = collected.error
    try:
        if error is None and collected.document is not None:
            parts.append(
                document_part(
                    collected.document,
                    key=key,
                    filename=task.collector.filename,
                    directory=directory,
                    seq=task.seq,
                    compressor=compressor,
                )
            )
        elif error is None:
            sources: list[Iterable[Any]] = (
                [collected.records]
                if collected.records is not None
                else [_file_records(p, key) for p in collected.files]
            )
            for n, records in enumerate(sources):
                parts.extend(
                    cut(
                        records,
                        key=key,
                        directory=directory,
                        limit=max_data_size,
                        max_deflated=max_deflated,
                        seq=task.seq,
                        compressor=compressor,
                        stem=f"{key}-{task.seq}-{n}",
                    )
                )
    except Exception as e:
        error = describe(key, e)
    finally:
        shutil.rmtree(collected.full_path, ignore_errors=True)
    elapsed = time.perf_counter() - collected.started
    if error is not None:
        for p in parts:
            p.path.unlink(missing_ok=True)
        log.error("collection.failed", key=key, window=str(task.window), error=error)
        return Collection(
            task=task,
            status="failed",
            started_at=collected.started_at,
            elapsed=elapsed,
            error=error,
        )
    parts = [p for p in parts if p.rows or task.collector.format == "json"]
    rows = sum(p.rows for p in parts)
    size = sum(p.raw_size for p in parts)
    status: Status = "ok" if parts else "empty"
    log.info(
        "collection.done",
        key=key,
        window=str(task.window),
        status=status,
        rows=rows,
        bytes=size,
        parts=len(parts),
        seconds=round(elapsed, 3),
    )
    return Collection(
        task=task,
        status=status,
        started_at=collected.started_at,
        elapsed=elapsed,
        rows=rows,
        bytes=size,
        parts=tuple(parts),
    )


# --- packing -------------------------------------------------------------


@attrs.define
class _Bin:
    number: int
    group: str
    parts: list[Part] = attrs.Factory(list)
    collections: list[Collection] = attrs.Factory(list)

    @property
    def raw(self) -> int:
        return sum(p.raw_size for p in self.parts)

    def batch(self) -> Batch:
        return Batch(
            group=self.group,
            number=self.number,
            parts=tuple(self.parts),
            collections=tuple(self.collections),
        )


def pack(
    collections: Iterable[Collection],
    *,
    max_data_size: int,
    max_upload_size: int,
    config: Part,
    config_version: str = "1.0",
) -> Iterator[Batch]:
    """Place parts into archives and yield each batch when it is closed.

    A part goes into the first open batch of its shipping group that has room
    (``max_data_size`` of uncompressed data, config excluded, and an exact
    bound of the compressed archive within ``max_upload_size``) and does not
    already hold its key; else a new batch opens.  A sliced collector's
    batches close as soon as its window is placed; the rest close at the end,
    in the order they were opened.  A failed collection leaves a status row.
    """
    open_bins: list[_Bin] = []
    count = 0

    def fits(b: _Bin, part: Part, c: Collection) -> bool:
        if part.key in {p.key for p in b.parts}:
            return False
        if b.parts and b.raw + part.raw_size > max_data_size:
            return False
        cols = b.collections if c in b.collections else [*b.collections, c]
        bound = archive_bound([*b.parts, part], cols, config, config_version)
        return bound <= max_upload_size

    def new_bin(group: str) -> _Bin:
        nonlocal count
        b = _Bin(number=count, group=group)
        count += 1
        open_bins.append(b)
        return b

    for c in collections:
        group = c.task.collector.shipping_group
        touched: list[_Bin] = []
        for part in c.parts:
            target = next(
                (b for b in open_bins if b.group == group and fits(b, part, c)), None
            ) or new_bin(group)
            target.parts.append(part)
            if c not in target.collections:
                target.collections.append(c)
            if target not in touched:
                touched.append(target)
        if not c.parts and c.status == "failed":
            target = next((b for b in open_bins if b.group == group), None) or new_bin(group)
            target.collections.append(c)
            touched.append(target)
        if c.task.collector.sliced and c.parts:
            for b in sorted(touched, key=lambda b: b.number):
                open_bins.remove(b)
                yield b.batch()
    for b in open_bins:
        yield b.batch()
    open_bins.clear()
