"""The compressor process: a cut's blocks deflated on every core, away from the producer's GIL.

``child`` starts it as ``python -I -S -c BOOT .../worker.py MODULE LEVEL THREADS
[PATH]`` (``BOOT`` imports this module and calls ``main``) and talks to it
through two pipes: orders and blocks come in on stdin, one
fixed-size report per written block goes out on stdout.  It imports only
modules written in C beside the deflate backend (``_thread``, ``_queue``,
``_signal``, no ``threading`` or ``typing``, whose imports cost more memory
than the work does), so it starts in a few tens of milliseconds and small.

Each block is read into one of ``THREADS`` buffers, used again and again,
and deflated on its own by one of ``THREADS`` threads (primed with the 32 KiB
that precede it, ended by a sync flush; threads past the first run at a
lower priority, ``HELPER_NICE``); blocks are written to the part file
in order, so the file is byte for byte the one ``SegmentWriter`` writes.  The
process never creates a file: the parent creates each part and this process
appends to it.  The parts the cut finished on threads before this process was
ready are named to it too (``ADOPT``).

It cleans up after itself: when the parent dies (stdin ends before ``QUIT``,
or the parent process id changes) the cut's part files are removed and it
exits; SIGTERM removes the part being written and, if the parent dies within
a second too (a whole process group stopped), the others as well.  SIGINT is
left to the parent, which ends this process as it unwinds.
"""

from __future__ import annotations

import _thread
import codecs
import os
import select
import struct
import sys
import time
from _queue import SimpleQueue

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: it costs this process 2 MiB
    from typing import Any, NoReturn

    # raw size, crc32, the block's buffer (while its crc is still to be taken), the
    # output and its sync flush (None: it failed), and (what failed, why)
    Done = tuple[int, int, bytearray | None, tuple[bytes, bytes] | None, tuple[int, str]]

_signal: Any = __import__("_signal")  # not ``signal``, which imports enum

# parent -> child: kind, flag, part, bytes that follow
ORDER = struct.Struct("<BBxxIQ")
# child -> parent: kind, code, part, crc32, raw bytes, compressed bytes (totals of the part)
REPORT = struct.Struct("<BBxxIIxxxxQQ")
# what follows an OPEN order: the part's totals so far, the length of its tail, then the
# tail (the last 32 KiB written) and the path
START = struct.Struct("<QQII")

OPEN, BLOCK, CLOSE, QUIT, ADOPT = 1, 2, 3, 4, 5  # orders
READY, DONE, CLOSED, FAILED = 1, 2, 3, 4  # reports; FAILED is followed by its message
BAD_UTF8, OS_ERROR, OTHER = 1, 2, 3  # what failed

WINDOW = 1 << 15  # deflate's history: what primes the next block
BUFFER = 1 << 19  # a block's buffer; a larger block grows the one it is read into
UTF8_STEP = 1 << 16  # bytes checked as UTF-8 at a time: no whole-block copy as text
POLL = 1.0  # seconds between looks at whether the parent still lives, when idle
# The threads past the first run this much nicer (Linux sets it per thread).  While
# the producer runs, the first thread and the producer share the two cores and a
# helper takes what they leave; when the producer waits for a full pipe, the
# helpers get its core.  At equal priority the producer got two thirds of a core
# whenever all three ran, and then left the compressor without blocks: on the
# per-row workload CPU/wall 1.72-1.78 became 1.80-1.86, wall 1.41-1.60x the
# producer's 1.32-1.40x.  The first thread keeps the host's priority: on a busy
# host the compressor still gets its share of a core.
HELPER_NICE = 10


class Part:
    """The part being written: its file, the blocks in flight, its totals."""

    def __init__(self, number: int, path: bytes, fd: int, head: tuple[int, int, int]) -> None:
        self.number, self.path, self.fd = number, path, fd
        self.raw, self.out, self.crc = head
        self.tail = b""
        self.sent = 0  # blocks handed to the threads
        self.written = 0  # blocks written, in order
        self.ready: dict[int, Done] = {}
        self.failed = False
        self.lock = _thread.allocate_lock()  # the order of writes, and the counts
        self.closing: SimpleQueue[None] | None = None  # told when the last block is written


