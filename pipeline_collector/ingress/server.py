"""``IngressServer``: a local stand-in for the cloud ingress, on real sockets.

It owns the configuration and the life cycle, and keeps the script and what
was seen in its ``Books``; ``handler`` answers HTTP and ``upload`` carries
out the upload route, given the server as their ``Settings`` and the books.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from .books import Books
from .handler import HTTPServer
from .script import Planned, Request, Upload

__all__ = ["DEFAULT_SERVICES", "TOKEN_PATH", "UPLOAD_PATH", "IngressServer"]

DEFAULT_SERVICES = (
    "tower",
    "aap-event-driven-ansible",
    "automation-hub",
    "aap-billing-controller",
    "pinakes",
)
UPLOAD_PATH = "/api/ingress/v1/upload"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret


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
        self._books = Books()
        # Bind first: a port in use must leave no folder behind.
        self._httpd = HTTPServer((host, port), self, self._books, ssl_context)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            self._httpd.server_close()
            raise
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
        self._books.close()
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
        return self._books.received

    @property
    def requests(self) -> list[Request]:
        return self._books.requests

    @property
    def tokens_issued(self) -> int:
        return self._books.tokens_issued

    @property
    def tls_failures(self) -> int:
        return self._books.tls_failures

    # -- steering -------------------------------------------------------------

    def script(self, planned: Iterable[Planned]) -> None:
        """Queue answers for the next uploads, in order; uploads after them succeed."""
        self._books.script(planned)

    def revoke_tokens(self) -> None:
        """Forget every issued token, as when a token is revoked or the server restarts."""
        self._books.revoke_tokens()
