"""Fakes of every seam, for the tests of people who use this library.

``FakeTransport`` keeps what it was sent and answers or fails where told,
``MemoryStore`` keeps state in memory, ``FakeLock`` is a lock that can be
held by someone else and notes whether it was held while something ran,
``FrozenClock`` is a clock that moves only when told, ``IngressServer`` is a
real local ingress with scripted failures, and ``MockSender`` turns a plain
function into an ``HttpTransport`` sender.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import attrs

from .errors import ShipError
from .ingress import Drop, Fail, IngressServer, Redirect, Stall
from .records import Archive, Receipt, State
from .transports.probe import Verdict

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = [
    "Drop",
    "Fail",
    "FakeLock",
    "FakeTransport",
    "FrozenClock",
    "IngressServer",
    "MemoryStore",
    "MockSender",
    "Redirect",
    "Sent",
    "Stall",
]


@attrs.frozen(kw_only=True)
class Sent:
    """An archive a ``FakeTransport`` accepted: its name, bytes, record and call number.

    ``call`` counts from 1, as ``fail_on`` does; the ``Sent`` itself is
    ``transport.sent[i]``, counted from 0 as a list is.
    """

    name: str
    data: bytes = attrs.field(repr=False)
    archive: Archive = attrs.field(repr=False)
    call: int = 0


def _call_numbers(numbers: Iterable[int]) -> set[int]:
    return set(numbers)


@attrs.define
class FakeTransport:
    """A transport that keeps what it is sent, in memory and in a folder.

    ``fail_on`` lists the calls that fail with ``ShipError``, counted from
    1 as ``calls`` and the request ids are; ``sent`` lists what was
    accepted, in order, and ``open(n)`` opens ``sent[n]`` (counted from 0,
    as a list is).  ``handler`` may instead decide per archive: raise to
    refuse, return a ``Receipt`` to answer with it, or return ``None`` for
    the default receipt (status 202, request id ``fake-<call>``).  An archive
    the handler answers for is kept in ``sent`` like any other.

    >>> t = FakeTransport(fail_on={2})
    >>> t.calls
    0
    >>> answer = lambda a: Receipt(archive=a.name, sha256=a.sha256, destination="mine")
    >>> FakeTransport(handler=answer).handler is answer
    True
    """

    fail_on: set[int] = attrs.field(factory=set, converter=_call_numbers)
    handler: Callable[[Archive], Receipt | None] | None = None
    lost_answer: bool = False
    sent: list[Sent] = attrs.field(factory=list)
    calls: int = 0
    keep: Path | None = None
    closed: bool = False

    def send(self, archive: Archive) -> Receipt:
        self.calls += 1
        data = archive.path.read_bytes()
        if self.calls in self.fail_on:
            raise ShipError(
                f"fake ingress refused {archive.name} (call {self.calls})",
                status=503,
                maybe_delivered=self.lost_answer,
            )
        answer = self.handler(archive) if self.handler is not None else None
        digest = hashlib.sha256(data).hexdigest()
        if digest != archive.sha256:
            raise ShipError(f"{archive.name} changed on disk before it was sent")
        self.sent.append(Sent(name=archive.name, data=data, archive=archive, call=self.calls))
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(archive.path, self.keep / archive.name)
        if answer is not None:
            return answer
        return Receipt(
            archive=archive.name,
            sha256=digest,
            destination="fake",
            status=202,
            request_id=f"fake-{self.calls}",
        )

    def close(self) -> None:
        """Nothing to release; kept so the fake fits ``Transport`` as the real ones do."""
        self.closed = True

    def preflight(self) -> Verdict:
        """A fake takes every upload: ``pc.preflight(fake)`` says so."""
        return Verdict(ok=True, destination="fake", message="takes uploads: a fake keeps them")

    def __enter__(self) -> FakeTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sent]

    def open(self, n: int) -> Any:
        """Open ``sent[n]``, the ``n``-th accepted archive counted from 0, with ``tarfile``.

        Calls count from 1 (``fail_on``, ``Sent.call``); a refused call has no
        ``sent`` entry, so after ``fail_on={2}`` ``open(1)`` is call 3's archive.
        """
        import io
        import tarfile

        return tarfile.open(fileobj=io.BytesIO(self.sent[n].data), mode="r:gz")


@attrs.define
class MemoryStore:
    """State kept in memory; ``saves`` counts how often it was saved."""

    state: State = attrs.field(factory=State)
    saves: int = 0
    history: list[State] = attrs.field(factory=list, repr=False)

    def load(self) -> State:
        return self.state

    def save(self, state: State) -> None:
        self.state = state
        self.saves += 1
        self.history.append(state)


@attrs.define
class FakeLock:
    """A lock in memory that fits ``Lock``, and says what happened to it.

    ``held_elsewhere`` makes every ``acquire`` yield ``False``, as when another
    run holds the lock; while one ``acquire`` holds it, a second yields
    ``False`` too.  ``acquisitions``, ``releases`` and ``refusals`` count what
    happened; a refused ``acquire`` releases nothing.  ``witness(fn)`` wraps a
    function so that each call notes in ``witnessed`` whether the lock was
    held by its acquirer at that moment.

    >>> lock = FakeLock()
    >>> held = lock.witness(lambda: "shipped")
    >>> with lock.acquire() as got:
    ...     got, held(), lock.holding
    (True, 'shipped', True)
    >>> held(), lock.witnessed, lock.holding
    ('shipped', [True, False], False)
    >>> lock.held_elsewhere = True
    >>> with lock.acquire() as got:
    ...     got
    False
    >>> lock.acquisitions, lock.releases, lock.refusals
    (1, 1, 1)
    """

    held_elsewhere: bool = False
    acquisitions: int = 0
    releases: int = 0
    refusals: int = 0
    witnessed: list[bool] = attrs.field(factory=list)
    _holding: bool = attrs.field(default=False, init=False)

    @property
    def holding(self) -> bool:
        """Whether an ``acquire`` of this lock holds it now."""
        return self._holding

    @contextlib.contextmanager
    def acquire(self) -> Iterator[bool]:
        if self.held_elsewhere or self._holding:
            self.refusals += 1
            yield False
            return
        self._holding = True
        self.acquisitions += 1
        try:
            yield True
        finally:
            self._holding = False
            self.releases += 1

    def witness(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """``fn``, noting in ``witnessed`` at each call whether the lock was held."""

        def witnessed(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            self.witnessed.append(self._holding)
            return fn(*args, **kwargs)

        return witnessed


@attrs.define
class FrozenClock:
    """A clock that stands still until ``advance`` or ``set`` moves it."""

    now: datetime = attrs.field(factory=lambda: datetime(2026, 11, 27, tzinfo=timezone.utc))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def set(self, now: datetime) -> None:
        self.now = now


# -- MockSender: an HttpTransport sender made of a plain function ---------------

from .transports.messages import Bytes, NoAnswer, Request, Response  # noqa: E402


@attrs.define
class MockSender:
    """An ``HttpTransport`` sender made of a plain function ``request -> response``.

    Each request's body is read whole first, as a server would receive it (so
    an archive that changed on disk fails just as on the wire); the handler
    then gets the request with that body in memory (``request.read()``).  A
    handler may raise ``ConnectionError`` or ``TimeoutError`` to lose the
    connection after the body went out, ``ConnectionRefusedError`` to fail
    before it did, or ``NoAnswer`` to say which itself.  ``requests`` keeps
    every request handed to the handler.

    >>> sender = MockSender(lambda request: Response(status=202, body=request.read()))
    >>> sender.send(Request(method="POST", url="https://x.test/up", body=Bytes(b"hi"))).body
    b'hi'
    """

    handler: Callable[[Request], Response]
    requests: list[Request] = attrs.field(factory=list, repr=False)

    def send(self, request: Request) -> Response:
        with request.body.open() as chunks:
            data = b"".join(chunks)
        seen = attrs.evolve(request, body=Bytes(data))
        self.requests.append(seen)
        try:
            return self.handler(seen)
        except ConnectionRefusedError as exc:
            raise NoAnswer(type(exc).__name__, body_sent=False) from None
        except (ConnectionError, TimeoutError) as exc:
            raise NoAnswer(type(exc).__name__, body_sent=True) from None
