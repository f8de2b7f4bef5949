"""Progress of a run, told from the pipeline's own log events.

The stages never print: they log events (``collection.done``,
``ship.accepted``...).  ``Progress`` is a structlog processor that counts
them as they pass, so a command line can draw a live status line on a
terminal (``Screen``), or log a ``progress`` event every few seconds when
nobody watches (``Ticker``).  Nothing here changes what the library does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, MutableMapping
from types import TracebackType
from typing import Any, TextIO

import attrs

from ..units import human_bytes, human_seconds

__all__ = ["Progress", "Screen", "Tally", "Ticker", "terminal_width"]

_SPINNER = "|/-\\"


@attrs.frozen(kw_only=True)
class Tally:
    """What the run has done so far, as counted from its events."""

    elapsed: float = 0.0
    windows: int | None = None
    done: int = 0
    failed: int = 0
    skipped: int = 0
    rows: int = 0
    bytes: int = 0
    parts: int = 0
    archives: int = 0
    archive_bytes: int = 0
    shipped: int = 0
    shipped_bytes: int = 0
    refused: int = 0
    retries: int = 0
    waiting: str | None = None  # an upload waiting to be tried again, and why
    key: str | None = None
    since: str | None = None

    @property
    def throughput(self) -> float:
        """Collected bytes per second since the run started."""
        return self.bytes / self.elapsed if self.elapsed > 0 else 0.0

    def fields(self) -> dict[str, Any]:
        """The tally as the fields of a ``progress`` event."""
        return {
            "elapsed": round(self.elapsed, 3),
            "windows": self.windows,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "rows": self.rows,
            "bytes": self.bytes,
            "parts": self.parts,
            "archives": self.archives,
            "archive_bytes": self.archive_bytes,
            "shipped": self.shipped,
            "shipped_bytes": self.shipped_bytes,
            "refused": self.refused,
            "retries": self.retries,
            "waiting": self.waiting,
            "bytes_per_second": round(self.throughput, 1),
            "key": self.key,
            "since": self.since,
        }


def _num(e: MutableMapping[str, Any], name: str) -> int:
    value = e.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _retry(t: Tally, e: MutableMapping[str, Any]) -> Tally:
    """An upload failed in a way worth retrying: say which, why, and how long until the next."""
    delay = e.get("delay")
    wait = f" in {delay:.1f} s" if isinstance(delay, (int, float)) else ""
    why = e.get("status") or e.get("error") or "a failure"
    attempt = _num(e, "attempt") + 1
    waiting = f"upload {e.get('archive', '')} attempt {attempt}{wait} (after {why})"
    return attrs.evolve(t, retries=t.retries + 1, waiting=waiting)


def _called(t: Tally, e: MutableMapping[str, Any]) -> Tally:
    if e.get("stage") != "collect":
        return t
    return attrs.evolve(t, key=e.get("key"), since=e.get("since"))


# How each event of the pipeline moves the tally.
_STEPS: dict[str, Callable[[Tally, MutableMapping[str, Any]], Tally]] = {
    "plan.made": lambda t, e: attrs.evolve(t, windows=_num(e, "tasks")),
    "collector.called": _called,
    "collection.done": lambda t, e: attrs.evolve(
        t,
        done=t.done + 1,
        rows=t.rows + _num(e, "rows"),
        bytes=t.bytes + _num(e, "bytes"),
        parts=t.parts + _num(e, "parts"),
    ),
    "collection.failed": lambda t, e: attrs.evolve(t, done=t.done + 1, failed=t.failed + 1),
    "executor.failed": lambda t, e: attrs.evolve(t, done=t.done + 1, failed=t.failed + 1),
    "collection.skipped": lambda t, e: attrs.evolve(t, done=t.done + 1, skipped=t.skipped + 1),
    "archive.written": lambda t, e: attrs.evolve(
        t, archives=t.archives + 1, archive_bytes=t.archive_bytes + _num(e, "bytes")
    ),
    "ship.accepted": lambda t, e: attrs.evolve(
        t, shipped=t.shipped + 1, shipped_bytes=t.shipped_bytes + _num(e, "bytes"), waiting=None
    ),
    "ship.retry": _retry,
    "ship.attempt": lambda t, e: attrs.evolve(t, waiting=None),
    "ship.refused": lambda t, e: attrs.evolve(t, refused=t.refused + 1, waiting=None),
    "ship.corrupted": lambda t, e: attrs.evolve(t, refused=t.refused + 1),
    "archive.held_back": lambda t, e: attrs.evolve(t, refused=t.refused + 1),
}


class Progress:
    """A structlog processor that counts the pipeline's events as they pass.

    Put it in the processor chain before any filter that drops events (it
    needs ``collector.called``, a debug event); it returns every event
    unchanged.  Events of ``config_key`` are not counted: the config
    collection runs once per run, outside the plan's windows.  ``tally()``
    may be read from any thread.
    """

    IGNORED = frozenset({"progress"})

    def __init__(
        self,
        *,
        config_key: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config_key = config_key
        self._monotonic = monotonic
        self._started = monotonic()
        self._lock = threading.Lock()
        self._tally = Tally()

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event = event_dict.get("event")
        if self.config_key is not None and event_dict.get("key") == self.config_key:
            return event_dict  # the config collection is not one of the plan's windows
        if isinstance(event, str) and event not in self.IGNORED:
            with self._lock:
                self._tally = self._count(self._tally, event, event_dict)
        return event_dict

    @staticmethod
    def _count(t: Tally, event: str, e: MutableMapping[str, Any]) -> Tally:
        step = _STEPS.get(event)
        return t if step is None else step(t, e)

    def tally(self) -> Tally:
        """The counts so far, with the time elapsed since this processor was made."""
        with self._lock:
            current = self._tally
        return attrs.evolve(current, elapsed=self._monotonic() - self._started)

    def line(self, width: int = 80, tick: int = 0) -> str:
        """One status line for a terminal, cut to ``width`` characters."""
        t = self.tally()
        total = "?" if t.windows is None else str(t.windows)
        bits = [
            *([t.waiting] if t.waiting else []),  # first: a wait is what the run is doing
            t.key or "planning",
            *([f"since {t.since}"] if t.since else []),
            f"{t.done}/{total} windows",
            f"{t.rows:,} rows",
            human_bytes(t.bytes),
            f"{t.archives} archives, {t.shipped} shipped",
            *([f"{t.failed} failed"] if t.failed else []),
            f"{human_bytes(t.throughput)}/s",
            human_seconds(t.elapsed),
        ]
        text = f"{_SPINNER[tick % len(_SPINNER)]} " + " | ".join(bits)
        return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` writes to: ``COLUMNS``, its size, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


class Screen:
    """The last line of a terminal kept for a status; other lines go above it.

    Every write goes through one lock, so log lines from any thread and the
    status line never interleave.  ``redact`` is applied to all text.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        redact: Callable[[str], str] = lambda s: s,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.stream = stream
        self._redact = redact
        self._width = width or (lambda: terminal_width(stream))
        self._lock = threading.Lock()
        self._status = ""

    @property
    def width(self) -> int:
        return max(20, self._width() - 1)

    def status(self, text: str) -> None:
        """Replace the status line."""
        with self._lock:
            self._status = self._redact(text)
            self.stream.write("\r" + self._status + "\x1b[K")
            self.stream.flush()

    def print(self, text: str) -> None:
        """Print whole lines above the status line."""
        with self._lock:
            prefix = "\r\x1b[K" if self._status else ""
            self.stream.write(prefix + self._redact(text) + "\n")
            if self._status:
                self.stream.write(self._status + "\x1b[K")
            self.stream.flush()

    def clear(self) -> None:
        """Remove the status line for good."""
        with self._lock:
            if self._status:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._status = ""


class Ticker:
    """Call ``func`` every ``interval`` seconds on a thread, while in use."""

    def __init__(self, interval: float, func: Callable[[], None]) -> None:
        self.interval = interval
        self._func = func
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._func()

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
