"""The compressor process of one cut, seen from the process that cuts: start, feed, end.

Blocks go to the process (``worker.py``) through a pipe, one ``writev`` each:
the producer's thread takes no lock and wakes no thread, so it never waits
for an interpreter lock another thread holds.  Reports come back on a second
pipe, read without blocking when the cutter looks at the compressed size.
The pipe is the queue: when the process has a block for each of its threads,
it stops reading, the pipe fills, and the producer waits in ``writev`` with
the GIL released.

The process is ended on every path: an orderly ``QUIT`` when the cut is
done, a kill when it fails, a finalizer if a cut is dropped unfinished, and
at interpreter exit; a process forked from this one forgets it (the fork
does not hold its pipe open).  If this process is killed, the worker sees
its stdin end and removes the part files it wrote.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

from ..errors import CollectorError
from . import worker
from .worker import ORDER, REPORT

__all__ = ["WORKER", "Child", "Report"]

WORKER = Path(worker.__file__)
# The worker imported, not run as a script: a script is compiled at every start
# (1 MiB more peak RSS and 10 ms), a module comes from its cached bytecode.
BOOT = (
    "import sys; folder, _, name = sys.argv[1].rpartition('/'); sys.path.insert(0, folder);"
    " __import__(name.removesuffix('.py')).main(sys.argv[2:])"
)
PIPE_SIZE = 1 << 20  # blocks that wait in the pipe: kernel memory, not the processes' RSS
END_WAIT = 10.0  # seconds an ended process may take to exit before it is killed
try:
    IOV_MAX = os.sysconf("SC_IOV_MAX")  # pieces one writev takes: 1024 on Linux
except (AttributeError, ValueError, OSError):
    IOV_MAX = 16  # the least POSIX allows

# kind, code, part, crc32, raw bytes, compressed bytes, message
Report = tuple[int, int, int, int, int, int, bytes]

_LIVE: weakref.WeakSet[Child] = weakref.WeakSet()


def _close(fds: list[int]) -> None:
    for i, fd in enumerate(fds):
        if fd >= 0:
            fds[i] = -1
            with contextlib.suppress(OSError):
                os.close(fd)


def _reap(proc: subprocess.Popen[bytes], fds: list[int], owner: int) -> None:
    """End the process and close its pipes; only in the process that started it.

    Killed before its stdin ends: a worker that saw its stdin end first would
    take it for this process's death and remove the parts already finished.
    """
    if os.getpid() != owner:
        return
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
    _close(fds)


def _forget_all() -> None:
    """In a forked child: let go of the parent's compressor processes without touching them."""
    for child in list(_LIVE):
        child.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all)


