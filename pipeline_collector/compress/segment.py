"""The parallel part writer: one raw deflate segment, compressed on several threads.

Each block handed over is compressed on its own by a fresh deflater, primed
with the 32 KiB that precede it and ended by a sync flush, so the blocks of
one part are compressed on several cores at once and still splice into one
raw deflate segment (as pigz does) at the ratio of a single stream.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import IO

from ..errors import CollectorError
from ..protocols import Compressor
from .backends import ZlibCompressor, deflate_bound
from .crc import crc32, crc32_combine

__all__ = ["SegmentWriter"]


class SegmentWriter:
    """One part file, compressed on worker threads as data arrives.

    Each block handed over is compressed on its own by a fresh deflater, primed
    with the 32 KiB that precede it and ended by a sync flush, so blocks of one
    part are compressed on several cores at once and still splice into one raw
    deflate segment (as pigz does) at the ratio of a single stream.  Blocks are
    written in order; at most ``workers + AHEAD`` are in flight, so memory stays flat.
    """

    WINDOW = 1 << 15  # deflate's history: what primes the next block
    AHEAD = 1  # blocks that may wait beyond one per worker: enough to keep them busy
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
        self._jobs: queue.SimpleQueue[tuple[int, bytes, bytes, bool] | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(n + self.AHEAD)
        self._cond = threading.Condition()
        self._ready: dict[int, tuple[int, int, tuple[bytes, bytes]]] = {}
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

    def _compress(self, data: bytes, zdict: bytes, utf8: bool) -> tuple[bytes, bytes]:
        """The block's deflate output and its sync flush, kept apart (one copy less)."""
        if not utf8 and not data.isascii():
            # CSV must be UTF-8.  The check holds the GIL (the main thread
            # waits for it), so text the pipeline encoded itself skips it.
            data.decode("utf-8")
        comp = self._compressor
        if zdict and isinstance(comp, ZlibCompressor):
            deflater = comp.deflater(zdict)
        else:
            deflater = comp.deflater()
        return deflater.compress(data), comp.sync_flush(deflater)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            seq, data, zdict, utf8 = job
            out = (b"", b"")
            crc = 0
            try:
                if self.error is None:
                    out = self._compress(data, zdict, utf8)
                    # Here, beside the compression (the GIL is released for it),
                    # not in order under the lock: combining crcs costs nothing.
                    crc = crc32(data, 0)
            except BaseException as e:
                self.error = self.error or e
            finally:
                self._deliver(seq, len(data), crc, out)

    def _deliver(self, seq: int, size: int, crc: int, out: tuple[bytes, bytes]) -> None:
        """Write the blocks that are next in order, and combine their crcs in order."""
        with self._cond:
            self._ready[seq] = (size, crc, out)
            while self._written in self._ready:
                size, crc, out = self._ready.pop(self._written)
                if self.error is None:
                    try:
                        self._file.writelines(out)
                    except BaseException as e:
                        self.error = e
                    else:
                        self.crc = crc32_combine(self.crc, crc, size)
                        self._flushed_raw += size
                        self._flushed_out += len(out[0]) + len(out[1])
                self._pending -= deflate_bound(size)
                self._written += 1
                self._slots.release()
            self._cond.notify_all()

    def submit(self, data: bytes, utf8: bool = False) -> None:
        """Hand a block over; ``utf8``: known to be UTF-8 (encoded from ``str``), not checked."""
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
        self._jobs.put((self._sent, data, zdict, utf8))
        self._sent += 1

    def submit_all(self, pieces: list[bytes], utf8: bool = False) -> None:
        """Hand pieces over as one block."""
        self.submit(pieces[0] if len(pieces) == 1 else b"".join(pieces), utf8)

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

    def release(self) -> tuple[int, int, int, bytes]:
        """Stop here, the file written so far, for another writer to go on with.

        ``(raw_size, deflated_size, crc32, tail)``: the totals, and the last
        32 KiB handed over, which prime the next block.
        """
        raw, deflated, crc = self.close()
        return raw, deflated, crc, self._tail

    def abort(self) -> None:
        self.error = self.error or CollectorError("aborted")
        self._stop()
        self._file.close()
        self.path.unlink(missing_ok=True)
