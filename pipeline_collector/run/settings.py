"""What one task is told."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import attrs

from ..config import RESERVE
from ..protocols import Clock, Compressor
from ..records import Mode

__all__ = ["Settings"]


@attrs.frozen(kw_only=True)
class Settings:
    """Everything a run is told, in one value; picklable, so an executor can carry it."""

    mode: Mode
    since: datetime | None
    until: datetime | None
    horizon: timedelta
    clock: Clock
    max_data_size: int
    max_upload_size: int
    prefix: str
    compressor: Compressor
    workdir: Path
    parts: Path
    whole: bool  # every collector was asked for, so a clean run moves ``last_gather``
    ahead: int  # tasks handed to the executor before their turn
    config_size: int = 0  # compressed size of config.json, which rides in every archive

    @property
    def max_deflated(self) -> int:
        """The compressed size one part may reach and still fit an upload with config.json."""
        return self.max_upload_size - RESERVE - self.config_size

    @property
    def quiet(self) -> bool:
        """Scheduled runs log skips at debug level; manual runs say them aloud."""
        return self.mode == "scheduled"
