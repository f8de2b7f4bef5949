"""What a step is told: ``Settings`` where a task runs, ``Context`` in the driver.

``Settings`` is picklable, so a process pool or a dask worker can take it
with the flow's worker steps; ``Context`` adds what only the gathering
process has (the plan, the config part, the transport, the name function).
Both are built by the runner from the run's ``RunConfig``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import attrs

from ..config import Limits, RunConfig
from ..naming import Namer
from ..protocols import Clock, Compressor, Transport
from ..records import Mode, Part, Plan

__all__ = ["Context", "Numbers", "Settings", "TaskStep"]


class TaskStep(Protocol):
    """Protocol: a step a worker runs on one task's records (``flow.Step`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def gives(self) -> str: ...

    def __call__(self, value: Any, context: Any = None) -> Any: ...


@attrs.frozen(kw_only=True)
class Settings:
    """What one task is told; picklable, so an executor can carry it."""

    config: RunConfig
    clock: Clock
    compressor: Compressor
    workdir: Path
    parts: Path
    ahead: int = 1  # tasks handed to the executor before their turn
    steps: tuple[TaskStep, ...] = ()  # the flow's steps from task to collection
    config_size: int = 0  # compressed size of config.json, which rides in every archive

    @property
    def mode(self) -> Mode:
        return self.config.mode

    @property
    def max_data_size(self) -> int:
        return self.config.limits.max_data_size

    @property
    def whole(self) -> bool:
        return self.config.whole

    @property
    def max_deflated(self) -> int:
        """The compressed size one part may reach and still fit an upload with config.json."""
        return self.config.limits.max_deflated(self.config_size)


@attrs.define
class Numbers:
    """The next archive number of the run: ``n`` in a name is unique within a run."""

    next: int = 0


@attrs.frozen(kw_only=True)
class Context:
    """What a step in the gathering process is told (``Step(context=True)``)."""

    settings: Settings
    plan: Plan
    config_part: Part
    transport: Transport | None = None
    namer: Namer | None = None
    numbers: Numbers = attrs.Factory(Numbers)

    @property
    def config(self) -> RunConfig:
        return self.settings.config

    @property
    def limits(self) -> Limits:
        return self.settings.config.limits
