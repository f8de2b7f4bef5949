"""The default sender: puts a prepared request on the wire with ``requests``.

It is the one place that knows ``requests``: its exceptions become
``NoAnswer`` / ``TlsFailure`` / ``SendError``, it never follows a redirect,
never lets ``~/.netrc`` add credentials, reads at most ``max_answer`` bytes
of an answer (of any status, and at most that much once decompressed), and
ends a request whose ``deadline`` passed, whatever it was doing.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import requests
import urllib3
from attrs import field, frozen

from .deadline import Deadline, DeadlineAdapter, Expired
from .messages import MAX_ANSWER, NoAnswer, Request, Response, SendError, TlsFailure

__all__ = ["RequestsSender", "decoded"]

_READ = 64 * 1024
_GZIP_OR_ZLIB = 47  # zlib's wbits: a gzip or zlib header, detected


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

    def __init__(self, chunks: Iterable[bytes], length: int, deadline: Deadline) -> None:
        self._chunks = chunks
        self._length = length
        self._deadline = deadline
        self.sent_all = False

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._deadline.check()
            yield chunk
        self.sent_all = True


class _SessionBox:
    """Holds the lazily created session of a frozen sender."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: requests.Session | None = None

    def __repr__(self) -> str:
        return "<session>"


def decoded(data: bytes, encoding: str | None, limit: int) -> bytes:
    """``data`` decompressed as its ``Content-Encoding`` says, to at most ``limit`` bytes.

    A small gzip answer can inflate to gigabytes; only ``limit`` bytes of it
    are ever made.  An encoding not known here leaves the bytes as they came.

    >>> import gzip
    >>> decoded(gzip.compress(bytes(10**6)), "gzip", 5) == bytes(5)
    True
    >>> decoded(b"plain", None, 1024)
    b'plain'
    """
    coding = (encoding or "").strip().lower()
    if coding not in ("gzip", "x-gzip", "deflate"):
        return data[:limit]
    for wbits in (_GZIP_OR_ZLIB, -zlib.MAX_WBITS):  # "deflate" is sometimes sent raw
        try:
            return zlib.decompressobj(wbits).decompress(data, limit)
        except zlib.error:
            continue
    return data[:limit]


def _read(answer: requests.Response, limit: int, deadline: Deadline) -> bytes:
    """At most ``limit`` bytes of the answer as sent, then decompressed within ``limit``.

    ``read1`` returns what has arrived, so the deadline is looked at between
    reads even where no ``DeadlineAdapter`` can shut the socket down.
    """
    if getattr(answer, "_content_consumed", False):  # a session hook read it already
        return answer.content[:limit]
    data = bytearray()
    while len(data) < limit:
        chunk = answer.raw.read1(min(_READ, limit - len(data)), decode_content=False)
        deadline.check()
        if not chunk:
            break
        data += chunk
    return decoded(bytes(data), answer.headers.get("Content-Encoding"), limit)


def _failure(exc: Exception, body: _Counted, deadline: Deadline) -> SendError:
    """The ``SendError`` a failed exchange amounts to."""
    if deadline.expired or isinstance(exc, Expired):
        seconds = round(deadline.seconds or 0.0, 2)
        return NoAnswer(
            f"no whole answer within the attempt's deadline of {seconds:g} s",
            body_sent=body.sent_all,
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return TlsFailure(_tls_reason(exc))
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return NoAnswer(type(exc).__name__, body_sent=False)
    if isinstance(
        exc,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,  # raised by the answer's raw stream
            OSError,
        ),
    ):
        return NoAnswer(type(exc).__name__, body_sent=body.sent_all)
    return SendError(type(exc).__name__)


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
                session = requests.Session()
                for prefix in ("https://", "http://"):
                    session.mount(prefix, DeadlineAdapter())
                self._box.session = session
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
        # Only encodings ``decoded`` knows, so that what is read can be capped.
        headers = dict(request.headers)
        if request.header("Accept-Encoding") is None:
            headers["Accept-Encoding"] = "gzip, deflate"
        with Deadline(request.deadline) as deadline, request.body.open() as chunks:
            body = _Counted(chunks, request.body.length, deadline)
            try:
                with self._session().request(
                    request.method,
                    request.url,
                    data=body if request.body.length else None,
                    headers=headers,
                    cert=request.cert,
                    timeout=_timeout(request.timeout, deadline),
                    verify=request.verify,
                    proxies=proxies,
                    allow_redirects=False,
                    auth=_as_given,
                    stream=True,
                ) as answer:
                    deadline.watch(getattr(answer.raw, "connection", None))
                    content = _read(answer, self.max_answer, deadline)
                    deadline.check()
            except (Expired, requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
                raise _failure(e, body, deadline) from None
        return Response(
            status=answer.status_code,
            headers=dict(answer.headers),
            body=content,
            reason=answer.reason or "",
        )


def _timeout(timeout: tuple[float, float], deadline: Deadline) -> tuple[float, float]:
    """The connect and read timeouts, neither longer than what is left of the deadline."""
    left = deadline.left()
    if left is None:
        return timeout
    left = max(left, 0.001)  # zero would make the socket non-blocking
    return (min(timeout[0], left), min(timeout[1], left))
