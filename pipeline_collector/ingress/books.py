"""The ingress's books: what it saw, what it was told to do next, what it issued.

Every connection runs in its own thread, so each read and write of the
books happens under one lock; readers get copies, never the live lists.

>>> from pipeline_collector.ingress.script import Fail
>>> books = Books()
>>> books.script([Fail(503)])
>>> books.next_planned(), books.next_planned()
(Fail(status=503, retry_after=None, body=None), None)
>>> token = books.issue_token("client", lifetime=60)
>>> books.token_owner(token), books.tokens_issued
('client', 1)
>>> books.revoke_tokens()
>>> books.token_owner(token) is None
True
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import Iterable

from .script import Planned, Request, Upload

__all__ = ["Books"]


class Books:
    """The mutable record of one ingress, safe to share between its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._plan: collections.deque[Planned] = collections.deque()
        self._received: list[Upload] = []
        self._requests: list[Request] = []
        self._tokens: dict[str, tuple[str, float]] = {}
        self._tokens_issued = 0
        self._tls_failures = 0

    # -- what was seen ---------------------------------------------------------

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

    def record(self, request: Request) -> None:
        """Note a request and its answer (None when it got none)."""
        with self._lock:
            self._requests.append(request)

    def accept(self, upload: Upload) -> None:
        """Note an upload saved to disk."""
        with self._lock:
            self._received.append(upload)

    def count_tls_failure(self) -> None:
        with self._lock:
            self._tls_failures += 1

    # -- the script ------------------------------------------------------------

    def script(self, planned: Iterable[Planned]) -> None:
        """Queue answers for the next uploads, in order."""
        with self._lock:
            self._plan.extend(planned)

    def next_planned(self) -> Planned | None:
        """The answer scripted for this upload, or None when it should succeed."""
        with self._lock:
            return self._plan.popleft() if self._plan else None

    # -- tokens ----------------------------------------------------------------

    def issue_token(self, client_id: str, *, lifetime: float) -> str:
        """A new Bearer token for ``client_id``, live for ``lifetime`` seconds."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (client_id, time.monotonic() + lifetime)
            self._tokens_issued += 1
        return token

    def token_owner(self, token: str) -> str | None:
        """The client a live token was issued to, or None."""
        with self._lock:
            entry = self._tokens.get(token)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        return None

    def revoke_tokens(self) -> None:
        """Forget every issued token."""
        with self._lock:
            self._tokens.clear()

    # -- pauses ----------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Wait, but no longer than until ``close``."""
        self._closed.wait(seconds)

    def close(self) -> None:
        """End every pause, now and later: the server is closing."""
        self._closed.set()
