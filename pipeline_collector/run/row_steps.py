"""Row-level steps: edit or drop a CSV collector's rows before they are cut.

``map_rows`` and ``filter_rows`` make a ``Step`` from ``rows`` to ``rows``
(``flow.after("collect", ...)``).  A row is a dict by column; the header is
kept, and a row the function gives back unchanged keeps its bytes as the
collector wrote them.  The steps run where the task runs: give a
module-level function when tasks run in processes, so it pickles.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
from attrs import frozen

from ..errors import CollectorError
from ..stages.collect import Collected
from ..stages.rows import Rows, split_records
from .flow import Step

__all__ = ["filter_rows", "map_rows"]


Row = Mapping[str, str]


def map_rows(name: str, func: Callable[[dict[str, str]], Mapping[str, str]]) -> Step:
    """A step that passes each CSV row (a dict by column) through ``func`` before it is cut.

    The header stays; a row ``func`` gives back unchanged keeps its bytes as
    the collector wrote them.  JSON collections pass untouched.  Runs where
    the task runs: give a module-level function when tasks run in processes.
    """
    return Step(name=name, takes="rows", gives="rows", func=_RowEdit(name, func, keep=False))


def filter_rows(name: str, func: Callable[[dict[str, str]], bool]) -> Step:
    """A step that keeps only the CSV rows for which ``func`` is true (header kept)."""
    return Step(name=name, takes="rows", gives="rows", func=_RowEdit(name, func, keep=True))


@frozen
class _RowEdit:
    """A picklable row edit: a filter (``keep``) or a map, named for its errors."""

    name: str
    func: Callable[[dict[str, str]], Any]
    keep: bool

    def __call__(self, collected: Collected) -> Collected:
        if collected.error is not None or collected.document is not None:
            return collected
        if collected.records is None and not collected.files:
            return collected
        return attrs.evolve(collected, records=self._edited(collected), files=())

    def _edited(self, collected: Collected) -> Iterator[bytes]:
        from ..stages.chunk import file_records

        key = collected.task.key
        sources: list[Iterable[Any]] = (
            [collected.records]
            if collected.records is not None
            else [file_records(p, key) for p in collected.files]
        )
        header: bytes | None = None
        columns: list[str] = []
        for n, source in enumerate(sources):
            first = True
            for record in _records(source, key):
                if first:
                    first = False
                    if header is None:
                        header = record
                        columns = _fields(record)
                        yield record
                    elif record != header:
                        raise CollectorError(
                            f"collector {key!r}: file {n + 1} has another CSV header than"
                            f" the first, so step {self.name!r} cannot read its rows"
                        )
                    continue
                edited = self._edit(columns, record, key)
                if edited is not None:
                    yield edited

    def _edit(self, columns: list[str], record: bytes, key: str) -> bytes | None:
        values = _fields(record)
        row = dict(zip(columns, values, strict=False))
        try:
            result = self.func(dict(row))
        except Exception as e:
            raise CollectorError(
                f"step {self.name!r} raised {type(e).__name__} on a row of {key!r}: {e}"
            ) from e
        if self.keep:
            return record if result else None
        if not isinstance(result, Mapping):
            raise CollectorError(
                f"step {self.name!r} gave {type(result).__name__} for a row of {key!r};"
                " a map step gives the row back as a dict"
            )
        if dict(result) == row:
            return record
        unknown = sorted(set(result) - set(columns))
        if unknown:
            raise CollectorError(
                f"step {self.name!r} gave columns {unknown} that {key!r}'s header does not have"
            )
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([result.get(c, "") for c in columns])
        return out.getvalue().encode("utf-8")


def _records(source: Iterable[Any], key: str) -> Iterator[bytes]:
    """Whole records, one ``bytes`` each, from what a collector yields."""
    for value in source:
        if type(value) is Rows:
            yield from split_records(value)
        elif isinstance(value, str):
            yield value.encode("utf-8") if value.endswith("\n") else (value + "\n").encode()
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            yield data if data.endswith(b"\n") else data + b"\n"
        else:
            raise CollectorError(
                f"collector {key!r} yielded {type(value).__name__}; expected bytes or str"
            )


def _fields(record: bytes) -> list[str]:
    return next(csv.reader([record.decode("utf-8")]), [])
