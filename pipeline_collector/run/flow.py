"""The flow: the named steps a run pipes its records through, as a value.

A ``Flow`` is a tuple of ``Step``\\ s.  Each step takes one kind of record
and gives one kind; the kinds are the records at the pipeline's boundaries::

    task --collect--> rows --chunk--> collection --pack--> batch
         --archive--> archive --ship--> shipment

``default_flow()`` is the flow ``gather`` runs; ``after``, ``before`` and
``replace`` return a new flow with a step added or swapped, so a user's step
goes into the library's own pipeline and the runner's guarantees stay
(``runner``).  Steps up to ``rows`` run where the task runs (an executor's
worker), the rest in the gathering process.

A step maps one record to one record, unless it is a ``stream`` step (``pack``
is one: it takes collections and gives batches as they close).  A step
given ``context=True`` is called with the run's context as its second
argument (``Settings`` in a worker, ``Context`` in the driver).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, get_args

import attrs
from attrs import field, frozen

from ..errors import CollectorError, ConfigurationError
from ..stages.collect import Collected
from ..stages.rows import Rows, split_records

__all__ = [
    "Boundary",
    "Flow",
    "Step",
    "default_flow",
    "filter_rows",
    "map_rows",
    "step",
]

#: The records between the stages, in the order a run meets them.
Boundary = Literal["task", "rows", "collection", "batch", "archive", "shipment"]
ORDER: tuple[Boundary, ...] = get_args(Boundary)
#: Where the runner keeps its guarantees: every flow passes through these.
REQUIRED: tuple[Boundary, ...] = ("collection", "batch", "archive", "shipment")


@frozen(kw_only=True)
class Step:
    """One named step: ``func`` takes a ``takes`` record and gives a ``gives`` record.

    ``stream=True``: ``func`` maps the whole stream of records (an iterable
    in, an iterable out) instead of one record.  ``context=True``: ``func``
    is also given the run's context.
    """

    name: str
    takes: Boundary
    gives: Boundary
    func: Callable[..., Any] = field(eq=False)
    stream: bool = False
    context: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigurationError(
                f"step name {self.name!r} must be a name such as 'drop_test_hosts'"
            )
        for side in ("takes", "gives"):
            if getattr(self, side) not in ORDER:
                raise ConfigurationError(
                    f"step {self.name!r}: {side}={getattr(self, side)!r} is not one of {ORDER}"
                )
        if ORDER.index(self.gives) < ORDER.index(self.takes):
            raise ConfigurationError(
                f"step {self.name!r} takes {self.takes} and gives {self.gives}: a step"
                " cannot run the pipeline backwards"
            )
        if not callable(self.func):
            raise ConfigurationError(f"step {self.name!r}: {self.func!r} is not callable")

    @property
    def in_worker(self) -> bool:
        """Whether the step runs where the task runs (before collections exist)."""
        return self.takes in ("task", "rows")

    def __call__(self, value: Any, context: Any = None) -> Any:
        """Apply the step to one record (or to the stream, for a stream step)."""
        return self.func(value, context) if self.context else self.func(value)


def step(name: str, func: Callable[[Any], Any], *, on: Boundary) -> Step:
    """A step that maps each record of kind ``on`` to one of the same kind.

    >>> count = step("count", lambda archive: archive, on="archive")
    >>> (count.takes, count.gives)
    ('archive', 'archive')
    """
    return Step(name=name, takes=on, gives=on, func=func)


def _steps(value: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(value)


@frozen
class Flow:
    """The steps of a run, in order; a changed flow is a new flow.

    >>> flow = default_flow()
    >>> flow.names
    ('collect', 'chunk', 'pack', 'archive', 'ship')
    >>> flow.before("ship", step("count", lambda a: a, on="archive")).names
    ('collect', 'chunk', 'pack', 'archive', 'count', 'ship')
    """

    steps: tuple[Step, ...] = field(converter=_steps)

    def __attrs_post_init__(self) -> None:
        names = [s.name for s in self.steps]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigurationError(f"the flow names {twice} more than once; names are unique")
        if not self.steps or self.steps[0].takes != "task":
            raise ConfigurationError("a flow starts with a step that takes the plan's tasks")
        for a, b in zip(self.steps, self.steps[1:], strict=False):
            if b.takes != a.gives:
                raise ConfigurationError(
                    f"step {b.name!r} takes {b.takes}, but {a.name!r} before it gives {a.gives}"
                )
        if b_ := [s for s in self.steps if s.in_worker and s.stream]:
            raise ConfigurationError(
                f"step {b_[0].name!r} runs on one task's rows: it cannot be a stream step"
            )
        gives = {s.gives for s in self.steps}
        missing = [k for k in REQUIRED if k not in gives]
        if missing:
            raise ConfigurationError(
                f"the flow never gives {', '.join(missing)}: a run packs, archives and ships"
            )
        workers = sum(1 for s in self.steps if s.in_worker)
        if not all(s.in_worker for s in self.steps[:workers]):
            raise ConfigurationError("steps on tasks and rows come before every other step")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def __getitem__(self, name: str) -> Step:
        return self.steps[self._index(name)]

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigurationError(
                f"the flow has no step {name!r}; it has {', '.join(self.names)}"
            ) from None

    def after(self, name: str, new: Step) -> Flow:
        """This flow with ``new`` right after the step ``name``."""
        i = self._index(name) + 1
        return Flow((*self.steps[:i], _step(new), *self.steps[i:]))

    def before(self, name: str, new: Step) -> Flow:
        """This flow with ``new`` right before the step ``name``."""
        i = self._index(name)
        return Flow((*self.steps[:i], _step(new), *self.steps[i:]))

    def replace(self, name: str, new: Step | Callable[..., Any]) -> Flow:
        """This flow with the step ``name`` done by ``new``.

        A bare function keeps the replaced step's name, kinds and form
        (one record or the stream, with or without the context).
        """
        i = self._index(name)
        old = self.steps[i]
        if not isinstance(new, Step):
            new = attrs.evolve(old, func=new)
        if (new.takes, new.gives) != (old.takes, old.gives):
            raise ConfigurationError(
                f"step {new.name!r} takes {new.takes} and gives {new.gives}; the step"
                f" {name!r} it replaces takes {old.takes} and gives {old.gives}"
            )
        return Flow((*self.steps[:i], new, *self.steps[i + 1 :]))

    def worker(self) -> tuple[Step, ...]:
        """The steps that run where a task runs: tasks to collections."""
        return tuple(s for s in self.steps if s.in_worker)

    def driver(self, *, ships: bool) -> tuple[Step, ...]:
        """The steps the gathering process runs; a dry run stops before ``shipment``."""
        steps = [s for s in self.steps if not s.in_worker]
        return tuple(s for s in steps if ships or s.gives != "shipment")


def _step(value: object) -> Step:
    if not isinstance(value, Step):
        raise ConfigurationError(
            f"{value!r} is not a Step; make one with step(name, func, on=...),"
            " map_rows(name, func) or filter_rows(name, func)"
        )
    return value


def default_flow() -> Flow:
    """The flow ``gather`` runs when given none: collect, chunk, pack, archive, ship."""
    from .steps import archive_step, chunk_step, collect_step, pack_step, ship_step

    return Flow(
        (
            Step(name="collect", takes="task", gives="rows", func=collect_step, context=True),
            Step(name="chunk", takes="rows", gives="collection", func=chunk_step, context=True),
            Step(
                name="pack",
                takes="collection",
                gives="batch",
                func=pack_step,
                stream=True,
                context=True,
            ),
            Step(name="archive", takes="batch", gives="archive", func=archive_step, context=True),
            Step(name="ship", takes="archive", gives="shipment", func=ship_step, context=True),
        )
    )


# --- row-level steps --------------------------------------------------------

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
