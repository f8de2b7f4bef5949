"""The HTTP side of the ingress: the threaded server, routing, answers and tokens.

Each connection is handled in its own thread (TLS handshakes too), every
answer is recorded before it is sent, and a refusal reads and drops the body
afterwards so the client sees the answer instead of a reset.  A request the
handler fails on is answered 500 all the same, unless an answer went out.
"""

from __future__ import annotations

import contextlib
import hmac
import http.server
import json
import socket
import ssl
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import describe_exception
from ..log import logger
from . import upload
from .auth import basic_credentials
from .books import Books
from .multipart import BoundedReader, Malformed
from .script import Request
from .settings import Settings

__all__ = ["SECRET_HEADERS", "HTTPServer", "Handler"]

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-rh-identity"})

_MAX_FORM = 64 * 1024
_MAX_DIGITS = 18  # a Content-Length of more digits is larger than any body taken
# A refused body up to this many times the limit is read and dropped; beyond, the
# connection is closed at once.
_LINGER_FACTOR = 4

log = logger("ingress")


class HTTPServer(http.server.ThreadingHTTPServer):
    """A threading server that hands the ingress's settings and books to its handlers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        settings: Settings,
        books: Books,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.settings = settings
        self.books = books
        self.ssl_context = ssl_context
        super().__init__(address, Handler)

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
            self.books.count_tls_failure()
        log.debug("ingress.connection_error", error=type(error).__name__)


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection: routes requests and answers in JSON."""

    protocol_version = "HTTP/1.1"
    server_version = "pipeline-collector-ingress"
    sys_version = ""
    timeout = 30
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in the books instead

    @property
    def settings(self) -> Settings:
        return self.server.settings

    @property
    def books(self) -> Books:
        return self.server.books

    answered = False  # whether this request's answer went out

    def do_GET(self) -> None:
        self.answered = False
        with self._answering():
            if urlsplit(self.path).path in ("/", "/health"):
                self.answer(200, {"status": "ok"})
            else:
                self.answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        self.answered = False
        with self._answering():
            path = urlsplit(self.path).path
            if path == self.settings.token_path:
                self._token()
            elif path == self.settings.upload_path:
                upload.handle(self.settings, self.books, self)
            else:
                self.refuse_early(404, "not found")

    def do_PUT(self) -> None:
        self.answered = False
        with self._answering():
            self.refuse_early(405, "method not allowed")

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """Answer 500 for a request whose handling failed before its answer went out."""
        try:
            yield
        except Exception as exc:
            log.error("ingress.failed", error=describe_exception(exc))
            self.close_connection = True
            if not self.answered:
                with contextlib.suppress(OSError):
                    self.answer(500, {"error": f"the ingress failed: {type(exc).__name__}"})

    # -- helpers used by the routes ------------------------------------------------

    def content_length(self) -> int | None:
        value = str(self.headers.get("Content-Length") or "").strip()
        if not value.isdigit() or not value.isascii():
            return None
        if len(value) > _MAX_DIGITS:
            return sys.maxsize  # larger than any limit: refused as too large
        return int(value)

    def safe_headers(self) -> tuple[dict[str, str], frozenset[str]]:
        """The headers without secrets, and the names of the secret ones."""
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
        self.books.record(
            Request(
                method=self.command,
                path=urlsplit(self.path).path,
                status=status,
                headers=MappingProxyType(shown),
                secret_headers=hidden,
            )
        )

    def answer(
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
        self.answered = True
        self.wfile.write(data)
        self.wfile.flush()

    def refuse_early(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer before reading the body, then read and discard it so the
        client can finish sending and see the answer instead of a reset."""
        length = self.content_length()
        self.close_connection = True
        self.answer(status, {"error": message}, headers)
        limit = self.settings.max_body * _LINGER_FACTOR
        if length is not None and length <= limit:
            with contextlib.suppress(OSError, Malformed):
                BoundedReader(self.rfile, length).drain()

    def _token(self) -> None:
        length = self.content_length()
        if length is None or length > _MAX_FORM:
            self.refuse_early(400, "invalid_request")
            return
        reader = BoundedReader(self.rfile, length)
        try:
            body = b"".join(iter(reader.read, b""))  # all of it, or Malformed
        except Malformed:
            self.close_connection = True
            self.answer(400, {"error": "invalid_request"})
            return
        form = parse_qs(body.decode("utf-8", "replace"))
        client_id: str | None = form.get("client_id", [""])[0] or None
        client_secret: str | None = form.get("client_secret", [""])[0] or None
        basic = basic_credentials(self.headers.get("Authorization"))
        if basic is not None:
            client_id, client_secret = basic
        if form.get("grant_type", [""])[0] != "client_credentials":
            self.answer(400, {"error": "unsupported_grant_type"})
            return
        client = client_id or ""
        if not self._known_client(client, client_secret):
            self.answer(401, {"error": "invalid_client"})
            return
        token = self.books.issue_token(client, lifetime=self.settings.token_lifetime)
        self.answer(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.settings.token_lifetime,
            },
            {"Cache-Control": "no-store"},
        )

    def _known_client(self, client_id: str, client_secret: str | None) -> bool:
        """Whether the client is configured with this secret (compared in constant time)."""
        expected = self.settings.clients.get(client_id)
        if expected is None or client_secret is None:
            return False
        return hmac.compare_digest(expected.encode(), client_secret.encode())
