"""Where the command writes: log lines, the status line and ``progress`` events.

The command, and only the command, routes structlog's events (the library's
included) to stderr for the time of a run, as console lines on a terminal or
JSON lines elsewhere, and puts the configuration back when it ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any, TextIO

import attrs
import structlog

from ..log import logger
from .options import LOG_LEVELS
from .progress import Progress, Screen, Ticker
from .secrets import Redactor

__all__ = ["Console", "live", "make_console", "routed_logs"]

_METHOD_LEVELS = {**LOG_LEVELS, "warn": 30, "exception": 40, "msg": 20, "fatal": 50, "err": 40}


def _drop_below(level: int) -> Callable[[Any, str, MutableMapping[str, Any]], Any]:
    def drop(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        if _METHOD_LEVELS.get(method_name, 20) < level:
            raise structlog.DropEvent
        return event_dict

    return drop


class _Emit:
    """The last processor: write the rendered line, then stop the chain.

    Loggers bound before the command configured logging keep the logger
    they were made with; writing here sends every line to one place.
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def __call__(self, logger: Any, method_name: str, rendered: Any) -> Any:
        self._write(rendered if isinstance(rendered, str) else str(rendered))
        raise structlog.DropEvent


class _StdlibBridge(logging.Handler):
    """Standard-library log records (boto3, urllib3) as structlog events."""

    def emit(self, record: logging.LogRecord) -> None:
        log = logger("cli")
        with contextlib.suppress(Exception):
            log.log(record.levelno, "library.log", logger=record.name, message=record.getMessage())


@attrs.define
class Console:
    """Where the command writes and how: a terminal or JSON lines on stderr."""

    stderr: TextIO
    stdout: TextIO
    redact: Redactor
    terminal: bool
    json_logs: bool
    level: int
    progress_mode: str
    interval: float
    screen: Screen | None = None
    progress: Progress | None = None
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def line(self, text: str) -> None:
        """A line on stderr, above the status line when there is one."""
        if self.screen is not None:
            self.screen.print(text)
            return
        with self._lock:  # the progress thread logs too
            self.stderr.write(self.redact(text) + "\n")
            self.stderr.flush()

    def out(self, text: str) -> None:
        """A line of the command's result on stdout."""
        self.stdout.write(self.redact(text) + "\n")
        self.stdout.flush()

    def error(self, message: str, code: int) -> int:
        """Say why the command stops (a JSON line off a terminal); return ``code``."""
        if self.json_logs:
            event = {
                "event": "command.failed",
                "error": message,
                "exit_code": code,
                "level": "error",
                "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            }
            self.line(json.dumps(event))
        else:
            self.line(f"pipeline-collector: error: {message}")
        return code


def make_console(o: Mapping[str, Any], redactor: Redactor, *, quiet: bool = False) -> Console:
    """The console the options ask for; ``quiet`` keeps info events off JSON logs."""
    terminal = sys.stderr.isatty()
    fmt = o.get("log_format") or "auto"
    json_logs = fmt == "json" or (fmt == "auto" and not terminal)
    verbose = int(o.get("verbose") or 0)
    if o.get("log_level"):
        level = LOG_LEVELS[o["log_level"]]
    elif verbose:
        level = 20 if verbose == 1 else 10
    else:
        level = 20 if json_logs and not quiet else 30
    mode = o.get("progress") or "auto"
    if mode == "auto":
        mode = "line" if terminal else "events"
    interval = o.get("progress_interval")
    return Console(
        stderr=sys.stderr,
        stdout=sys.stdout,
        redact=redactor,
        terminal=terminal,
        json_logs=json_logs,
        level=level,
        progress_mode=mode,
        interval=10.0 if interval is None else float(interval),
    )


@contextlib.contextmanager
def routed_logs(console: Console, *, with_progress: bool) -> Iterator[Console]:
    """Route every structlog event (the library's included) to the console.

    The processor list is changed in place, as ``structlog.testing.
    capture_logs`` does, so loggers bound at import time follow it; it is
    put back on exit.
    """
    if with_progress and console.progress_mode in ("line", "events"):
        console.progress = Progress()
        if console.progress_mode == "line":
            console.screen = Screen(console.stderr, redact=console.redact)
    renderer: Any
    if console.json_logs:
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = console.terminal and "NO_COLOR" not in os.environ
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if console.progress is not None:
        chain.append(console.progress)
    chain += [
        _drop_below(console.level),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if console.json_logs:
        chain.append(structlog.processors.format_exc_info)
    chain += [renderer, _Emit(console.line)]
    processors = structlog.get_config()["processors"]
    saved = list(processors)
    processors[:] = chain
    structlog.configure(processors=processors)
    bridge = _StdlibBridge(level=logging.WARNING)
    root = logging.getLogger()
    root.addHandler(bridge)
    try:
        yield console
    finally:
        root.removeHandler(bridge)
        if console.screen is not None:
            console.screen.clear()
        processors[:] = saved
        structlog.configure(processors=processors)


@contextlib.contextmanager
def live(console: Console) -> Iterator[None]:
    """Draw the status line, or log ``progress`` events, while the run goes on."""
    progress = console.progress
    if progress is None:
        yield
        return
    if console.screen is not None:
        screen = console.screen
        ticks = iter(range(1 << 62))

        def draw() -> None:
            screen.status(progress.line(screen.width, next(ticks)))

        draw()
        with Ticker(0.2, draw):
            yield
        return
    log = logger("cli")

    def emit() -> None:
        log.info("progress", **progress.tally().fields())

    if console.interval > 0:
        with Ticker(console.interval, emit):
            yield
    else:
        yield
    emit()  # the final counts, always
