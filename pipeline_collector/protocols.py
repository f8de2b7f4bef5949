"""The seams: what the pipeline needs from the world, as Protocols.

Nothing here is meant to be subclassed; any object with the right methods
fits.  ``pipeline_collector.testing`` has in-memory fakes of each.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from .records import Archive, Change, Receipt, State


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
class SharedStateStore(StateStore, Protocol):
    """Protocol: a state store that several runs, or tenants, may share.

    ``update`` writes only ``change``, merged into what the store holds now
    (another run's saves included), in one atomic step; ``save`` replaces
    the state of this store's namespace only.  An empty change still goes
    through the write path, so it proves the store writable.  A store with
    only ``load`` and ``save`` still works: it is given the whole state.
    """

    def update(self, change: Change) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Protocol: a destination for archives.

    ``send`` delivers one archive and returns a receipt, or raises
    ``ShipError`` (any other exception counts as a failed shipment too).
    ``close`` releases what the transport holds (connections, clients); it
    is for whoever made the transport to call (the library's own are
    context managers too): a run never closes a transport it was given.
    """

    def send(self, archive: Archive) -> Receipt: ...

    def close(self) -> None: ...


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