class Worker:
    """Reads orders on stdin, deflates on threads, writes parts, reports on stdout."""

    def __init__(self, module: Any, level: int, threads: int) -> None:
        self.module, self.level = module, level
        self.combine = getattr(module, "crc32_combine", None)
        self.crc32 = module.crc32
        self.sync = module.Z_SYNC_FLUSH  # not zlib's: its library need not be loaded
        self.parent = os.getppid()
        self.made: list[bytes] = []  # the cut's part files: removed if the parent dies
        self.part: Part | None = None
        self.jobs: SimpleQueue[tuple[Part, int, bytearray, int, bytes, bool]] = SimpleQueue()
        # The free buffers, one per thread; the next blocks wait in the pipe (1 MiB, kernel
        # memory).  A buffer more, read ahead, made no difference to the time (1 GiB of the
        # per-row workload, 3 alternating quiet runs each) for 0.5 MiB more RSS.
        self.free: SimpleQueue[bytearray] = SimpleQueue()
        for _ in range(threads):
            self.free.put(bytearray(BUFFER))
        self.say_lock = _thread.allocate_lock()
        for i in range(threads):
            _thread.start_new_thread(self.work, (i,))

    # --- the parent's side of the pipes ----------------------------------

    def read_into(self, buf: bytearray, n: int, idle: bool = False) -> bool:
        """Fill ``buf[:n]`` from stdin; False at its end (the parent is gone)."""
        view = memoryview(buf)
        got = 0
        while got < n:
            if idle:
                while not select.select([0], [], [], POLL)[0]:
                    if os.getppid() != self.parent:
                        return False
            k = os.readv(0, [view[got:n]])
            if k == 0:
                return False
            got += k
        return True

    def read(self, n: int, idle: bool = False) -> bytearray:
        """Exactly ``n`` bytes of stdin; at its end, the parent is gone."""
        buf = bytearray(n)
        if not self.read_into(buf, n, idle):
            self.gone()
        return buf

    def say(self, kind: int, part: Part | None) -> None:
        """Report on ``part``: its number and totals."""
        fields = (part.number, part.crc, part.raw, part.out) if part else (0, 0, 0, 0)
        record = REPORT.pack(kind, 0, *fields)
        with self.say_lock:
            send(record)

    def fail(self, part: Part, code: int, message: str) -> None:
        """Report that ``part`` failed, and why; its later blocks are skipped."""
        part.failed = True
        text = message.encode("utf-8", "replace")
        with self.say_lock:
            send(REPORT.pack(FAILED, code, part.number, 0, 0, len(text)) + text)

    # --- the orders ------------------------------------------------------

    def run(self) -> NoReturn:
        self.say(READY, None)
        while True:
            kind, flag, number, size = ORDER.unpack(self.read(ORDER.size, idle=True))
            if kind == BLOCK:
                buf = self.free.get()  # none free: the pipe fills and the parent waits
                if len(buf) < size:
                    buf = bytearray(size)  # a record larger than a block
                if not self.read_into(buf, size):
                    self.gone()
                self.block(buf, size, bool(flag))
            elif kind == OPEN:
                self.open(number, self.read(size))
            elif kind == CLOSE:
                self.close()
            elif kind == ADOPT:  # a part the cut finished before this process was ready
                self.made.append(bytes(self.read(size)))
            elif kind == QUIT:
                os._exit(0)
            else:
                raise ValueError(f"unknown order {kind}")

    def open(self, number: int, payload: bytearray) -> None:
        raw, out, crc, taken = START.unpack_from(payload)
        tail = bytes(payload[START.size : START.size + taken])
        path = bytes(payload[START.size + taken :])
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as e:
            fd = -1
            error: str | None = e.strerror or str(e)
        else:
            error = None
            self.made.append(path)
        part = Part(number, path, fd, (raw, out, crc & 0xFFFFFFFF))
        part.tail = tail
        self.part = part
        if error is not None:
            self.fail(part, OS_ERROR, error)

    def block(self, buf: bytearray, size: int, utf8: bool) -> None:
        part = self.part
        if part is None:
            raise ValueError("a block came before any part was opened")
        zdict = part.tail
        if size >= WINDOW:
            part.tail = bytes(memoryview(buf)[size - WINDOW : size])
        else:
            part.tail = (zdict + buf[:size])[-WINDOW:]
        self.jobs.put((part, part.sent, buf, size, zdict, utf8))
        part.sent += 1

    def close(self) -> None:
        part = self.part
        if part is None:
            raise ValueError("CLOSE came before any part was opened")
        told: SimpleQueue[None] = SimpleQueue()
        with part.lock:
            done = part.written == part.sent
            if not done:
                part.closing = told
        if not done:
            told.get()
        if part.fd >= 0:
            os.close(part.fd)
        self.part = None
        self.say(CLOSED, part)

    # --- the threads -----------------------------------------------------

    def work(self, index: int) -> None:
        if index:
            as_helper()
        module, level = self.module, self.level
        while True:
            part, seq, buf, size, zdict, utf8 = self.jobs.get()
            out: tuple[bytes, bytes] | None = None
            crc, error = 0, (OTHER, "no output")
            if not part.failed:
                data = memoryview(buf)[:size]  # buffers are never resized: no release needed
                try:
                    if not utf8:
                        check_utf8(data)
                    if zdict:
                        d = module.compressobj(level, module.DEFLATED, -15, zdict=zdict)
                    else:
                        d = module.compressobj(level, module.DEFLATED, -15)
                    out = (d.compress(data), d.flush(self.sync))
                    if self.combine is not None:
                        crc = self.crc32(data)
                except UnicodeDecodeError as e:
                    error = (BAD_UTF8, e.reason)
                except Exception as e:  # reported to the parent, which fails the part
                    error = (OTHER, f"{type(e).__name__}: {e}")
            kept: bytearray | None = buf
            if self.combine is not None:
                # Free at once, not when written in order: a block done before the
                # one ahead of it would keep its buffer from the next block to read.
                self.recycle(buf)
                kept = None
            self.deliver(part, seq, (size, crc, kept, out, error))

    def recycle(self, buf: bytearray) -> None:
        """A buffer for the next block; one grown for a large record is dropped."""
        self.free.put(buf if len(buf) == BUFFER else bytearray(BUFFER))

    def deliver(self, part: Part, seq: int, done: Done) -> None:
        """Write the blocks next in order and report each; their buffers are free again."""
        with part.lock:
            part.ready[seq] = done
            while part.written in part.ready:
                size, crc, buf, out, error = part.ready.pop(part.written)
                part.written += 1
                if not part.failed:
                    self.write(part, size, crc, buf, out, error)
                if buf is not None:
                    self.recycle(buf)
            if part.closing is not None and part.written == part.sent:
                part.closing.put(None)
                part.closing = None

    def write(
        self,
        part: Part,
        size: int,
        crc: int,
        buf: bytearray | None,
        out: tuple[bytes, bytes] | None,
        error: tuple[int, str],
    ) -> None:
        """Append one block's output to its part and count it (under the part's lock)."""
        if out is None:
            self.fail(part, *error)
            return
        try:
            write_all(part.fd, out[0])
            write_all(part.fd, out[1])
        except OSError as e:
            self.fail(part, OS_ERROR, e.strerror or str(e))
            return
        if self.combine is not None:
            part.crc = self.combine(part.crc, crc, size) & 0xFFFFFFFF
        else:  # zlib alone has no crc32_combine: the crc is taken in order, here
            assert buf is not None
            part.crc = self.crc32(memoryview(buf)[:size], part.crc)
        part.raw += size
        part.out += len(out[0]) + len(out[1])
        self.say(DONE, part)

    # --- ends ------------------------------------------------------------

    def gone(self) -> NoReturn:
        """The parent died: what it was writing is nobody's now."""
        for path in self.made:
            unlink(path)
        os._exit(1)

    def terminated(self, signum: int, frame: Any) -> None:
        """SIGTERM: drop the part being written; if the parent dies as well, all of them."""
        if self.part is not None:
            unlink(self.part.path)
        os.close(1)  # the parent sees this process end
        deadline = time.monotonic() + POLL
        while time.monotonic() < deadline:
            if os.getppid() != self.parent:
                self.gone()
            readable = select.select([0], [], [], max(0.0, deadline - time.monotonic()))[0]
            if readable and not os.read(0, 1 << 16):
                self.gone()
        os._exit(1)


