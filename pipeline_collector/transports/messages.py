"""What passes between an ``HttpTransport`` and its sender: a prepared request,
the answer, and the ways a request can get no answer at all.

Plain values, so that a sender can be a small function in a test and the
transport's decisions (retry, refresh a token, refuse) never depend on the
HTTP library underneath.
"""

from __future__ import annotations

import contextlib
import re
import types
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from ..errors import PipelineError
from ..jsontext import decode
from .redact import show_headers, show_proxy, show_url

__all__ = [
    "Auth",
    "Body",
    "Bytes",
    "NoAnswer",
    "Request",
    "Response",
    "Send",
    "Sender",
    "SendError",
    "TlsFailure",
    "is_header_value",
]

_HEADER_VALUE = re.compile(r"^[^\r\n\x00]*$")


@frozen(kw_only=True)
class Credentials:
    """What one request needs to prove who sends it.

    ``secrets`` lists every value that must never be shown (``user:secret``
    pairs included, whose base64 a Basic header carries): they are cut out of
    any answer text quoted in an error or a log, in every encoding.
    """

    headers: Mapping[str, str] = field(factory=dict, repr=False)
    cert: str | tuple[str, str] | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)


def is_header_value(text: str) -> bool:
    """Whether ``text`` can go into a header without starting another one.

    >>> is_header_value("Bearer abc"), is_header_value("x\\r\\nX-Evil: 1")
    (True, False)
    """
    return _HEADER_VALUE.match(text) is not None


def _frozen_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


def _find(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class Body(Protocol):
    """Protocol: a request body that can be read again from its start.

    ``open`` starts one pass and yields the body's chunks; it may raise
    ``ShipError`` (the file is gone, or changed while it was read), which
    every sender lets through unchanged.  ``length`` is the total size, sent
    as ``Content-Length``.
    """

    @property
    def length(self) -> int: ...

    def open(self) -> AbstractContextManager[Iterable[bytes]]: ...


@frozen
class Bytes:
    """A body held in memory, such as a token request's form.

    >>> with Bytes(b"a=1").open() as chunks:
    ...     b"".join(chunks)
    b'a=1'
    """

    data: bytes = field(repr=False)

    @property
    def length(self) -> int:
        return len(self.data)

    def open(self) -> AbstractContextManager[Iterable[bytes]]:
        return contextlib.nullcontext((self.data,))


@frozen(kw_only=True)
class Request:
    """One request as the transport prepared it, with the TLS, proxy and
    timeouts to send it with.  Reprs show no header values, query or password.
    """

    method: str
    url: str = field(repr=show_url)
    headers: Mapping[str, str] = field(factory=dict, converter=_frozen_headers, repr=show_headers)
    body: Body = Bytes(b"")
    cert: str | tuple[str, str] | None = None
    verify: bool | str = True
    proxy: str | None = field(default=None, repr=show_proxy)
    timeout: tuple[float, float] = (31.0, 31.0)
    deadline: float | None = None  # seconds the whole exchange may take; None: no limit

    def header(self, name: str) -> str | None:
        """The value of header ``name``, whatever its case, or ``None``."""
        return _find(self.headers, name)

    def read(self) -> bytes:
        """The whole body, read in one pass."""
        with self.body.open() as chunks:
            return b"".join(chunks)


@frozen(kw_only=True)
class Response:
    """An answer: status, headers and the start of the body (senders read at most
    ``MAX_ANSWER`` bytes of it, whatever the status and once decompressed, so a
    hostile answer cannot fill the memory).

    >>> answer = Response(status=202, headers={"Content-Type": "application/json"},
    ...                   body=b'{"request_id": "r1"}')
    >>> answer.header("content-type"), answer.json()["request_id"]
    ('application/json', 'r1')
    """

    status: int
    headers: Mapping[str, str] = field(factory=dict, converter=_frozen_headers)
    body: bytes = field(default=b"", repr=False)
    reason: str = ""

    def header(self, name: str) -> str | None:
        """The value of header ``name``, whatever its case, or ``None``."""
        return _find(self.headers, name)

    def json(self) -> Any:
        """The body parsed as JSON within ``jsontext``'s bounds; ``ValueError`` when it is not."""
        return decode(self.body)


MAX_ANSWER = 1 << 20
"""The most of an answer's body a sender reads: ingress and token answers are small."""

Send = Callable[[Request], Response]
"""Send one request with the transport's TLS, proxy and timeouts: what an ``Auth`` gets."""


class SendError(PipelineError):
    """A request got no answer; the message names why, briefly and without secrets."""


class NoAnswer(SendError):
    """The connection failed, was reset or timed out: another attempt may succeed.

    ``body_sent`` says whether the whole body had gone out first; the archive
    may then have arrived although no answer said so.
    """

    def __init__(self, message: str, *, body_sent: bool) -> None:
        super().__init__(message)
        self.body_sent = body_sent


class TlsFailure(SendError):
    """The TLS handshake or certificate check failed: retrying will not help."""


@runtime_checkable
class Auth(Protocol):
    """Protocol: how an ``HttpTransport`` proves who it is.

    ``prepare`` is called before every attempt and returns the headers and
    client certificate to use; it may fetch a token through ``send``, which
    sends a request with the transport's sender, TLS, proxy and timeouts.
    ``on_unauthorized`` is called once after a 401: it forgets cached
    credentials and says whether one more attempt could succeed.
    ``needs_tls`` says whether the credentials must never travel over plain
    ``http://``.
    """

    @property
    def needs_tls(self) -> bool: ...

    def prepare(self, send: Send) -> Credentials: ...

    def on_unauthorized(self) -> bool: ...


@runtime_checkable
class Sender(Protocol):
    """Protocol: how an ``HttpTransport`` puts one request on the wire.

    ``send`` sends the request once and returns the answer, whatever its
    status, with at most the first MiB of its body; it never follows a
    redirect.  When no answer comes it raises ``NoAnswer`` (refused, reset or
    timed out; saying whether the whole body had gone out), ``TlsFailure`` or
    ``SendError``; a ``ShipError`` from reading the body passes through.  The
    default sends with ``requests``; ``testing.MockSender`` turns a function
    into a sender.
    """

    def send(self, request: Request) -> Response: ...
