"""Where a cut's parts are compressed: a compressor process beside the producer, or threads.

Threads in the producer's process wait for its interpreter lock at every
block's start and end, and a Python producer holds that lock nearly all the
time, so they leave the second core mostly idle.  A compressor process
(``child``, ``worker``) has an interpreter of its own: the producer's thread
does one ``writev`` per block, and the compressed size comes back in reports.

A cut starts compressing in the producer's own thread, block by block; once
it has handed over ``START`` bytes it starts its process, and the part being
written moves over as soon as the process is ready (the process appends to
the same file, primed with the same 32 KiB).  Small cuts never start a
process nor a thread.  The part files are byte for byte the same either way.

Processes are not used (threads are, as before) where they are not allowed
or would not help: a daemonic process (a ``multiprocessing`` daemon, Celery's
prefork pool), ``PIPELINE_COLLECTOR_COMPRESSOR_PROCESS=0`` in the environment,
a compressor made with ``process=False``, a custom compressor, one core, a
``sys.executable`` that is not Python (an embedded interpreter), or a system
that is not POSIX.  A process that cannot start is logged and the cut goes
on without it: the part in progress in the producer's thread, the next ones
on threads.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from ..errors import CollectorError, ConfigurationError
from ..log import logger
from ..protocols import Compressor
from . import worker
from .backends import _BACKENDS, ZlibCompressor, deflate_bound
from .child import WORKER, Child
from .crc import crc32
from .segment import SegmentWriter

WINDOW = worker.WINDOW

__all__ = ["ENV", "START", "Compression", "PartWriter", "ProcessWriter", "refusal"]

ENV = "PIPELINE_COLLECTOR_COMPRESSOR_PROCESS"
START = 1 << 21  # bytes a cut hands over before it starts its process: small cuts never do
UNREAD = 1024  # blocks whose reports may wait unread (32 KiB of the 64 KiB report pipe)
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}

log = logger("chunk")


class PartWriter(Protocol):
    """Protocol: the writer of one part file, what ``Cutter`` drives."""

    path: Path

    def submit(self, data: bytes, utf8: bool = False) -> None: ...

    def submit_all(self, pieces: list[bytes], utf8: bool = False) -> None: ...

    def bound(self, extra: int) -> int: ...

    def settle(self) -> None: ...

    def close(self) -> tuple[int, int, int]: ...

    def abort(self) -> None: ...


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def daemonic() -> bool:
    """Whether this is a daemonic ``multiprocessing`` (or billiard: Celery) process.

    Such a process may not have children: its pool ends it without letting
    it clean up.  Only modules already imported are asked.
    """
    for name in ("multiprocessing.process", "billiard.process"):
        module = sys.modules.get(name)
        current = getattr(module, "current_process", None)
        if current is not None and getattr(current(), "daemon", False):
            return True
    return False


def refusal(compressor: Compressor) -> str | None:
    """Why this cut compresses on threads rather than in a process; None: a process it is."""
    return next(_refusals(compressor), None)


def _refusals(compressor: Compressor) -> Iterator[str]:
    """The reasons against a process, cheapest look first."""
    if not isinstance(compressor, ZlibCompressor):
        yield "a custom compressor runs where it was made"
    elif not compressor.process:
        yield "the compressor was made with process=False"
    raw = os.environ.get(ENV, "").strip().lower()
    if raw and raw not in _BOOLEANS:
        raise ConfigurationError(
            f"environment variable {ENV}: {raw!r} is not a boolean;"
            " write 1 or 0, true or false, yes or no"
        )
    if raw and not _BOOLEANS[raw]:
        yield f"{ENV} turns processes off"
    if os.name != "posix":
        yield "compressor processes are used on POSIX systems only"
    if daemonic():
        yield "a daemonic process may not start processes (a multiprocessing or Celery pool's)"
    if cores() < 2:
        yield "one core: a process would only add work"
    if not Path(sys.executable or "").name.lower().startswith(("python", "pypy")):
        yield f"sys.executable ({sys.executable!r}) is not a Python interpreter"
    if not WORKER.is_file():
        yield "the worker program is not a file (a zipped install)"


def _paths(module: str) -> list[str]:
    """Where the worker finds the backend module (it starts without site-packages)."""
    spec = importlib.util.find_spec(module.partition(".")[0])
    if spec is None or not spec.submodule_search_locations:
        return []  # a module of the standard library
    return [str(Path(p).parent) for p in spec.submodule_search_locations]


class Compression:
    """The compression of one cut: its process (when allowed and worth it) or threads."""

    def __init__(self, compressor: Compressor, *, key: str = "") -> None:
        self.compressor = compressor
        self.key = key
        self.why_not = refusal(compressor)
        if self.why_not is not None:
            log.debug("compressor.threads", key=key, reason=self.why_not)
        self.child: Child | None = None
        self.seen = 0  # bytes handed over in this cut
        self.parts = 0
        self.early: list[Path] = []  # parts finished before the process was ready

    def writer(self, path: Path) -> PartWriter:
        """The writer of the next part, created exclusively at ``path``."""
        self.parts += 1
        if self.why_not is not None:
            return SegmentWriter(path, self.compressor)
        return ProcessWriter(path, self, self.parts)

    def noted(self, size: int) -> Child | None:
        """``size`` more bytes handed over; the process once it is ready.

        Starts the process when the cut reaches ``START`` bytes.
        """
        self.seen += size
        if self.child is None:
            if self.seen < START or self.why_not is not None:
                return None
            self._start()
        return self.ready()

    def _start(self) -> None:
        comp = self.compressor
        assert isinstance(comp, ZlibCompressor)
        module = _BACKENDS[comp.name]
        threads = max(1, min(4, cores()))
        try:
            self.child = Child(module, comp.level, threads, _paths(module))
        except OSError as e:
            self._give_up(f"it could not start: {e.strerror or e}")

    def ready(self) -> Child | None:
        """The process if it has said it is ready; never waits."""
        child = self.child
        if child is None or self.why_not is not None:
            return None
        if child.ready:
            return child
        try:
            if child.poll_ready():
                # If this process dies, the worker removes these too.
                for path in self.early:
                    child.send(worker.ADOPT, 0, 0, os.fsencode(path))
                self.early.clear()
                return child
        except CollectorError as e:
            self._give_up(str(e))
        return None

    def _give_up(self, reason: str) -> None:
        log.warning("compressor.process_failed", key=self.key, reason=reason)
        self.why_not = reason
        if self.child is not None:
            self.child.kill()
            self.child = None

    def close(self) -> None:
        """End the process; every part must be closed or aborted first.

        A process that is not ready yet holds no file: it is killed rather
        than waited for.
        """
        if self.child is not None:
            if self.child.ready:
                self.child.end()
            else:
                self.child.kill()
            self.child = None

    def kill(self) -> None:
        """End the process now: a part failed, so the cut is over."""
        if self.child is not None:
            self.child.kill()
            self.child = None


def _create(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class InlineWriter:
    """One part compressed in the caller's thread, block by block: no thread, no process.

    What a part is written with until the cut's process is ready: the producer
    compresses for those few tens of milliseconds itself, which costs less
    memory than threads (no blocks queued, one deflater at a time).
    """

    def __init__(self, path: Path, compressor: ZlibCompressor) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._comp = compressor
        self._raw = self._out = self._crc = 0
        self._tail = b""

    def submit(self, data: bytes, utf8: bool = False) -> None:
        comp = self._comp
        try:
            if not utf8 and not data.isascii():
                worker.check_utf8(memoryview(data))
            deflater = comp.deflater(self._tail) if self._tail else comp.deflater()
            out = deflater.compress(data) + comp.sync_flush(deflater)
            worker.write_all(self._fd, out)
        except UnicodeDecodeError as e:
            raise CollectorError(
                f"output is not valid UTF-8 ({e.reason} in part {self.path.name})"
            ) from None
        except OSError as e:
            raise CollectorError(f"could not write part {self.path.name}: {e}") from None
        self._crc = crc32(data, self._crc)
        self._raw += len(data)
        self._out += len(out)
        n = len(data)
        self._tail = data[-WINDOW:] if n >= WINDOW else (self._tail + data)[-WINDOW:]

    def submit_all(self, pieces: list[bytes], utf8: bool = False) -> None:
        """Hand pieces over as one block."""
        self.submit(pieces[0] if len(pieces) == 1 else b"".join(pieces), utf8)

    def bound(self, extra: int) -> int:
        """The compressed size if ``extra`` more bytes came in one block, at worst; exact so far."""
        return self._out + deflate_bound(extra)

    def settle(self) -> None:
        """Everything handed over is written already."""

    def release(self) -> tuple[int, int, int, bytes]:
        """Stop here: ``(raw_size, deflated_size, crc32, tail)`` for the process to go on."""
        raw, out, crc = self.close()
        return raw, out, crc, self._tail

    def close(self) -> tuple[int, int, int]:
        """Finish the segment; return ``(raw_size, deflated_size, crc32)``."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        return self._raw, self._out, self._crc

    def abort(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class ProcessWriter:
    """One part, compressed in the cut's process; in this thread until the process is ready."""

    def __init__(self, path: Path, compression: Compression, number: int) -> None:
        self.path = path
        self.submitted = 0
        self._comp = compression
        self._number = number
        self._child: Child | None = None
        self._inline: InlineWriter | None = None
        child = compression.ready()
        if child is None:
            assert isinstance(compression.compressor, ZlibCompressor)
            self._inline = InlineWriter(path, compression.compressor)
        else:
            _create(path)
            self._attach(child, 0, 0, 0, b"")

    def _attach(self, child: Child, raw: int, out: int, crc: int, tail: bytes) -> None:
        """Hand the part to the process: it appends, primed with ``tail``."""
        self._raw, self._out, self._crc = raw, out, crc
        self._sent = self._done = 0
        self._bounds = [0]  # running deflate bound of the blocks sent to the process
        self._closed = False
        head = worker.START.pack(raw, out, crc, len(tail))
        child.send(worker.OPEN, 0, self._number, head, tail, os.fsencode(self.path))
        self._child = child

    def submit(self, data: bytes, utf8: bool = False) -> None:
        """Hand a block over; ``utf8``: known to be UTF-8 (encoded from ``str``), not checked."""
        self.submit_all([data], utf8)

    def submit_all(self, pieces: list[bytes], utf8: bool = False) -> None:
        """Hand pieces over as one block: to the process as they are, in one ``writev``."""
        size = sum(map(len, pieces))
        self.submitted += size
        inline = self._inline
        if inline is not None:
            inline.submit_all(pieces, utf8)
            child = self._comp.noted(size)
            if child is not None:
                self._inline = None
                self._attach(child, *inline.release())
            return
        assert self._child is not None
        self._bounds.append(self._bounds[-1] + deflate_bound(size))
        self._sent += 1
        self._child.send(worker.BLOCK, utf8, self._number, *pieces)
        if self._sent - self._done > UNREAD:
            self._drain(False)  # a caller that never asks the size: keep the reports moving

    def _drain(self, block: bool) -> None:
        assert self._child is not None
        for kind, code, number, crc, raw, out, message in self._child.reports(block):
            if number != self._number:
                continue
            if kind == worker.FAILED:
                raise self._failure(code, message.decode("utf-8", "replace"))
            if kind == worker.DONE:
                self._done += 1
            elif kind == worker.CLOSED:
                self._closed = True
            self._raw, self._out, self._crc = raw, out, crc

    def _failure(self, code: int, message: str) -> CollectorError:
        if code == worker.BAD_UTF8:
            return CollectorError(f"output is not valid UTF-8 ({message} in part {self.path.name})")
        return CollectorError(f"could not write part {self.path.name}: {message}")

    def bound(self, extra: int) -> int:
        """An upper bound of the compressed size if ``extra`` more bytes came in one block."""
        if self._inline is not None:
            return self._inline.bound(extra)
        if self._done < self._sent:
            self._drain(False)
        return self._out + self._bounds[-1] - self._bounds[self._done] + deflate_bound(extra)

    def settle(self) -> None:
        """Wait until everything handed over is written, so ``bound`` is exact."""
        if self._inline is not None:
            self._inline.settle()
            return
        while self._done < self._sent:
            self._drain(True)

    def close(self) -> tuple[int, int, int]:
        """Finish the segment; return ``(raw_size, deflated_size, crc32)``."""
        if self._inline is not None:
            done = self._inline.close()
            self._comp.early.append(self.path)
            return done
        assert self._child is not None
        self._child.send(worker.CLOSE, 0, self._number)
        while not self._closed:
            self._drain(True)
        if self._raw != self.submitted:
            raise CollectorError(
                f"could not write part {self.path.name}: {self._raw} of"
                f" {self.submitted} bytes were compressed"
            )
        return self._raw, self._out, self._crc

    def abort(self) -> None:
        """Stop and remove the part; the process goes with it (the cut is over)."""
        if self._inline is not None:
            self._inline.abort()
            return
        self._comp.kill()
        self.path.unlink(missing_ok=True)
