"""The driver's half of a flow, with the runner's checkpoints between its steps.

Whatever steps a flow has, the records that cross each boundary are
checked here and the books kept here, so no step can drop what the run
must account for:

- collections: each step gives back a collection of the same task (never
  inventing parts or a success); then the schema guard runs and the
  bookkeeper notes each one;
- batches: every part of every collection lands in exactly one batch; a
  part left out fails its key, naming the step;
- archives: each step gives the archive of its own batch, on disk at its
  stated size and within the upload bound; then it is noted and its parts
  removed;
- shipments: an archive holding a window that failed earlier in the run is
  held back; the bookkeeper moves and saves the state on each answer before
  any later step sees it; the archive is removed once the flow is done
  with it.

A step that raises fails the records it held (their keys stop, as after a
failed upload); its error names the step.  A ``ConfigurationError`` is the
run's set-up, not a record's fault: it ends the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from ..book.bookkeeper import Bookkeeper
from ..book.schemas import Header
from ..errors import ConfigurationError, describe_exception
from ..log import logger
from ..records import Archive, Batch, Collection, Part, Shipment, Task
from ..stages.guard import guard
from .flow import Step
from .settings import Context
from .steps import discard_parts, failed_collection, run_tasks

__all__ = ["drive"]

log = logger("pipeline")


def drive(
    tasks: Iterable[Task],
    steps: tuple[Step, ...],
    context: Context,
    book: Bookkeeper,
    known: dict[str, dict[str, Header]],
    executor: Executor | None,
    task_timeout: float | None = None,
) -> None:
    """Run ``tasks`` through the worker steps and then ``steps``, keeping the books."""
    stream: Iterator[Any] = run_tasks(
        tasks,
        settings=context.settings,
        executor=executor,
        stopped=book.stopped,
        task_timeout=task_timeout,
    )
    noted = archived = False
    for s in steps:
        if s.gives != "collection" and not noted:
            stream = _noted(stream, book, known)
            noted = True
        ships = s.gives == "shipment"
        if ships and not archived:
            stream = _archived(stream, book)
            archived = True
        stream = _apply(s, stream, context, book)
    if not archived:  # a dry run ends with its archives
        stream = _archived(stream, book)
    for item in stream:  # drive the lazy pipeline; the flow is done with each item
        if isinstance(item, Shipment):
            _remove(item.archive.path, context)


def _apply(s: Step, stream: Iterator[Any], context: Context, book: Bookkeeper) -> Iterator[Any]:
    if s.stream:
        return _packed(s, stream, context, book)
    kind = (s.takes, s.gives)
    if kind == ("collection", "collection"):
        return _each(s, stream, context, _same_collection, _fail_collection(context))
    if kind == ("batch", "batch"):
        return _each(s, stream, context, _same_batch, _fail_batch(book))
    if kind in (("batch", "archive"), ("archive", "archive")):
        return _each(s, stream, context, _archive_of, _fail_archive(book, context))
    if kind == ("archive", "shipment"):
        return _shipped(s, stream, context, book)
    if kind == ("shipment", "shipment"):
        return _each(s, stream, context, _same_shipment, _fail_shipment(book))
    raise AssertionError(f"no checkpoint for a step from {s.takes} to {s.gives}")


def _each(
    s: Step,
    stream: Iterable[Any],
    context: Context,
    check: Callable[[Any, Any, Context], str | None],
    fail: Callable[[Any, Any, str], Any],
) -> Iterator[Any]:
    """Apply a one-record step; a raise or a wrong record is ``fail``-ed, naming the step."""
    for record in stream:
        out: Any = None
        try:
            out = s(record, context)
            problem = check(record, out, context)
        except ConfigurationError:
            raise  # the run is set up wrong (a name function, say): no record is to blame
        except Exception as e:
            problem = f"raised {describe_exception(e)}"
        if problem is None:
            yield out
            continue
        error = f"step {s.name!r} {problem}"
        log.error("step.failed", step=s.name, error=error)
        replacement = fail(record, out, error)
        if replacement is not None:
            yield replacement


# --- collections ----------------------------------------------------------------


def _same_collection(before: Collection, after: Any, context: Context) -> str | None:
    if not isinstance(after, Collection):
        return f"gave {type(after).__name__}, not a Collection"
    if after.task != before.task:
        return f"gave the collection of another task ({after.key!r}, not {before.key!r})"
    if not set(after.parts) <= set(before.parts):
        return f"gave parts of {before.key!r} that were not collected"
    if after.ok and not before.ok:
        return f"turned the failed collection of {before.key!r} into a success"
    return None


def _fail_collection(context: Context) -> Callable[[Collection, Any, str], Collection]:
    def fail(before: Collection, after: Any, error: str) -> Collection:
        discard_parts(before)
        return failed_collection(before.task, context.settings.clock(), error)

    return fail


def _noted(
    stream: Iterable[Collection], book: Bookkeeper, known: dict[str, dict[str, Header]]
) -> Iterator[Collection]:
    """The schema guard, then the bookkeeper: every collection is counted once."""
    for c in guard(_only(stream, Collection, "collections"), known=known):
        book.collected(c)
        yield c


def _only(stream: Iterable[Any], kind: type, what: str) -> Iterator[Any]:
    for item in stream:
        if not isinstance(item, kind):
            raise TypeError(f"the flow gave {type(item).__name__} where {what} belong")
        yield item


# --- batches --------------------------------------------------------------------


def _packed(s: Step, stream: Iterator[Any], context: Context, book: Bookkeeper) -> Iterator[Batch]:
    """A stream step from collections to batches: every part placed exactly once."""
    fed: dict[Part, Collection] = {}
    placed: set[Part] = set()

    upstream: list[BaseException] = []

    def feed() -> Iterator[Collection]:
        try:
            for c in stream:
                fed.update(dict.fromkeys(c.parts, c))
                yield c
        except BaseException as e:  # not the step's fault: it goes on up
            upstream.append(e)
            raise

    try:
        for batch in s(feed(), context):
            problem = _batch_problem(batch, fed, placed)
            if problem is not None:
                error = f"step {s.name!r} {problem}"
                log.error("step.failed", step=s.name, error=error)
                if isinstance(batch, Batch):
                    _lose(book, batch, error)
                continue
            placed.update(batch.parts)
            yield batch
    except Exception as e:
        if upstream and e is upstream[0]:
            raise
        error = f"step {s.name!r} raised {describe_exception(e)}"
        log.error("step.failed", step=s.name, error=error)
        book.errors.append(error)
    left = [p for p in fed if p not in placed]
    if left:
        error = f"step {s.name!r} left out parts of {sorted({p.key for p in left})}"
        log.error("step.failed", step=s.name, error=error)
        collections = tuple(dict.fromkeys(fed[p] for p in left))
        _lose(book, Batch(group="", number=-1, parts=tuple(left), collections=collections), error)


def _batch_problem(batch: Any, fed: dict[Part, Collection], placed: set[Part]) -> str | None:
    if not isinstance(batch, Batch):
        return f"gave {type(batch).__name__}, not a Batch"
    for p in batch.parts:
        if p not in fed:
            return f"put a part of {p.key!r} in batch {batch.number} that was never collected"
        if p in placed:
            return f"put a part of {p.key!r} in two batches"
    keys = [p.key for p in batch.parts]
    if len(set(keys)) != len(keys):
        return f"put two parts of one key in batch {batch.number}"
    return None


def _same_batch(before: Batch, after: Any, context: Context) -> str | None:
    if not isinstance(after, Batch):
        return f"gave {type(after).__name__}, not a Batch"
    if (after.group, after.number) != (before.group, before.number) or set(after.parts) != set(
        before.parts
    ):
        return f"changed batch {before.number}'s parts"
    if set(after.collections) != set(before.collections):
        return f"changed batch {before.number}'s collections"
    return None


def _fail_batch(book: Bookkeeper) -> Callable[[Batch, Any, str], None]:
    def fail(before: Batch, after: Any, error: str) -> None:
        _lose(book, before, error)

    return fail


def _lose(book: Bookkeeper, batch: Batch, error: str) -> None:
    discard_parts(batch)
    book.unwritten(batch, error)


# --- archives -------------------------------------------------------------------


def _batch_of(record: Batch | Archive) -> Batch:
    return record if isinstance(record, Batch) else record.batch


def _archive_of(before: Batch | Archive, after: Any, context: Context) -> str | None:
    """Why ``after`` is not the archive of ``before``'s batch, on disk and within the bound."""
    if not isinstance(after, Archive):
        return f"gave {type(after).__name__}, not an Archive"
    if after.batch != _batch_of(before):
        return f"gave the archive of another batch ({after.batch.number})"
    try:
        size = after.path.stat().st_size
    except OSError as e:
        return f"gave {after.name}, which is not on disk ({e.strerror})"
    if size != after.size:
        return f"gave {after.name} of {size} bytes on disk, not the {after.size} it claims"
    bound = context.limits.max_upload_size
    if size > bound:
        return f"gave {after.name} of {size} bytes, over the upload bound of {bound}"
    return None


