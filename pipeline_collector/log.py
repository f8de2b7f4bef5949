"""Structured loggers, one per stage, and the catalogue of every event they emit.

Each event is a noun with fields (``archive.written``, ``bytes=``); one family
per thing; every logger is bound with ``stage=``.  ``EVENTS`` is the one list
of what the library may log: a test fails when the code emits an event (or a
field) the catalogue lacks, and ``docs/events.md`` is generated from it
(``python tests/support/events_doc.py``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Literal

from attrs import frozen

__all__ = ["EVENTS", "Event", "Sink", "diverted", "events_markdown", "logger", "lowest_level"]

Level = Literal["debug", "info", "warning", "error"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}

# Silent unless the host configures logging: records propagate to its handlers.
logging.getLogger("pipeline_collector").addHandler(logging.NullHandler())

# (stage, level, event, fields): where a worker process's events go instead of its logging.
Sink = Callable[[str, int, str, dict[str, Any]], None]
_SINK: ContextVar[Sink | None] = ContextVar("pipeline_collector_sink", default=None)


@contextlib.contextmanager
def diverted(sink: Sink) -> Iterator[None]:
    """Hand this context's events to ``sink`` instead of logging them.

    A worker process keeps its events this way, so the driver can log them
    through its own handlers (``pipeline_collector.run.relay``).
    """
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


class StageLogger:
    """A stage's logger: through structlog when the host configured it, else stdlib ``logging``.

    Decided at each call, so a service may configure either after importing
    the library.  Unconfigured, an event becomes a record of the standard
    logger ``pipeline_collector.<stage>`` (message ``event key=value ...``,
    with ``record.event`` and ``record.fields``), never a line on stdout.
    """

    __slots__ = ("_fields", "_stage")

    def __init__(self, stage: str, fields: Mapping[str, Any]) -> None:
        self._stage = stage
        self._fields = dict(fields)

    def bind(self, **fields: Any) -> StageLogger:
        """A logger with more fields bound; this one is unchanged."""
        return StageLogger(self._stage, {**self._fields, **fields})

    def log(self, level: int | str, event: str, **fields: Any) -> None:
        """Emit ``event`` at ``level`` (a name such as ``"info"`` or a ``logging`` number)."""
        number = level if isinstance(level, int) else _LEVELS[level]
        sink = _SINK.get()
        if sink is not None:
            sink(self._stage, number, event, {**self._fields, **fields})
            return
        host = _host_structlog()
        if host is not None:
            bound = host.get_logger("pipeline_collector", stage=self._stage, **self._fields)
            bound.log(number, event, **fields)
            return
        target = logging.getLogger(f"pipeline_collector.{self._stage}")
        if not target.isEnabledFor(number):
            return
        exc_info = fields.pop("exc_info", None)
        every = {"stage": self._stage, **self._fields, **fields}
        text = " ".join([event, *(f"{k}={v!r}" for k, v in every.items())])
        target.log(number, "%s", text, exc_info=exc_info, extra={"event": event, "fields": every})

    def debug(self, event: str, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(logging.ERROR, event, **fields)


def _host_structlog() -> Any:
    """structlog when the host has configured it, else ``None``.

    A host that never imported structlog cannot have configured it, so the
    library does not import it either: it brings asyncio along, about 5 MiB
    of a run's memory and a third of the package's import time.
    """
    module = sys.modules.get("structlog")
    if module is None or not module.is_configured():
        return None
    return module


def lowest_level() -> int:
    """The lowest level any of the host's ``pipeline_collector`` loggers logs at now.

    A worker process carries back only events at or above it; with
    structlog configured, every event (its own filtering applies here).
    """
    if _host_structlog() is not None:
        return logging.NOTSET
    loggers = [logging.getLogger("pipeline_collector")]
    for name, each in logging.root.manager.loggerDict.items():
        if name.startswith("pipeline_collector.") and isinstance(each, logging.Logger):
            loggers.append(each)
    return min(x.getEffectiveLevel() for x in loggers)


def logger(stage: str, **fields: Any) -> StageLogger:
    """Return the logger of ``stage``, bound with ``stage=<stage>`` (and ``fields``)."""
    return StageLogger(stage, fields)


@frozen
class Event:
    """One event of the catalogue: who emits it, with which fields, and what it means."""

    name: str
    stages: tuple[str, ...]
    level: Level
    fields: tuple[str, ...]
    meaning: str


def _catalogue(*events: Event) -> Mapping[str, Event]:
    table = {e.name: e for e in events}
    assert len(table) == len(events), "an event is listed twice"
    return table


# fmt: off
EVENTS: Mapping[str, Event] = _catalogue(
    # discover
    Event("collectors.found", ("discover",), "debug", ("source", "keys"),
          "Collectors were found in a module or list, with their keys."),
    Event("config.found_by_key", ("discover",), "warning", ("source", "key", "collector", "reason"),
          "No collector says config=True; the one keyed config is taken, as AWX finds it."),
    Event("config.several", ("discover",), "warning", ("source", "key", "others", "reason"),
          "Several say config=True: the one keyed config is it, the others ship as JSON."),
    Event("collector.version_widened", ("discover",), "warning",
          ("key", "version", "written", "reason"),
          "A whole-number version (AWX's register('x', 1)) is written as N.0 in the manifest."),
    # plan
    Event("plan.made", ("plan",), "info", ("since", "until", "last_gather", "tasks", "problems"),
          "The run's window and task count are decided."),
    Event("window.clamped", ("plan",), "warning", ("key", "field", "requested"),
          "A requested since/until, or a slicer's window (with key), was cut to the run's."),
    Event("window.dropped", ("plan",), "warning", ("key", "window", "reason"),
          "A slicer's window lies wholly outside the run's window: not collected."),
    Event("task.nothing_new", ("plan",), "debug", ("key", "since"),
          "A collector's entry is already at the run's end: no task for it."),
    Event("slicer.no_window", ("plan",), "warning", ("key", "window", "reason"),
          "A slicer yielded no window where an earlier run shipped some: a problem of its key."),
    Event("slicer.failed", ("plan",), "error", ("key", "error"),
          "A slicer raised or yielded bad windows: its key stops, the run goes on."),
    # collect
    Event("collector.called", ("collect",), "debug", ("key", "since"),
          "A collector function is about to be called for one window."),
    # chunk
    Event("collection.done", ("chunk",), "info",
          ("key", "window", "status", "rows", "bytes", "parts", "seconds"),
          "A collection finished and was cut into parts (status ok; an empty one at debug)."),
    Event("collection.failed", ("chunk", "pipeline"), "error", ("key", "window", "error"),
          "A collector raised or returned something unusable: its window failed."),
    Event("record.oversized", ("chunk", "compat"), "warning",
          ("key", "part", "file", "bytes", "header_bytes", "limit"),
          "A single record exceeds the part limit and goes alone into its own part."),
    Event("compressor.threads", ("chunk",), "debug", ("key", "reason"),
          "A cut compresses on threads in this process, not in a compressor process of its"
          " own: processes are turned off or not allowed here (the reason says which)."),
    Event("compressor.process_failed", ("chunk",), "warning", ("key", "reason"),
          "The cut's compressor process could not start or ended before it was ready: the"
          " cut goes on on threads."),
    # guard
    Event("schema.changed", ("guard",), "error",
          ("key", "version", "window", "before", "now", "error"),
          "A CSV header changed while its collector's version did not: the collection failed"
          " before any of it shipped; bump the version (or register dynamic_columns=True)."),
    # archive
    Event("archive.written", ("archive",), "info",
          ("archive", "bytes", "raw_bytes", "members", "sha256"),
          "An archive was written to the work folder."),
    # ship: the stage logs the outcome, transports log each attempt
    Event("ship.attempt", ("ship",), "debug",
          ("archive", "attempt", "bytes", "destination", "root", "location"),
          "A transport starts one attempt at sending an archive."),
    Event("ship.retry", ("ship",), "warning",
          ("archive", "attempt", "status", "error", "delay"),
          "An attempt failed in a way worth retrying; the next starts after the delay."),
    Event("preflight.retry", ("ship",), "warning", ("destination", "attempt", "error", "delay"),
          "A preflight found the destination away (no answer, a 5xx or 429): it asks again"
          " after the delay, twice at most."),
    Event("preflight.done", ("ship",), "info",
          ("destination", "ok", "message", "request_id"),
          "A preflight's verdict: whether the destination takes an upload, and in one line"
          " what was proven or what is wrong."),
    Event("ship.already_there", ("ship",), "info", ("archive", "location"),
          "The destination already holds this archive, byte for byte: not sent again."),
    Event("token.fetched", ("ship",), "info", ("token_url", "expires_in"),
          "An OAuth2 access token was fetched (the token itself is never logged)."),
    Event("ship.accepted", ("ship",), "info",
          ("archive", "bytes", "sha256", "destination", "location", "status", "request_id",
           "attempts", "maybe_duplicated", "seconds"),
          "The destination confirmed an archive."),
    Event("ship.refused", ("ship",), "error",
          ("archive", "error", "status", "attempts", "maybe_delivered"),
          "The destination did not confirm an archive; its windows are sent again."),
    Event("ship.corrupted", ("ship",), "error", ("archive", "error"),
          "The destination reports a checksum other than the archive's."),
    # pipeline
    Event("run.gated", ("pipeline",), "warning", ("reason", "lock"),
          "A gate is closed (licence, shipping, or the lock another run holds): the run does"
          " nothing (debug when scheduled)."),
    Event("limits.small", ("pipeline",), "warning", ("reason",),
          "max_data_size or max_upload_size is below 1 MiB, most likely bytes where MiB were"
          " meant: the run goes on, making many small parts and archives."),
    Event("workdir.swept", ("pipeline",), "info", ("folder",),
          "A folder left by a killed run was removed, under the lock."),
    Event("run.failed", ("pipeline",), "error", ("reason",),
          "The config collector failed: nothing is shipped without it."),
    Event("executor.failed", ("pipeline",), "error", ("key", "window", "error"),
          "An executor could not run a task (a lost worker, say): that window failed."),
    Event("collection.skipped", ("pipeline",), "warning", ("key", "window", "reason"),
          "A window is not collected because an earlier window of its key failed."),
    Event("executor.replaced", ("pipeline",), "warning", ("key", "window", "reason"),
          "A worker process of the pool died: a pool of the run's own takes the rest, and"
          " the tasks that were running are tried once more."),
    Event("task.timed_out", ("pipeline",), "error", ("key", "window", "error"),
          "A task ran past task_timeout: it fails by name and the run ends, releasing its"
          " lock; a thread that cannot be stopped is left to end by itself."),
    Event("step.failed", ("pipeline",), "error", ("step", "error"),
          "A step of the flow raised or gave a record the run cannot account for (an"
          " archive not written, a collection dropped): the keys it held failed."),
    Event("archive.held_back", ("pipeline",), "warning", ("archive", "reason"),
          "An archive is not shipped: the next run resends its windows anyway."),
    Event("window.partly_shipped", ("pipeline",), "warning", ("archive", "keys", "reason"),
          "A shipped archive holds part of a window that failed elsewhere: it is resent."),
    Event("state.record_unreadable", ("pipeline",), "warning", ("record", "error"),
          "A record the library keeps in the state (schemas), or an entry of it, is not of"
          " its shape: that part is not used (the guard is off for its key or version only)"
          " and is left as it is until its key ships again."),
    Event("state.saved", ("pipeline",), "info", ("store", "entries", "last_gather"),
          "The bookkeeping was saved: after each confirmed upload, and at the end;"
          " `entries` and `last_gather` are what this save moved."),
    Event("state.writable", ("pipeline",), "debug", ("store",),
          "The store took a save that changed nothing, before anything shipped."),
    Event("state.unrecorded", ("pipeline",), "error", ("archive", "store", "error"),
          "An archive was delivered but the state could not record it: the run stops, and"
          " the next run sends it again."),
    Event("worker.events_dropped", ("pipeline",), "warning", ("key", "window", "worker", "dropped"),
          "A worker process logged more events for one task than are carried back: the first"
          " and the last reach the host's handlers, this many between them did not."),
    Event("run.done", ("pipeline",), "info",
          ("mode", "status", "seconds", "collections", "rows", "bytes", "archives",
           "archive_bytes", "shipped", "failed", "possible_duplicates"),
          "The run finished, with its figures: `seconds` it took, `rows` and `bytes` of"
          " uncompressed CSV and JSON collected, `archive_bytes` the archives' compressed"
          " size."),
    # state stores and locks
    Event("state.loaded", ("state",), "debug", ("store", "path", "table", "entries"),
          "A state store read the saved bookkeeping."),
    Event("state.missing", ("state",), "info", ("store", "path"),
          "A state store holds nothing yet: the run starts from the horizon."),
    Event("lock.held", ("lock",), "info", ("kind", "path", "holder", "key"),
          "A lock is held by another process (its PID for a file lock): not taken."),
    Event("lock.acquired", ("lock",), "debug", ("kind", "path", "key"),
          "A lock was taken."),
    Event("lock.released", ("lock",), "debug", ("kind", "path", "key"),
          "A lock was released."),
    Event("lock.lost", ("lock",), "error", ("error",),
          "A lock's connection failed while it was held: another run may start."),
    Event("lock.release_unheld", ("lock",), "warning", (),
          "The database said the lock was not held at release: nothing was unlocked."),
    # helpers for collector authors
    Event("copy.cancelled", ("copy",), "debug", ("error",),
          "A COPY was cancelled because its consumer stopped early."),
    Event("copy.cancel_failed", ("copy",), "debug", ("error",),
          "Cancelling a COPY failed: the rest of it is read and dropped instead."),
    # the local ingress
    Event("ingress.received", ("ingress",), "info", ("request_id", "bytes", "auth"),
          "The local ingress accepted an upload."),
    Event("ingress.preflight", ("ingress",), "info", ("request_id", "auth"),
          "The local ingress answered a preflight (a form field test=test) 200; nothing was"
          " staged."),
    Event("ingress.dropped", ("ingress",), "debug", ("after",),
          "The local ingress dropped a connection, as scripted."),
    Event("ingress.connection_error", ("ingress",), "debug", ("error",),
          "A connection to the local ingress failed."),
    Event("ingress.store_failed", ("ingress",), "error", ("request_id", "error"),
          "The local ingress read an upload it could not store (a full disk, a folder gone"
          " or not writable): it answered 507 or 500."),
    Event("ingress.failed", ("ingress",), "error", ("error",),
          "The local ingress failed while it answered a request: it answered 500."),
    # the command line
    Event("progress", ("cli",), "info", (),
          "The command line's periodic progress line (JSON log mode)."),
    Event("env.unknown", ("cli",), "warning", ("variable", "closest", "reason"),
          "A PIPELINE_COLLECTOR_ variable the command does not read (a misspelling, say):"
          " it is ignored; `closest` is the known name nearest to it."),
    Event("run.dry", ("cli",), "warning", ("reason",),
          "A dry run was given a destination: nothing is sent there."),
    Event("library.log", ("cli",), "warning", ("logger", "message"),
          "A record of another library's standard logging (boto3, urllib3), in the CLI's log."),
)
# fmt: on


def events_markdown() -> str:
    """``docs/events.md``: the catalogue as a table per stage."""
    lines = [
        "# Log events",
        "",
        "Every event the library logs, generated from `pipeline_collector.log.EVENTS`",
        "(`python tests/support/events_doc.py`). Each event carries",
        "`stage=` and the fields listed; a field is present where it applies.",
        "An event logged in a worker process (a process pool's, dask's) is logged",
        "again in the process that called `gather`, with `worker=` (`host:pid`) added.",
    ]
    stages: dict[str, list[Event]] = {}
    for event in EVENTS.values():
        for stage in event.stages:
            stages.setdefault(stage, []).append(event)
    for stage, events in stages.items():
        lines += ["", f"## stage `{stage}`", "", "| event | level | fields | meaning |"]
        lines += ["| --- | --- | --- | --- |"]
        for e in events:
            fields = ", ".join(f"`{f}`" for f in e.fields) or "-"
            lines.append(f"| `{e.name}` | {e.level} | {fields} | {e.meaning} |")
    return "\n".join(lines) + "\n"
