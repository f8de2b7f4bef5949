"""A local ingress that behaves like the cloud's, for tests, demos and benchmarks.

``IngressServer`` is a real HTTP(S) server on 127.0.0.1.  It accepts a
``multipart/form-data`` POST with one part named ``file`` (or ``upload``)
whose content type is ``application/vnd.redhat.<service>.<name>+tgz`` with a
known ``<service>``, streams the part to disk, and answers 202 with
``{"request_id": ..., "upload": ...}``.  Like the real one it refuses bodies
over its limit (413, checked before reading), unknown content types (415)
and missing credentials (401).  Failures can be scripted::

    with IngressServer(tmp_path) as server:
        server.script([Fail(503), Fail(429, retry_after=1), Drop(), Stall(2)])
        ...  # the next four uploads meet these, in order; later ones succeed

Run it from a shell with ``python -m pipeline_collector.ingress --help``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import email.parser
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.message import Message
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import IO, Any, Protocol
from urllib.parse import parse_qs, urlsplit

import attrs
import structlog
from attrs import field, frozen

__all__ = [
    "DEFAULT_SERVICES",
    "Drop",
    "Fail",
    "IngressServer",
    "Planned",
    "Redirect",
    "Request",
    "Stall",
    "Upload",
    "main",
]

DEFAULT_SERVICES = (
    "tower",
    "aap-event-driven-ansible",
    "automation-hub",
    "aap-billing-controller",
    "pinakes",
)
UPLOAD_PATH = "/api/ingress/v1/upload"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-rh-identity"})

_CONTENT_TYPE = re.compile(
    r"^application/vnd\.redhat\.(?P<service>[a-z0-9][a-z0-9-]*)\.(?P<name>[a-z0-9_-]+)\+tgz$",
    re.IGNORECASE,
)
_CHUNK = 256 * 1024
_MAX_PART_HEADERS = 16 * 1024
_MAX_FIELD = 64 * 1024
_MAX_FORM = 64 * 1024
_LINGER_FACTOR = 4
_FORM_OVERHEAD = 64 * 1024  # room for boundaries and part headers around the file

_log = structlog.get_logger("pipeline_collector.ingress", component="ingress")


# -- scripted answers --------------------------------------------------------


@frozen(kw_only=False)
class Fail:
    """Answer the next upload with ``status`` (after reading its body)."""

    status: int
    retry_after: float | str | None = field(default=None, kw_only=True)
    body: str | None = field(default=None, kw_only=True)


@frozen(kw_only=False)
class Drop:
    """Close the connection without an answer after ``after`` body bytes (all if None)."""

    after: int | None = 64 * 1024


@frozen(kw_only=False)
class Stall:
    """Handle the upload normally, but wait ``seconds`` before answering."""

    seconds: float


@frozen(kw_only=False)
class Redirect:
    """Answer with a redirect to ``location``."""

    location: str
    status: int = 307


Planned = Fail | Drop | Stall | Redirect


# -- what the server saw -------------------------------------------------------


@frozen(kw_only=True)
class Upload:
    """An accepted upload: where it was saved and who sent it (no secrets)."""

    request_id: str
    field: str
    filename: str
    content_type: str
    service: str
    size: int
    sha256: str
    path: Path
    headers: Mapping[str, str] = attrs.field(repr=False)
    auth: str | None = None
    principal: str | None = None
    client_cert: str | None = None


@frozen(kw_only=True)
class Request:
    """Any request the server saw, with the names (never values) of secret headers."""

    method: str
    path: str
    status: int | None
    headers: Mapping[str, str] = attrs.field(repr=False)
    secret_headers: frozenset[str] = frozenset()


class _Malformed(Exception):
    """The request body is not the multipart form it claims to be."""


# -- streaming multipart -----------------------------------------------------------


class _Readable(Protocol):
    """Protocol: a binary stream to read a request body from."""

    def read(self, size: int = -1, /) -> bytes: ...


class _BoundedReader:
    """Reads at most ``length`` bytes of a request body."""

    def __init__(self, rfile: _Readable, length: int) -> None:
        self._rfile = rfile
        self.remaining = length

    def read(self, size: int = _CHUNK) -> bytes:
        if self.remaining <= 0:
            return b""
        data = self._rfile.read(min(size, self.remaining))
        if not data:
            raise _Malformed("the body ended before its Content-Length")
        self.remaining -= len(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass


class _Sink:
    """Where one part's bytes go: a file on disk (hashed) or a small buffer."""

    def __init__(self, headers: Message, path: Path | None) -> None:
        self.headers = headers
        self.name = headers.get_param("name", header="content-disposition")
        self.filename = headers.get_filename()
        self.content_type = headers.get_content_type() if headers.get("content-type") else None
        self.path = path
        self.size = 0
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self._file: IO[bytes] | None = None
        if path is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray) -> None:
        if not data:
            return
        self.size += len(data)
        if self._file is not None:
            self.digest.update(data)
            self._file.write(data)
        elif self.size <= _MAX_FIELD:
            self.buffer += data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _Discard:
    def write(self, data: bytes | bytearray) -> None:
        pass

    def close(self) -> None:
        pass