def _fail_archive(book: Bookkeeper, context: Context) -> Callable[[Any, Any, str], None]:
    def fail(before: Batch | Archive, after: Any, error: str) -> None:
        for record in (before, after):
            if isinstance(record, Archive):
                _remove(record.path, context)
        _lose(book, _batch_of(before), error)

    return fail


def _archived(stream: Iterable[Any], book: Bookkeeper) -> Iterator[Archive]:
    """Each archive (checked by the steps that gave it) noted, and its parts removed."""
    for archive in _only(stream, Archive, "archives"):
        discard_parts(archive)
        book.archived(archive)
        yield archive


def _remove(path: Path, context: Context) -> None:
    """Remove a file the run wrote; never one outside the run's work folder."""
    if path.parent.resolve() == context.settings.workdir.resolve():
        path.unlink(missing_ok=True)


# --- shipments ------------------------------------------------------------------


def _shipped(
    s: Step, stream: Iterable[Archive], context: Context, book: Bookkeeper
) -> Iterator[Shipment]:
    """Ship each archive unless held back; the books move on each answer at once."""
    for archive in stream:
        late = sorted({p.key for p in archive.batch.parts if book.resent(p)})
        if late:
            why = f"holds windows of {late} that failed in an earlier archive"
            log.warning("archive.held_back", archive=archive.name, reason=why)
            shipment = Shipment(archive=archive, error=why, skipped=True)
        else:
            out: Any = None
            problem: str | None = None
            try:
                out = s(archive, context)
                problem = _shipment_of(archive, out, context)
            except Exception as e:
                problem = f"raised {describe_exception(e)}"
            if problem is None:
                shipment = out
            else:
                error = f"step {s.name!r} {problem}"
                log.error("step.failed", step=s.name, error=error)
                # It may have sent the archive before it failed: say so.
                shipment = Shipment(archive=archive, error=error, maybe_delivered=True)
        book.shipped(shipment)  # moves and saves the state
        yield shipment


def _shipment_of(archive: Archive, after: Any, context: Context) -> str | None:
    if not isinstance(after, Shipment):
        return f"gave {type(after).__name__}, not a Shipment"
    if after.archive != archive:
        return f"gave the shipment of another archive ({after.archive.name})"
    return None


def _same_shipment(before: Shipment, after: Any, context: Context) -> str | None:
    problem = _shipment_of(before.archive, after, context)
    if problem is None and after.ok != before.ok:
        return f"changed whether {before.archive.name} was shipped"
    return problem


def _fail_shipment(book: Bookkeeper) -> Callable[[Shipment, Any, str], Shipment]:
    def fail(before: Shipment, after: Any, error: str) -> Shipment:
        book.errors.append(error)
        return before

    return fail
