"""Hostile HTTP peers on 127.0.0.1, over real sockets.

``Peer`` accepts connections, reads each request (headers and, unless told
not to, the body its ``Content-Length`` announces) and hands the socket to an
``answer`` function, which writes what a hostile server would.  It counts the
bytes the socket accepted, so a test can assert how much of an answer the
client let in without timing anything.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from pipeline_collector.records import Archive, Batch

__all__ = [
    "MIB",
    "Peer",
    "echo",
    "file_archive",
    "gzip_of_zeros",
    "huge",
    "silent",
    "status_then",
    "trickle",
]

MIB = 1 << 20
STOP_AFTER = 30.0  # no answer function runs longer: a broken client fails, never hangs

_CREDENTIAL_HEADERS = {b"authorization", b"x-rh-identity", b"x-api-key"}

Answer = Callable[["Peer", socket.socket, bytes], None]
"""Writes an answer on the socket, given the request as read."""


class Peer:
    """A threaded TCP server whose every connection gets ``answer``."""

    def __init__(
        self, answer: Answer, *, read_body: bool = True, tls: ssl.SSLContext | None = None
    ) -> None:
        self.answer = answer
        self.read_body = read_body
        self.tls = tls
        self.sent = 0  # bytes of answers the sockets accepted, all connections together
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}/up"

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_AFTER + 5)
        self._server.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def send(self, conn: socket.socket, data: bytes) -> None:
        """Write ``data``, counting what the socket accepted; ``OSError`` once the client left."""
        view = memoryview(data)
        while view:
            n = conn.send(view)
            with self._lock:
                self.sent += n
            view = view[n:]

    def _serve(self) -> None:
        workers = []
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(timeout=STOP_AFTER + 5)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(STOP_AFTER)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                request = self._read_request(conn)
                with self._lock:
                    self.requests.append(request)
                self.answer(self, conn, request)
            except OSError:
                pass  # the client went away: what the test wants to see

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while self.read_body and len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body


def status_then(status: int, body: bytes, *, headers: dict[str, str] | None = None) -> Answer:
    """An ordinary answer: ``status`` with ``body`` (and ``headers``)."""

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"HTTP/1.1 {status} Whatever\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        peer.send(conn, head.encode() + body)

    return answer


def trickle(
    status: int = 202,
    *,
    every: float = 0.2,
    count: int | None = None,
    chunked: bool = False,
    in_headers: bool = False,
) -> Answer:
    """``status``, then one byte every ``every`` seconds: ``count`` bytes, or until stopped.

    ``chunked`` sends the body as one-byte chunks; ``in_headers`` trickles a
    header line instead, so that the answer's headers never end.
    """

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        total = count if count is not None else 1 << 30
        if in_headers:
            peer.send(conn, f"HTTP/1.1 {status} Accepted\r\nX-Slow: ".encode())
        elif chunked:
            peer.send(
                conn, f"HTTP/1.1 {status} Accepted\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
        else:
            peer.send(
                conn, f"HTTP/1.1 {status} Accepted\r\nContent-Length: {total}\r\n\r\n".encode()
            )
        ends = time.monotonic() + STOP_AFTER
        for _ in range(total):
            if peer.stopped or time.monotonic() > ends:
                return
            time.sleep(every)
            peer.send(conn, b"1\r\na\r\n" if chunked else b"a")
        if chunked:
            peer.send(conn, b"0\r\n\r\n")
        elif in_headers:
            peer.send(conn, b"\r\nContent-Length: 0\r\n\r\n")

    return answer


def echo(status: int = 400, *, where: str = "body") -> Answer:
    """``status``, quoting back the whole request it was sent, as careless servers do.

    ``where`` is ``body`` (the request as is), ``json`` (inside a JSON error,
    escaped as JSON), ``lower`` (the body with its percent-escapes and base64
    in lower case), ``reason`` (the request's headers in the reason phrase) or
    ``location`` (a redirect whose path quotes the request's form body).
    """

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        head, _, form = request.partition(b"\r\n\r\n")
        reason = "Refused"
        headers = ""
        # What carries a credential first, as the excerpts quoted are short.
        lines = head.split(b"\r\n")
        first = [x for x in lines if x.split(b":")[0].lower() in _CREDENTIAL_HEADERS]
        if b"x-www-form-urlencoded" in head.lower():
            first.append(form)
        body = b"\r\n".join(first + [x for x in lines if x not in first])
        if where == "json":
            text = body.decode("latin-1")  # header values go out as latin-1
            body = json.dumps({"error": "invalid_client", "request": text}).encode()
        elif where == "lower":
            body = body.lower()
        elif where == "reason":
            reason = " ".join(head.decode("latin-1").split("\r\n")[1:])
        elif where == "location":
            headers = f"Location: /echo/{form.decode('latin-1')}\r\n"
        line = f"HTTP/1.1 {status} {reason}\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
        peer.send(conn, line.encode("latin-1") + body)

    return answer


def silent() -> Answer:
    """No answer at all: the connection is held open, unread, until the peer stops."""

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        ends = time.monotonic() + STOP_AFTER
        while not peer.stopped and time.monotonic() < ends:
            time.sleep(0.05)

    return answer


def huge(
    status: int, size: int, *, prefix: bytes = b"", headers: dict[str, str] | None = None
) -> Answer:
    """``status`` and a body of ``size`` bytes (``prefix``, then zeros), written as fast as taken."""

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        peer.send(conn, f"HTTP/1.1 {status} Big\r\nContent-Length: {size}\r\n{extra}\r\n".encode())
        peer.send(conn, prefix)
        block = bytes(MIB)
        left = size - len(prefix)
        while left > 0 and not peer.stopped:
            peer.send(conn, block[: min(left, MIB)])
            left -= MIB

    return answer


def gzip_of_zeros(size: int) -> bytes:
    """A gzip stream that inflates to ``size`` zero bytes (a few hundred KB for 256 MiB)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MIB)
    out = [deflater.compress(block) for _ in range(size // MIB)]
    out.append(deflater.flush())
    return b"".join(out)


def file_archive(path: Path) -> Archive:
    """An Archive record for ``path`` (enough for a transport to send it)."""
    data = path.read_bytes()
    return Archive(
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        members=(),
        batch=Batch(group="default", number=0),
        until=datetime(2026, 11, 1, tzinfo=timezone.utc),
    )
