"""A slicer's windows are cut to the run's: no entry records time that was not collected."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from structlog.testing import capture_logs

import pipeline_collector as pc
from pipeline_collector.testing import FakeTransport, MemoryStore

NOON = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)


def whole_days(
    key: str, last_gather: datetime, **kwargs: Any
) -> Iterator[tuple[datetime, datetime]]:
    """Yields whole calendar days around the window, as careless slicers do."""
    day = kwargs["since"].replace(hour=0, minute=0, second=0, microsecond=0)
    while day < kwargs["until"]:
        yield day, day + timedelta(days=1)
        day += timedelta(days=1)


def collectors(seen: list[tuple[datetime, datetime]]) -> list[Any]:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"v": "1"}

    @pc.register("events", "1.0", format="csv", fnc_slicing=whole_days)
    def events(since: datetime, until: datetime, **kwargs: Any) -> list[str]:
        seen.append((since, until))
        return ["id", "1"]

    return [config, events]


class TestWindowsCut:
    """Windows past the run's until are cut there; windows before since are raised to it."""

    def test_entry_stops_at_the_runs_until(self) -> None:
        """A whole-day slicer run at noon moves the entry to noon, not tomorrow midnight."""
        seen: list[tuple[datetime, datetime]] = []
        store = MemoryStore()
        with capture_logs() as logs:
            run = pc.gather(
                collectors(seen),
                mode="manual",
                state=store,
                transport=FakeTransport(),
                since=NOON - timedelta(days=1),
                until=NOON,
                clock=lambda: NOON,
            )
        assert run.status == "ok"
        assert store.load().entries["events"] == NOON
        assert seen[0][0] == NOON - timedelta(days=1) and seen[-1][1] == NOON
        assert all(until <= NOON for _, until in seen)
        assert any(e["event"] == "window.clamped" and e["key"] == "events" for e in logs)

    def test_the_next_run_collects_the_afternoon(self) -> None:
        """The run after collects from noon on: the afternoon's rows are not skipped."""
        store = MemoryStore()
        first: list[tuple[datetime, datetime]] = []
        pc.gather(
            collectors(first),
            mode="manual",
            state=store,
            transport=FakeTransport(),
            clock=lambda: NOON,
        )
        later = NOON + timedelta(hours=6)
        second: list[tuple[datetime, datetime]] = []
        run = pc.gather(
            collectors(second),
            mode="manual",
            state=store,
            transport=FakeTransport(),
            clock=lambda: later,
        )
        assert run.status == "ok"
        assert second == [(NOON, later)]
        assert store.load().entries["events"] == later

    def test_window_wholly_past_until_is_dropped(self) -> None:
        """A window that starts at or after the run's until is dropped and logged."""

        def ahead(
            key: str, last_gather: datetime, **kwargs: Any
        ) -> Iterator[tuple[datetime, datetime]]:
            yield kwargs["since"], kwargs["until"]
            yield kwargs["until"], kwargs["until"] + timedelta(hours=1)

        @pc.register("config", "1.0", config=True)
        def config(**kwargs: Any) -> dict[str, str]:
            return {"v": "1"}

        @pc.register("events", "1.0", format="csv", fnc_slicing=ahead)
        def events(**kwargs: Any) -> list[str]:
            return ["id", "1"]

        with capture_logs() as logs:
            p = pc.plan(pc.discover([config, events]), pc.State(), now=NOON)
        assert [t.window.until for t in p.tasks] == [NOON]
        dropped = [e for e in logs if e["event"] == "window.dropped"]
        assert len(dropped) == 1 and dropped[0]["key"] == "events"
