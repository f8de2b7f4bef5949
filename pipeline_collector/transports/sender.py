"""The default sender: puts a prepared request on the wire with ``requests``.

It is the one place that knows ``requests``: its exceptions become
``NoAnswer`` / ``TlsFailure`` / ``SendError``, it never follows a redirect,
never lets ``~/.netrc`` add credentials, and reads at most ``MAX_ANSWER``
bytes of an answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import requests
from attrs import field, frozen

from .messages import MAX_ANSWER, NoAnswer, Request, Response, SendError, TlsFailure

__all__ = ["RequestsSender"]

_READ = 64 * 1024


def _as_given(request: Any) -> Any:
    """A requests auth hook that changes nothing.

    Passing it keeps requests from adding credentials of its own from
    ``~/.netrc`` over the ones the transport chose.
    """
    return request


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verification failed (unknown CA or wrong host name)"
    return "handshake failed"


class _Counted:
    """The body as requests wants it (an iterable with a length), noting whether
    its last byte went out: a lost connection after that may mean delivered."""

    def __init__(self, chunks: Iterable[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length
        self.sent_all = False

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks
        self.sent_all = True


class _SessionBox:
    """Holds the lazily created session of a frozen sender."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: requests.Session | None = None

    def __repr__(self) -> str:
        return "<session>"


def _read(answer: requests.Response, limit: int) -> bytes:
    data = bytearray()
    for chunk in answer.iter_content(_READ):
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])


@frozen(kw_only=True)
class RequestsSender:
    """Send requests through a ``requests.Session``: the given one, left open,
    or one of its own, created when first needed and closed by ``close``."""

    session: requests.Session | None = field(default=None, eq=False, repr=False)
    max_answer: int = MAX_ANSWER
    _box: _SessionBox = field(factory=_SessionBox, init=False, eq=False, repr=False)

    def _session(self) -> requests.Session:
        if self.session is not None:
            return self.session
        with self._box.lock:
            if self._box.session is None:
                self._box.session = requests.Session()
            return self._box.session

    def close(self) -> None:
        """Close the session this sender created (a given one is left open)."""
        with self._box.lock:
            if self._box.session is not None:
                self._box.session.close()
                self._box.session = None

    def send(self, request: Request) -> Response:
        """Send ``request`` once; see the module docstring for what can go wrong."""
        proxies = {"http": request.proxy, "https": request.proxy} if request.proxy else None
        with request.body.open() as chunks:
            body = _Counted(chunks, request.body.length)
            try:
                with self._session().request(
                    request.method,
                    request.url,
                    data=body if request.body.length else None,
                    headers=dict(request.headers),
                    cert=request.cert,
                    timeout=request.timeout,
                    verify=request.verify,
                    proxies=proxies,
                    allow_redirects=False,
                    auth=_as_given,
                    stream=True,
                ) as answer:
                    content = _read(answer, self.max_answer)
            except requests.exceptions.SSLError as exc:
                raise TlsFailure(_tls_reason(exc)) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                sent = body.sent_all and not isinstance(exc, requests.exceptions.ConnectTimeout)
                raise NoAnswer(type(exc).__name__, body_sent=sent) from None
            except requests.RequestException as exc:
                raise SendError(type(exc).__name__) from None
        return Response(
            status=answer.status_code,
            headers=dict(answer.headers),
            body=content,
            reason=answer.reason or "",
        )