def _read_multipart(
    body: _BoundedReader,
    boundary: bytes,
    open_part: Callable[[Message], _Sink | _Discard],
) -> None:
    """Split a multipart body into parts as it streams in, never holding a part in memory.

    Only ``len(delimiter)`` bytes are held back between reads, so a delimiter
    split across two reads is still found.
    """
    delimiter = b"\r\n--" + boundary
    keep = len(delimiter) - 1
    buf = bytearray(b"\r\n")  # the first delimiter has no CRLF before it
    sink: _Sink | _Discard = _Discard()  # the preamble

    def more() -> None:
        chunk = body.read()
        if not chunk:
            raise _Malformed("the body ended before the closing boundary")
        buf.extend(chunk)

    while True:
        at = buf.find(delimiter)
        if at < 0:
            if len(buf) > keep:
                sink.write(buf[: len(buf) - keep])
                del buf[: len(buf) - keep]
            more()
            continue
        sink.write(buf[:at])
        sink.close()
        sink = _Discard()
        del buf[: at + len(delimiter)]
        while len(buf) < 2:
            more()
        if buf[:2] == b"--":
            body.drain()  # the epilogue
            return
        while bytes(buf[:1]) in (b" ", b"\t"):
            del buf[:1]
            while len(buf) < 2:
                more()
        if buf[:2] != b"\r\n":
            raise _Malformed("a boundary is not followed by a line break")
        del buf[:2]
        while (end := buf.find(b"\r\n\r\n")) < 0 and not buf.startswith(b"\r\n"):
            if len(buf) > _MAX_PART_HEADERS:
                raise _Malformed("part headers are too long")
            more()
        blob = b"" if buf.startswith(b"\r\n") else bytes(buf[: end + 2])
        del buf[: (2 if not blob else end + 4)]
        headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(blob)
        sink = open_part(headers)