def ended(returncode: int | None) -> str:
    """How a process ended, in words."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class Child:
    """One compressor process and its two pipes."""

    def __init__(self, module: str, level: int, threads: int, paths: list[str]) -> None:
        cmd = [sys.executable, "-I", "-S", "-c", BOOT, str(WORKER), module, str(level)]
        cmd += [str(threads), *paths]
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        fcntl_grow(w_in)
        # One malloc arena for its threads: 0.4 MiB less peak RSS, no measurable time.
        env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and program
                cmd, stdin=r_in, stdout=w_out, stderr=subprocess.DEVNULL, close_fds=True, env=env
            )
        except BaseException:
            _close([r_in, w_in, r_out, w_out])
            raise
        _close([r_in, w_out])
        os.set_blocking(r_out, False)
        self.fds = [w_in, r_out]
        self.ready = False
        self.broken = False  # an order went out torn, or the process ended: send no more
        self.pending = bytearray()
        self.owner = os.getpid()
        self.finalizer = weakref.finalize(self, _reap, self.proc, self.fds, self.owner)
        _LIVE.add(self)

    # --- orders ----------------------------------------------------------

    def send(self, kind: int, flag: int, part: int, *payload: bytes) -> None:
        """One order and what follows it, in as few ``writev`` as ``IOV_MAX`` allows.

        The GIL is released as it waits; the pieces (a block's rows, say) go as
        they are, no joined copy made.
        """
        if self.broken:
            raise CollectorError(f"the compressor process cannot take more ({self.status()})")
        pieces: list[bytes | memoryview] = [ORDER.pack(kind, flag, part, sum(map(len, payload)))]
        pieces += payload
        i, n, fd = 0, len(pieces), self.fds[0]
        try:
            while i < n:
                done = os.writev(fd, pieces[i : i + IOV_MAX])
                while done:
                    size = len(pieces[i])
                    if done < size:  # cut short (a signal): the rest of this piece next
                        pieces[i] = memoryview(pieces[i])[done:]
                        break
                    done -= size
                    i += 1
                while i < n and not pieces[i]:
                    i += 1
        except BrokenPipeError:
            self.broken = True
            raise self.lost() from None
        except BaseException:
            self.broken = True  # interrupted half way: the stream is torn
            raise

    # --- reports ---------------------------------------------------------

    def reports(self, block: bool) -> list[Report]:
        """The reports that have come; with ``block``, wait for at least one."""
        fd = self.fds[1]
        while True:
            eof = False
            while True:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    break
                if not chunk:
                    eof = True
                    break
                self.pending += chunk
            out = self._parse()
            if out or not block:
                if eof and not out:
                    raise self.lost()
                return out
            if eof:
                raise self.lost()
            select.select([fd], [], [])

    def _parse(self) -> list[Report]:
        out: list[Report] = []
        buf, pos, size = self.pending, 0, REPORT.size
        while len(buf) - pos >= size:
            kind, code, part, crc, raw, count = REPORT.unpack_from(buf, pos)
            message = b""
            if kind == worker.FAILED:
                if len(buf) - pos - size < count:
                    break
                message = bytes(buf[pos + size : pos + size + count])
                pos += count
            pos += size
            if kind == worker.READY:
                self.ready = True
            else:
                out.append((kind, code, part, crc, raw, count, message))
        del buf[:pos]
        return out

    def poll_ready(self) -> bool:
        """Whether the process has said it is ready; never waits."""
        if not self.ready:
            for report in self.reports(block=False):
                kind, _, _, _, _, _, message = report
                if kind == worker.FAILED:
                    self.broken = True
                    why = message.decode(errors="replace")
                    raise CollectorError(f"the compressor process could not start: {why}")
        return self.ready

    # --- ends --------------------------------------------------------------

    def status(self) -> str:
        return ended(self.proc.poll())

    def lost(self) -> CollectorError:
        """The process ended before it was told to: reap it and say how it ended."""
        self.broken = True
        try:  # it closed its end: it is leaving, or stopping (SIGTERM) to see if we do
            code = self.proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # before its stdin ends: see ``_reap``
            code = self.proc.wait()
        _close(self.fds)
        self.finalizer.detach()
        return CollectorError(f"the compressor process ended unexpectedly ({ended(code)})")

    def end(self) -> None:
        """Tell the process to quit, and reap it; killed if it does not go in time."""
        if os.getpid() != self.owner:
            return
        if not self.broken and self.fds[0] >= 0:
            with contextlib.suppress(OSError, CollectorError):
                self.send(worker.QUIT, 0, 0)
        _close(self.fds)
        try:
            self.proc.wait(timeout=END_WAIT)
        except subprocess.TimeoutExpired:
            self.kill()
        self.finalizer.detach()

    def kill(self) -> None:
        """End the process now; its part in progress is left for the caller to remove."""
        self.broken = True
        self.finalizer()  # kills, reaps and closes the pipes, once

    def forget(self) -> None:
        """In a forked child: close the copies of the pipes; the process is the parent's."""
        self.finalizer.detach()
        self.broken = True
        _close(self.fds)


def fcntl_grow(fd: int) -> None:
    """A pipe of ``PIPE_SIZE`` where the system allows it (Linux); else its default."""
    try:
        import fcntl

        op: Any = getattr(fcntl, "F_SETPIPE_SZ", None)
        if op is not None:
            fcntl.fcntl(fd, op, PIPE_SIZE)
    except OSError:
        pass
