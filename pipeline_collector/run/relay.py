"""Events logged in a worker process, carried back to the driver's handlers.

A process pool's or dask's worker process has logging of its own: none
(spawned), or a copy of the driver's handlers (forked) writing past the
host's configuration.  ``run_remote`` runs a task there with its events kept
instead of logged; ``replay`` logs them in the driver, in order, through the
same stage loggers, each with ``worker=`` (``host:pid``).  A failure's
traceback comes back as text: the exception is rebuilt when it unpickles,
with the worker's traceback as its cause (as ``concurrent.futures`` shows a
worker's error).  At most ``LIMIT`` events per task come back: the first
ones and the last (the task's outcome), with a count of those dropped.
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ..errors import message_of
from ..log import diverted, logger
from ..records import Collection, Task

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "LIMIT",
    "Failure",
    "Logged",
    "Relayed",
    "WorkerError",
    "WorkerTraceback",
    "here",
    "replay",
    "run_remote",
]

LIMIT = 100

log = logger("pipeline")

_PLAIN = (str, int, float, bool, type(None))


class WorkerTraceback(Exception):
    """The traceback of an exception raised in a worker process, as text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


class WorkerError(Exception):
    """An exception from a worker process that could not be rebuilt here."""


@frozen
class Failure:
    """An exception logged in a worker: its traceback as text, and itself pickled when it can be."""

    text: str
    kind: str
    message: str
    pickled: bytes | None

    def exc_info(self) -> tuple[type[BaseException], BaseException, None]:
        """An ``exc_info`` for this process's handlers, the worker's traceback as cause."""
        error: BaseException = WorkerError(f"{self.kind}: {self.message}")
        if self.pickled is not None:
            try:
                rebuilt = pickle.loads(self.pickled)  # noqa: S301  # our own worker's bytes
            except Exception:
                rebuilt = None
            if isinstance(rebuilt, BaseException):
                error = rebuilt
        error.__cause__ = WorkerTraceback(self.text)
        return type(error), error, None


@frozen
class Logged:
    """One event a worker logged."""

    stage: str
    level: int
    event: str
    fields: Mapping[str, Any]
    failure: Failure | None


@frozen
class Relayed:
    """A worker's collection with the events it logged (first ones and the last)."""

    collection: Collection
    worker: str
    logged: tuple[Logged, ...]
    dropped: int


def _plain(value: Any) -> Any:
    """A field's value fit to cross to the driver: plain data as it is, else its repr.

    >>> _plain({"keys": ["a", "b"], "store": object})
    {'keys': ['a', 'b'], 'store': "<class 'object'>"}
    """
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def _failure(exc_info: Any) -> Failure | None:
    if isinstance(exc_info, BaseException):
        info: Any = (type(exc_info), exc_info, exc_info.__traceback__)
    elif isinstance(exc_info, tuple):
        info = exc_info
    elif exc_info:
        info = sys.exc_info()
    else:
        return None
    kind, value, tb = info
    if kind is None:
        return None
    try:
        pickled: bytes | None = pickle.dumps(value)
    except Exception:
        pickled = None
    text = "".join(traceback.format_exception(kind, value, tb))
    return Failure(text=text, kind=kind.__name__, message=message_of(value), pickled=pickled)


def here() -> str:
    """This process as ``worker=`` names it: ``host:pid`` (a dask worker may be on another host)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_remote(
    work: Callable[[Task, Settings], Collection],
    task: Task,
    settings: Settings,
    driver: str,
    level: int,
) -> Collection | Relayed:
    """``work(task, settings)``; outside the ``driver`` process, events kept for ``replay``."""
    worker = here()
    if worker == driver:  # a thread of the driver: its handlers are right here
        return work(task, settings)
    kept: list[Logged] = []
    last: list[Logged] = []
    dropped = 0

    def keep(stage: str, number: int, event: str, fields: dict[str, Any]) -> None:
        nonlocal dropped
        if number < level:
            return
        failure = _failure(fields.pop("exc_info", None))
        item = Logged(
            stage=stage,
            level=number,
            event=event,
            fields={k: _plain(v) for k, v in fields.items()},
            failure=failure,
        )
        if len(kept) < LIMIT - 1:
            kept.append(item)
            return
        dropped += len(last)
        last[:] = [item]

    with diverted(keep):
        collection = work(task, settings)
    return Relayed(collection=collection, worker=worker, logged=(*kept, *last), dropped=dropped)


def _emit(item: Logged, worker: str) -> None:
    fields: dict[str, Any] = {**item.fields, "worker": worker}
    if item.failure is not None:
        fields["exc_info"] = item.failure.exc_info()
    logger(item.stage).log(item.level, item.event, **fields)


def replay(relayed: Relayed) -> Collection:
    """Log a worker's events here, in order; return its collection."""
    logged = relayed.logged
    head, tail = (logged[:-1], logged[-1:]) if relayed.dropped else (logged, ())
    for item in head:
        _emit(item, relayed.worker)
    if relayed.dropped:
        task = relayed.collection.task
        log.warning(
            "worker.events_dropped",
            key=task.key,
            window=str(task.window),
            worker=relayed.worker,
            dropped=relayed.dropped,
        )
    for item in tail:
        _emit(item, relayed.worker)
    return relayed.collection