# -- the server ----------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        ingress: IngressServer,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.ingress = ingress
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:
            # The handshake happens in the handler's thread, so one slow or
            # failing client cannot block the accept loop.
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError):
            self.ingress._count_tls_failure()
        _log.debug("ingress.connection_error", error=type(error).__name__)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pipeline-collector-ingress"
    sys_version = ""
    timeout = 30
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in IngressServer.requests instead

    @property
    def ingress(self) -> IngressServer:
        return self.server.ingress

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("/", "/health"):
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == self.ingress.token_path:
            self._token()
        elif path == self.ingress.upload_path:
            self.ingress._upload(self)
        else:
            self._refuse_early(404, "not found")

    def do_PUT(self) -> None:
        self._refuse_early(405, "method not allowed")

    # -- helpers used by IngressServer ------------------------------------------

    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None or not value.strip().isdigit():
            return None
        return int(value)

    def safe_headers(self) -> tuple[dict[str, str], frozenset[str]]:
        shown: dict[str, str] = {}
        hidden: set[str] = set()
        for name, value in self.headers.items():
            if name.lower() in SECRET_HEADERS:
                hidden.add(name.lower())
            else:
                shown[name] = value
        return shown, frozenset(hidden)

    def record(self, status: int | None) -> None:
        shown, hidden = self.safe_headers()
        self.ingress._record(
            Request(
                method=self.command,
                path=urlsplit(self.path).path,
                status=status,
                headers=MappingProxyType(shown),
                secret_headers=hidden,
            )
        )

    def _answer(
        self,
        status: int,
        payload: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        # Recorded before answering, so a client that has its answer can rely on it.
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _refuse_early(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer before reading the body, then read and discard it so the
        client can finish sending and see the answer instead of a reset."""
        length = self.content_length()
        self.close_connection = True
        self._answer(status, {"error": message}, headers)
        limit = self.ingress.max_body * _LINGER_FACTOR
        if length is not None and length <= limit:
            with contextlib.suppress(OSError, _Malformed):
                _BoundedReader(self.rfile, length).drain()

    def _token(self) -> None:
        length = self.content_length()
        if length is None or length > _MAX_FORM:
            self._refuse_early(400, "invalid_request")
            return
        form = parse_qs(_BoundedReader(self.rfile, length).read(length).decode("utf-8", "replace"))
        client_id: str | None = form.get("client_id", [""])[0] or None
        client_secret: str | None = form.get("client_secret", [""])[0] or None
        basic = _basic_credentials(self.headers.get("Authorization"))
        if basic is not None:
            client_id, client_secret = basic
        if form.get("grant_type", [""])[0] != "client_credentials":
            self._answer(400, {"error": "unsupported_grant_type"})
            return
        token = self.ingress._issue_token(client_id, client_secret)
        if token is None:
            self._answer(401, {"error": "invalid_client"})
            return
        self._answer(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.ingress.token_lifetime,
            },
            {"Cache-Control": "no-store"},
        )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _peer_name(connection: socket.socket) -> str | None:
    if not isinstance(connection, ssl.SSLSocket):
        return None
    cert: Any = connection.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    for kind, value in cert.get("subjectAltName", ()):
        if kind in ("DNS", "email", "IP Address"):
            return str(value)
    return "client certificate"


class IngressServer:
    """A local stand-in for the cloud ingress, on real sockets.

    ``directory`` receives the uploaded files.  Auth is off unless one of
    ``basic`` (user, password), ``clients`` (OAuth2 client id -> secret; the
    server then issues Bearer tokens at ``/token``) or ``require_identity``
    is given; any one configured method then suffices.  Client certificates
    are checked by TLS itself: pass an ``ssl_context`` whose ``verify_mode``
    is ``CERT_REQUIRED``.  Port 0 takes a free port; ``url`` says which.

    ``max_body`` limits the uploaded file (100 MiB, like the cloud's): a
    Content-Length beyond it plus a small allowance for the form around the
    file is refused with 413 before the body is read, and a file part that
    turns out larger is refused with 413 once read.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        services: Iterable[str] = DEFAULT_SERVICES,
        max_body: int = 100 * 2**20,
        basic: tuple[str, str] | None = None,
        clients: Mapping[str, str] | None = None,
        require_identity: bool = False,
        token_lifetime: int = 300,
        upload_path: str = UPLOAD_PATH,
        token_path: str = TOKEN_PATH,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.services = frozenset(s.lower() for s in services)
        self.max_body = max_body
        self.basic = basic
        self.clients = dict(clients or {})
        self.require_identity = require_identity
        self.token_lifetime = token_lifetime
        self.upload_path = upload_path
        self.token_path = token_path
        self.scheme = "https" if ssl_context is not None else "http"
        self._host = host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._plan: collections.deque[Planned] = collections.deque()
        self._received: list[Upload] = []
        self._requests: list[Request] = []
        self._tokens: dict[str, tuple[str, float]] = {}
        self._tokens_issued = 0
        self._tls_failures = 0
        self._httpd = _HTTPServer((host, port), self, ssl_context)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"IngressServer(url={self.url!r}, directory={str(self.directory)!r})"

    # -- life cycle ----------------------------------------------------------

    def start(self) -> IngressServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="ingress",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.5)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> IngressServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses -------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """Where to POST uploads."""
        return self.base_url + self.upload_path

    @property
    def token_url(self) -> str:
        return self.base_url + self.token_path

    # -- what happened -------------------------------------------------------

    @property
    def received(self) -> list[Upload]:
        with self._lock:
            return list(self._received)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    @property
    def tls_failures(self) -> int:
        with self._lock:
            return self._tls_failures

    # -- steering -------------------------------------------------------------

    def script(self, planned: Iterable[Planned]) -> None:
        """Queue answers for the next uploads, in order; uploads after them succeed."""
        with self._lock:
            self._plan.extend(planned)

    def revoke_tokens(self) -> None:
        """Forget every issued token, as when a token is revoked or the server restarts."""
        with self._lock:
            self._tokens.clear()

    # -- internals used by the handler --------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _count_tls_failure(self) -> None:
        with self._lock:
            self._tls_failures += 1

    def _issue_token(self, client_id: str | None, client_secret: str | None) -> str | None:
        expected = self.clients.get(client_id or "")
        if expected is None or client_secret is None:
            return None
        if not hmac.compare_digest(expected.encode(), client_secret.encode()):
            return None
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (client_id or "", time.monotonic() + self.token_lifetime)
            self._tokens_issued += 1
        return token

    def _authenticate(self, handler: _Handler) -> tuple[bool, str | None, str | None]:
        """Whether the request may upload, how it proved it, and who it is."""
        header = handler.headers.get("Authorization") or ""
        if self.basic is not None:
            given = _basic_credentials(header)
            if given is not None and all(
                hmac.compare_digest(a.encode(), b.encode())
                for a, b in zip(given, self.basic, strict=True)
            ):
                return True, "basic", given[0]
        if self.clients and header.lower().startswith("bearer "):
            token = header[7:].strip()
            with self._lock:
                entry = self._tokens.get(token)
            if entry is not None and entry[1] > time.monotonic():
                return True, "bearer", entry[0]
        if self.require_identity:
            identity = handler.headers.get("x-rh-identity")
            org = _identity_org(identity)
            if org is not None:
                return True, "identity", org
        if self.basic is None and not self.clients and not self.require_identity:
            return True, None, None
        return False, None, None

    def _upload(self, handler: _Handler) -> None:
        with self._lock:
            planned = self._plan.popleft() if self._plan else None
        length = handler.content_length()
        if self._play(handler, planned, length):
            return
        allowed, auth, principal = self._authenticate(handler)
        boundary = handler.headers.get_param("boundary")
        refusal: tuple[int, str, dict[str, str]] | None = None
        if not allowed:
            refusal = (401, "not authorized", {"WWW-Authenticate": 'Basic realm="ingress"'})
        elif length is None:
            refusal = (411, "Content-Length is required", {})
        elif length > self.max_body + _FORM_OVERHEAD:
            refusal = (413, f"payload too large: limit is {self.max_body} bytes", {})
        elif (
            handler.headers.get_content_type() != "multipart/form-data"
            or not isinstance(boundary, str)
            or not boundary
        ):
            refusal = (415, "expected multipart/form-data", {})
        if refusal is not None or length is None or not isinstance(boundary, str):
            status, message, headers = refusal or (400, "bad request", {})
            handler._refuse_early(status, message, headers)
            return
        self._receive(handler, planned, length, boundary, auth, principal)

    def _play(self, handler: _Handler, planned: Planned | None, length: int | None) -> bool:
        """Carry out a scripted failure; False when the upload proceeds normally."""
        if isinstance(planned, Drop):
            handler.close_connection = True
            if length is not None:
                want = length if planned.after is None else min(planned.after, length)
                with contextlib.suppress(OSError, _Malformed):
                    _BoundedReader(handler.rfile, want).drain()
            handler.record(None)
            _log.debug("ingress.dropped", after=planned.after)
            return True
        if isinstance(planned, Fail):
            headers = {}
            if planned.retry_after is not None:
                value = planned.retry_after
                headers["Retry-After"] = (
                    str(int(value)) if isinstance(value, int | float) else str(value)
                )
            message = planned.body if planned.body is not None else "scripted failure"
            handler._refuse_early(planned.status, message, headers)
            return True
        if isinstance(planned, Redirect):
            handler._refuse_early(planned.status, "moved", {"Location": planned.location})
            return True
        return False

    def _receive(
        self,
        handler: _Handler,
        planned: Planned | None,
        length: int,
        boundary: str,
        auth: str | None,
        principal: str | None,
    ) -> None:
        """Stream the multipart body to disk and answer like the cloud ingress."""
        request_id = uuid.uuid4().hex
        chosen: list[_Sink] = []
        rejected: list[str] = []

        def open_part(headers: Message) -> _Sink | _Discard:
            name = headers.get_param("name", header="content-disposition")
            if chosen or name not in ("file", "upload"):
                return _Discard()
            part_type = headers.get_content_type() if headers.get("content-type") else ""
            match = _CONTENT_TYPE.match(part_type)
            if match is None or match["service"].lower() not in self.services:
                rejected.append(part_type)
                return _Discard()
            filename = _safe_filename(headers.get_filename())
            sink = _Sink(headers, self.directory / f"{request_id}-{filename}")
            chosen.append(sink)
            return sink

        reader = _BoundedReader(handler.rfile, length)
        try:
            _read_multipart(reader, boundary.encode("latin-1"), open_part)
        except (_Malformed, OSError) as exc:
            for sink in chosen:
                sink.close()
                if sink.path is not None:
                    sink.path.unlink(missing_ok=True)
            handler.close_connection = True
            if isinstance(exc, _Malformed):
                with contextlib.suppress(OSError):
                    handler._answer(400, {"error": f"malformed multipart body: {exc}"})
            else:
                handler.record(None)
            return
        if not chosen:
            if rejected:
                handler._answer(415, {"error": f"unsupported content type {rejected[0]!r}"})
            else:
                handler._answer(400, {"error": "no part named 'file' or 'upload'"})
            return
        sink = chosen[0]
        assert sink.path is not None
        if sink.size > self.max_body:
            sink.path.unlink(missing_ok=True)
            handler._answer(413, {"error": f"payload too large: limit is {self.max_body} bytes"})
            return
        match = _CONTENT_TYPE.match(sink.content_type or "")
        assert match is not None
        shown, _ = handler.safe_headers()
        upload = Upload(
            request_id=request_id,
            field=str(sink.name),
            filename=_safe_filename(sink.filename),
            content_type=str(sink.content_type),
            service=match["service"].lower(),
            size=sink.size,
            sha256=sink.digest.hexdigest(),
            path=sink.path,
            headers=MappingProxyType(shown),
            auth=auth or ("cert" if _peer_name(handler.connection) else None),
            principal=principal,
            client_cert=_peer_name(handler.connection),
        )
        with self._lock:
            self._received.append(upload)
        _log.info("ingress.received", request_id=request_id, bytes=upload.size, auth=upload.auth)
        if isinstance(planned, Stall):
            self._stop.wait(planned.seconds)
        with contextlib.suppress(OSError):
            handler._answer(
                202,
                {
                    "request_id": request_id,
                    "upload": {
                        "account_number": "0000001",
                        "org_id": principal if auth == "identity" else "000001",
                    },
                },
            )


def _safe_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "_", base).lstrip(".")
    return cleaned or "upload.tar.gz"


def _identity_org(value: str | None) -> str | None:
    """The org id of an ``x-rh-identity`` header, or None when it is not one."""
    if not value:
        return None
    try:
        document = json.loads(base64.b64decode(value, validate=True))
        identity = document["identity"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if not isinstance(identity, dict):
        return None
    org = identity.get("org_id") or (identity.get("internal") or {}).get("org_id")
    return str(org) if org else "unknown"


# -- command line ----------------------------------------------------------------

_EPILOG = """\
example:
  python -m pipeline_collector.ingress --port 8080 --dir received/ \\
      --service aap-event-driven-ansible --basic alice:secret

  then upload with:
  curl -u alice:secret \\
      -F 'file=@analytics.tar.gz;type=application/vnd.redhat.aap-event-driven-ansible.x+tgz' \\
      http://127.0.0.1:8080/api/ingress/v1/upload

The server prints its upload URL (and token URL when --client is given) on
start and runs until interrupted.  It is meant for local testing only.
"""


def _pair(text: str) -> tuple[str, str]:
    first, sep, second = text.partition(":")
    if not sep or not first:
        raise argparse.ArgumentTypeError("expected NAME:SECRET")
    return first, second


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_collector.ingress",
        description=(
            "Run a local ingress that accepts analytics uploads the way the cloud\n"
            "ingress does (multipart POST, 202 with a request_id) and saves them."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on; 0 takes a free one"
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("received"), help="folder for received uploads"
    )
    parser.add_argument(
        "--service",
        action="append",
        dest="services",
        metavar="NAME",
        help="accepted <service> in the content type (repeatable; default: "
        + ", ".join(DEFAULT_SERVICES)
        + ")",
    )
    parser.add_argument(
        "--max-body", type=int, default=100 * 2**20, help="largest upload in bytes (413 above)"
    )
    parser.add_argument(
        "--basic", type=_pair, metavar="USER:PASSWORD", help="require HTTP basic auth"
    )
    parser.add_argument(
        "--client",
        type=_pair,
        action="append",
        metavar="ID:SECRET",
        help="an OAuth2 client allowed to get Bearer tokens at /token (repeatable)",
    )
    parser.add_argument(
        "--require-identity", action="store_true", help="accept an x-rh-identity header"
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=300, help="expires_in of issued tokens"
    )
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM); enables HTTPS")
    parser.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    parser.add_argument(
        "--client-ca", type=Path, help="require client certificates signed by this CA (PEM)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingress from the command line until interrupted."""
    args = _parser().parse_args(argv)
    context: ssl.SSLContext | None = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            context.load_verify_locations(args.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    elif args.client_ca:
        print("--client-ca needs --tls-cert", file=sys.stderr)
        return 2
    server = IngressServer(
        args.dir,
        host=args.host,
        port=args.port,
        ssl_context=context,
        services=args.services or DEFAULT_SERVICES,
        max_body=args.max_body,
        basic=args.basic,
        clients=dict(args.client or ()),
        require_identity=args.require_identity,
        token_lifetime=args.token_lifetime,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"upload url: {server.url}", flush=True)
    if server.clients:
        print(f"token url: {server.token_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
