"""Ready-made slicers: cut a collector's window into fixed steps.

A slicer is called as ``slicer(key, last_gather, since=..., until=...)`` and
yields half-open ``(since, until)`` windows in time order.  Steps are aligned
to multiples of the step since the Unix epoch (midnight UTC for days), so
windows of consecutive runs line up.  For a full sync the pipeline passes
``full_sync_enabled=True`` with the widest window the horizon allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from attrs import frozen

__all__ = ["Every", "daily", "every", "hourly"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@frozen
class Every:
    """A slicer with a fixed step; an instance is a plain callable.

    >>> from datetime import datetime, timezone
    >>> t = lambda h: datetime(2026, 11, 27, h, tzinfo=timezone.utc)
    >>> [(a.hour, b.hour) for a, b in Every(timedelta(hours=4))("k", t(0), since=t(1), until=t(9))]
    [(1, 4), (4, 8), (8, 9)]
    """

    step: timedelta

    def __attrs_post_init__(self) -> None:
        if self.step <= timedelta(0):
            raise ValueError(f"step must be positive, not {self.step}")

    def __call__(
        self,
        key: str,
        last_gather: datetime,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        full_sync_enabled: bool = False,
        **kwargs: Any,
    ) -> Iterator[tuple[datetime, datetime]]:
        start = since or last_gather
        end = until or datetime.now(timezone.utc)
        while start < end:
            aligned = _EPOCH + ((start - _EPOCH) // self.step + 1) * self.step
            stop = min(aligned, end)
            yield start, stop
            start = stop


def every(*, days: int = 0, hours: int = 0, minutes: int = 0) -> Every:
    """A slicer of ``days``/``hours``/``minutes`` steps."""
    return Every(timedelta(days=days, hours=hours, minutes=minutes))


daily = Every(timedelta(days=1))
hourly = Every(timedelta(hours=1))
