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

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, get_args

import attrs
from attrs import field, frozen

from ..errors import ConfigurationError
from ..records import Archive, Batch, Collection, Shipment, Task
from ..stages.archive import write_archive
from ..stages.chunk import split
from ..stages.collect import Collected, collect
from ..stages.pack import pack
from ..stages.ship import ship
from .settings import Context, Settings

__all__ = [
    "Boundary",
    "archive_step",
    "chunk_step",
    "collect_step",
    "pack_step",
    "ship_step",
    "Flow",
    "Step",
    "default_flow",
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


# --- the default flow's steps -----------------------------------------------


def collect_step(task: Task, settings: Settings) -> Collected:
    """Call the task's collector over its window."""
    return collect(
        task,
        workdir=settings.parts,  # inside the run's own folder: swept with it, never by others
        max_data_size=settings.max_data_size,
        collection_type=settings.mode,
        clock=settings.clock,
    )


def chunk_step(collected: Collected, settings: Settings) -> Collection:
    """Cut what was collected into compressed parts, each within the upload bound."""
    return split(
        collected,
        directory=settings.parts,
        max_data_size=settings.max_data_size,
        max_deflated=settings.max_deflated,
        compressor=settings.compressor,
    )


def pack_step(collections: Iterable[Collection], context: Context) -> Iterator[Batch]:
    """Place parts into batches, one batch per archive, within the limits."""
    return pack(
        collections,
        max_data_size=context.limits.max_data_size,
        max_upload_size=context.limits.max_upload_size,
        config=context.config_part,
        config_version=context.plan.config.version,
    )


def archive_step(batch: Batch, context: Context) -> Archive:
    """Write the batch's archive under the run's next free number."""
    archive = write_archive(
        batch,
        config=context.config_part,
        config_version=context.plan.config.version,
        directory=context.settings.workdir,
        until=context.plan.until,
        prefix=context.config.prefix,
        start=context.numbers.next,
        compressor=context.settings.compressor,
        namer=context.namer,
    )
    context.numbers.next = archive.number + 1
    return archive


def ship_step(archive: Archive, context: Context) -> Shipment:
    """Hand the archive to the run's transport."""
    if context.transport is None:  # the runner drops this step from a dry run
        raise RuntimeError("ship_step needs the run's transport")
    return ship(context.transport, archive)
