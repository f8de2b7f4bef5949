"""The compressor process: a cut's blocks deflated on every core, away from the producer's GIL.

``process`` starts it as ``python -I -S worker.py MODULE LEVEL THREADS [PATH]``
and talks to it through two pipes: orders and blocks come in on stdin, one
fixed-size report per written block goes out on stdout.  It imports only the
standard library and the deflate backend, so it starts in a few tens of
milliseconds and stays small.

Each block is deflated on its own by one of ``THREADS`` threads (primed with
the 32 KiB that precede it, ended by a sync flush) and blocks are written to
the part file in order, so the file is byte for byte the one ``SegmentWriter``
writes.  The process never creates a file: the parent creates each part and
this process appends to it.  The parts the cut finished on threads before
this process was ready are named to it too (``ADOPT``).

It cleans up after itself: when the parent dies (stdin ends before ``QUIT``,
or the parent process id changes) the cut's part files are removed and it
exits; SIGTERM removes the part being written and, if the parent dies within
a second too (a whole process group stopped), the others as well.  SIGINT is
left to the parent, which ends this process as it unwinds.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import os
import queue
import select
import signal
import struct
import sys
import threading
import time
import zlib
from typing import Any, NoReturn

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
UTF8_STEP = 1 << 16  # bytes checked as UTF-8 at a time: no whole-block copy as text
POLL = 1.0  # seconds between looks at whether the parent still lives, when idle


# a block compressed: raw size, crc32, the data (while a crc is still to be taken of
# it), the output and sync flush (None: it failed), and (what failed, why)
Done = tuple[int, int, Any, tuple[bytes, bytes] | None, tuple[int, str]]


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
        self.cond = threading.Condition()


class Worker:
    """Reads orders on stdin, deflates on threads, writes parts, reports on stdout."""

    def __init__(self, module: Any, level: int, threads: int) -> None:
        self.module, self.level = module, level
        self.combine = getattr(module, "crc32_combine", None)
        self.crc32 = getattr(module, "crc32", zlib.crc32)
        self.parent = os.getppid()
        self.made: list[bytes] = []  # part files appended to: removed if the parent dies
        self.part: Part | None = None
        self.jobs: queue.SimpleQueue[tuple[Part, int, bytearray, bytes, bool]] = queue.SimpleQueue()
        # A block read ahead beyond one per thread; the pipe holds the rest.
        self.slots = threading.Semaphore(threads + 1)
        self.say_lock = threading.Lock()
        for i in range(threads):
            threading.Thread(target=self.work, name=f"deflate-{i}", daemon=True).start()

    # --- the parent's side of the pipes ----------------------------------

    def read(self, n: int, idle: bool = False) -> bytearray | None:
        """Exactly ``n`` bytes of stdin, or None at its end (the parent is gone)."""
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            if idle:
                while not select.select([0], [], [], POLL)[0]:
                    if os.getppid() != self.parent:
                        return None
            k = os.readv(0, [view[got:]])
            if k == 0:
                return None
            got += k
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
            head = self.read(ORDER.size, idle=True)
            if head is None:
                self.gone()
            kind, flag, number, size = ORDER.unpack(head)
            if kind == BLOCK:
                self.slots.acquire()  # no free thread: the pipe fills and the parent waits
                data = self.read(size)
                if data is None:
                    self.gone()
                self.block(data, bool(flag))
            elif kind == OPEN:
                payload = self.read(size)
                if payload is None:
                    self.gone()
                self.open(number, payload)
            elif kind == CLOSE:
                self.close()
            elif kind == ADOPT:  # a part the cut finished before this process was ready
                path = self.read(size)
                if path is None:
                    self.gone()
                self.made.append(bytes(path))
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

    def block(self, data: bytearray, utf8: bool) -> None:
        part = self.part
        if part is None:
            raise ValueError("a block came before any part was opened")
        zdict = part.tail
        if len(data) >= WINDOW:
            part.tail = bytes(memoryview(data)[-WINDOW:])
        else:
            part.tail = (zdict + data)[-WINDOW:]
        self.jobs.put((part, part.sent, data, zdict, utf8))
        part.sent += 1

    def close(self) -> None:
        part = self.part
        if part is None:
            raise ValueError("CLOSE came before any part was opened")
        with part.cond:
            part.cond.wait_for(lambda: part.written == part.sent)
        if part.fd >= 0:
            os.close(part.fd)
        self.part = None
        self.say(CLOSED, part)

    # --- the threads -----------------------------------------------------

    def work(self) -> None:
        module, level = self.module, self.level
        while True:
            part, seq, data, zdict, utf8 = self.jobs.get()
            out: tuple[bytes, bytes] | None = None
            crc, error = 0, (OTHER, "no output")
            if not part.failed:
                try:
                    if not utf8 and not data.isascii():
                        check_utf8(data)
                    if zdict:
                        d = module.compressobj(level, module.DEFLATED, -15, zdict=zdict)
                    else:
                        d = module.compressobj(level, module.DEFLATED, -15)
                    out = (d.compress(data), d.flush(zlib.Z_SYNC_FLUSH))
                    if self.combine is not None:
                        crc = self.crc32(data)
                except UnicodeDecodeError as e:
                    error = (BAD_UTF8, e.reason)
                except Exception as e:  # reported to the parent, which fails the part
                    error = (OTHER, f"{type(e).__name__}: {e}")
            self.deliver(part, seq, (len(data), crc, data, out, error))
            self.slots.release()

    def deliver(
        self,
        part: Part,
        seq: int,
        done: Done,
    ) -> None:
        """Write the blocks next in order; report each."""
        with part.cond:
            part.ready[seq] = done
            while part.written in part.ready:
                size, crc, data, out, error = part.ready.pop(part.written)
                part.written += 1
                if part.failed:
                    continue
                if out is None:
                    self.fail(part, *error)
                    continue
                try:
                    write_all(part.fd, out[0])
                    write_all(part.fd, out[1])
                except OSError as e:
                    self.fail(part, OS_ERROR, e.strerror or str(e))
                    continue
                if self.combine is not None:
                    part.crc = self.combine(part.crc, crc, size) & 0xFFFFFFFF
                else:
                    part.crc = self.crc32(data, part.crc)
                part.raw += size
                part.out += len(out[0]) + len(out[1])
                self.say(DONE, part)
            part.cond.notify_all()

    # --- ends ------------------------------------------------------------

    def gone(self) -> NoReturn:
        """The parent died: what it was writing is nobody's now."""
        for path in self.made:
            with contextlib.suppress(OSError):
                os.unlink(path)
        os._exit(1)

    def terminated(self, signum: int, frame: Any) -> None:
        """SIGTERM: drop the part being written; if the parent dies as well, all of them."""
        if self.part is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.part.path)
        os.close(1)  # the parent sees this process end
        deadline = time.monotonic() + POLL
        while time.monotonic() < deadline:
            if os.getppid() != self.parent:
                self.gone()
            readable = select.select([0], [], [], max(0.0, deadline - time.monotonic()))[0]
            if readable and not os.read(0, 1 << 16):
                self.gone()
        os._exit(1)


def send(data: bytes) -> None:
    """Write to the parent; a parent gone (a broken pipe) is seen on stdin instead."""
    with contextlib.suppress(OSError):
        write_all(1, data)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def check_utf8(data: bytearray) -> None:
    """Raise ``UnicodeDecodeError`` unless ``data`` is UTF-8; no whole copy as text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for i in range(0, len(view), UTF8_STEP):
        decoder.decode(view[i : i + UTF8_STEP])
    decoder.decode(b"", final=True)


def main(argv: list[str]) -> None:
    name, level, threads, *paths = argv
    sys.path[:0] = paths
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and ends this process
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        text = f"cannot import {name}: {e}".encode("utf-8", "replace")
        send(REPORT.pack(FAILED, OTHER, 0, 0, 0, len(text)) + text)
        os._exit(2)
    worker = Worker(module, int(level), int(threads))
    signal.signal(signal.SIGTERM, worker.terminated)
    worker.run()


if __name__ == "__main__":
    main(sys.argv[1:])
