"""A deadline for one whole request: connecting, sending the body, every byte of the answer.

A read timeout bounds each wait for bytes, not an exchange: a peer that sends
one byte every 0.2 s never trips it and can hold an upload (and the run's
lock) for as long as it likes.  ``Deadline`` shuts the request's socket down
when its time is up, which ends whatever wait is under way at once.  The
connections of ``DeadlineAdapter`` (mounted on the default sender's own
session) register with the deadline of the request their thread is sending.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Deadline", "DeadlineAdapter", "Expired"]

_current = threading.local()


class Expired(Exception):
    """The request's deadline passed (raised between body chunks and answer reads)."""


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        # The plain socket's shutdown: an SSLSocket's own would drop its TLS
        # object under the thread that is reading through it.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Deadline:
    """``seconds`` for everything one request does, from ``with`` on; ``None``: no limit.

    >>> with Deadline(None) as d:
    ...     d.expired, d.left() is None
    (False, True)
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._timer: threading.Timer | None = None
        self._ends: float | None = None
        self._outer: Deadline | None = None

    def __enter__(self) -> Deadline:
        self._outer = getattr(_current, "deadline", None)
        _current.deadline = self
        if self.seconds is not None:
            self._ends = time.monotonic() + self.seconds
            self._timer = threading.Timer(max(0.0, self.seconds), self._expire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _current.deadline = self._outer
        with self._lock:
            self._connections.clear()

    def left(self) -> float | None:
        """Seconds until the deadline (never below zero), or ``None`` without one."""
        return None if self._ends is None else max(0.0, self._ends - time.monotonic())

    def check(self) -> None:
        """Raise ``Expired`` once the deadline has passed."""
        if self.expired:
            raise Expired

    def watch(self, connection: Any) -> None:
        """Shut ``connection`` down when the deadline passes (at once if it has)."""
        if connection is None:
            return
        with self._lock:
            if self.expired:
                _shut(connection)
            else:
                self._connections.append(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for connection in self._connections:
                _shut(connection)


def _register(connection: Any) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _Watched(HTTPConnection):
    """A connection that puts itself under its thread's current deadline."""

    def connect(self) -> None:
        super().connect()
        _register(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _WatchedHttp(_Watched):
    pass


class _WatchedHttps(_Watched, HTTPSConnection):
    pass


class _HttpPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHttp


class _HttpsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHttps


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HttpPool, "https": _HttpsPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections that a ``Deadline`` can shut down.

    SOCKS proxies keep urllib3's own connections: under them only the
    checks between body chunks and answer reads enforce the deadline.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