def as_helper() -> None:
    """This thread at ``HELPER_NICE``; off Linux, where a thread id is no process id to
    ``setpriority``, as it was."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, _thread.get_native_id(), HELPER_NICE)
    except OSError:
        return


def unlink(path: bytes) -> None:
    try:
        os.unlink(path)
    except OSError:
        return


def send(data: bytes) -> None:
    """Write to the parent; a parent gone (a broken pipe) is seen on stdin instead."""
    try:
        write_all(1, data)
    except OSError:
        return


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def check_utf8(data: memoryview) -> None:
    """Raise ``UnicodeDecodeError`` unless ``data`` is UTF-8; no whole copy as text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for i in range(0, len(data), UTF8_STEP):
        decoder.decode(data[i : i + UTF8_STEP])
    decoder.decode(b"", final=True)


def main(argv: list[str]) -> None:
    name, level, threads, *paths = argv
    sys.path[:0] = paths
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # the parent decides, and ends this process
    try:
        module = __import__(name, fromlist=["compressobj"])
    except ImportError as e:
        text = f"cannot import {name}: {e}".encode("utf-8", "replace")
        send(REPORT.pack(FAILED, OTHER, 0, 0, 0, len(text)) + text)
        os._exit(2)
    worker = Worker(module, int(level), int(threads))
    _signal.signal(_signal.SIGTERM, worker.terminated)
    worker.run()


if __name__ == "__main__":
    main(sys.argv[1:])
