"""Stage 3, collect: call one collector over one window, and catch what it does.

The function is called with the old keyword arguments (``since``, ``until``,
``full_path``, ``max_data_size``, ``collection_type``).  A JSON collector
returns a value; a CSV collector returns or yields records (``bytes`` or
``str``, header first, one whole CSV record each: what psycopg 3 ``copy``
yields), or returns the path (or list of paths) of CSV files it wrote.  A
failure is recorded for its task and never stops the run.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from ..errors import CollectorError, describe_exception, message_of
from ..log import logger
from ..records import Mode, Task

__all__ = ["Collected", "collect", "csv_lines", "describe", "json_document"]

log = logger("collect")


@frozen(kw_only=True)
class Collected:
    """What a collector handed back, not yet cut: a document, records or files."""

    task: Task
    started_at: dt.datetime
    started: float
    full_path: Path
    document: bytes | None = None
    records: Iterable[Any] | None = field(default=None, eq=False, repr=False)
    files: tuple[Path, ...] = ()
    error: str | None = None
    # What the collector raised, for the log's traceback (not compared, not shown).
    exception: BaseException | None = field(default=None, eq=False, repr=False)


def _json_default(value: Any) -> Any:
    # What Django's encoder accepts, since old collectors rely on it.
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_document(value: Any, what: str) -> bytes:
    """``value`` as strict JSON (no NaN or Infinity), UTF-8; ``what`` names it in errors."""
    try:
        text = json.dumps(value, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise CollectorError(
            f"{what} returned a value that is not strict JSON"
            f" ({describe_exception(e)}; NaN and Infinity have no JSON form:"
            " send null or a string)"
        ) from None
    return text.encode("utf-8")


def _paths(result: Any) -> tuple[Path, ...] | None:
    if isinstance(result, (str, os.PathLike)):
        return (Path(result),)
    if isinstance(result, (list, tuple)) and all(isinstance(r, (str, os.PathLike)) for r in result):
        # A list of str is ambiguous: paths if the first one names a file.
        if result and isinstance(result[0], str) and not os.path.isfile(result[0]):
            return None
        return tuple(Path(r) for r in result)
    return None


def collect(
    task: Task,
    *,
    workdir: Path,
    max_data_size: int,
    collection_type: Mode,
    clock: Callable[[], dt.datetime],
) -> Collected:
    """Call the task's collector and classify what it returned."""
    collector = task.collector
    # A fresh folder each time: one left by a killed run must not block the next.
    full_path = Path(tempfile.mkdtemp(prefix=f"collect-{task.seq}-{collector.key}-", dir=workdir))
    started_at, started = clock(), time.perf_counter()
    base = Collected(task=task, started_at=started_at, started=started, full_path=full_path)
    log.debug("collector.called", key=collector.key, since=str(task.window.since))
    try:
        result = collector.func(
            since=task.window.since,
            until=task.window.until,
            full_path=str(full_path),
            max_data_size=max_data_size,
            collection_type=collection_type,
        )
        if collector.format == "json":
            if result is None:
                raise CollectorError(f"collector {collector.key!r} returned None, not a JSON value")
            return attrs.evolve(
                base, document=json_document(result, f"collector {collector.key!r}")
            )
        if result is None:
            if collector.none_is_empty:
                return attrs.evolve(base, files=())
            raise CollectorError(
                f"collector {collector.key!r} returned None, which counts as a failed window"
                " (services return None when their query fails); return [] or an empty"
                " iterator for no data, or register it with none_is_empty=True"
            )
        paths = _paths(result)
        if paths is not None:
            return attrs.evolve(base, files=paths)
        if isinstance(result, (bytes, str)):
            raise CollectorError(
                f"collector {collector.key!r} returned one {type(result).__name__};"
                " return or yield records one by one, or return file paths"
            )
        if not isinstance(result, Iterable):
            raise CollectorError(
                f"collector {collector.key!r} returned {type(result).__name__};"
                " expected records or CSV file paths"
            )
        return attrs.evolve(base, records=result)
    except Exception as e:
        return attrs.evolve(base, error=describe(collector.key, e), exception=e)


def describe(key: str, e: BaseException) -> str:
    """What a collector did wrong, in one line; never raises, whatever ``e``'s ``str()`` does."""
    if isinstance(e, CollectorError):
        return message_of(e)
    return f"collector {key!r} raised {describe_exception(e)}"


class _Line:
    """A write target that keeps only the last line ``csv.writer`` wrote."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text = text
        return len(text)


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    r"""Yield CSV records, header first, one per row: for database cursors.

    >>> list(csv_lines(["id", "note"], [(1, "a,b"), (2, "line\nbreak")]))
    ['id,note\r\n', '1,"a,b"\r\n', '2,"line\nbreak"\r\n']
    """
    line = _Line()
    writer = csv.writer(line)
    writer.writerow(header)
    yield line.text
    for row in rows:
        writer.writerow(row)
        yield line.text
