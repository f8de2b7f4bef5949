"""The seams: what the pipeline needs from the world, as Protocols.

Nothing here is meant to be subclassed; any object with the right methods
fits.  ``pipeline_collector.testing`` has in-memory fakes of each.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .records import Archive, Receipt, State

if TYPE_CHECKING:  # the values these seams pass live beside their default adapters
    from .transports.messages import Credentials, Request, Response, Send


@runtime_checkable
class StateStore(Protocol):
    """Protocol: where bookkeeping lives between runs.

    ``load`` returns the last saved state (an empty ``State`` when nothing was
    ever saved) and raises ``StateError`` when what is stored cannot be read:
    an unreadable state must never pass for an empty one.  ``save`` replaces
    the state atomically.
    """

    def load(self) -> State: ...

    def save(self, state: State) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Protocol: a destination for archives.

    ``send`` delivers one archive and returns a receipt, or raises
    ``ShipError`` (any other exception counts as a failed shipment too).
    """

    def send(self, archive: Archive) -> Receipt: ...


@runtime_checkable
class Lock(Protocol):
    """Protocol: one run at a time.

    ``acquire`` returns a context manager that tries once, without waiting,
    and yields whether it got the lock; on exit it releases only what it got.
    """

    def acquire(self) -> AbstractContextManager[bool]: ...


@runtime_checkable
class Clock(Protocol):
    """Protocol: the current time, timezone-aware."""

    def __call__(self) -> datetime: ...


class Deflater(Protocol):
    """Protocol: one raw deflate stream (``zlib.compressobj(wbits=-15)``)."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


class Compressor(Protocol):
    """Protocol: makes raw deflate streams; ``name`` and ``level`` describe it."""

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> int: ...

    def deflater(self) -> Deflater: ...

    def sync_flush(self, deflater: Deflater) -> bytes: ...

    def finish(self, deflater: Deflater) -> bytes: ...


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
