"""A runaway slicer cannot hold the run: the plan stops pulling past ``until``, and bounds a key.

Real generators: one that yields a day at a time for ever, one that yields
windows ever closer together for ever, and lists at and past
``MAX_WINDOWS``; each counts how often it was pulled and whether it was
closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.records import State
from pipeline_collector.stages.discover import discover
from pipeline_collector.stages.plan import MAX_WINDOWS, plan
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=5)
DAY = timedelta(days=1)


class Counted:
    """A slicer's generator that notes each window pulled and whether it was closed."""

    def __init__(self) -> None:
        self.pulled = 0
        self.closed = False

    def days_for_ever(self, key: str, last_gather: datetime, **kwargs: Any) -> Iterator[Any]:
        start = kwargs.get("since") or SINCE
        try:
            while True:
                self.pulled += 1
                yield start, start + DAY
                start += DAY
        finally:
            self.closed = True

    def ever_closer(self, key: str, last_gather: datetime, **kwargs: Any) -> Iterator[Any]:
        start, step = SINCE, timedelta(microseconds=1)
        while True:
            self.pulled += 1
            yield start, start + step
            start += step

    def exactly(self, count: int) -> Any:
        def slicer(key: str, last_gather: datetime, **kwargs: Any) -> list[Any]:
            step = (NOW - SINCE) / count
            return [(SINCE + i * step, SINCE + (i + 1) * step) for i in range(count)]

        return slicer


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, str]:
    return {"platform": "test"}


def sliced(key: str, slicer: Any) -> Any:
    @pc.register(key, "1.0", fnc_slicing=slicer)
    def collector(since: datetime, **kwargs: Any) -> dict[str, str]:
        return {"since": since.isoformat()}

    return collector


def planned(*collectors: Any) -> pc.Plan:
    return plan(discover([config, *collectors]), State(), now=NOW, since=SINCE)


def test_a_slicer_that_never_stops_is_pulled_once_past_until() -> None:
    counted = Counted()
    p = planned(sliced("daily", counted.days_for_ever))
    assert [t.window.since for t in p.tasks] == [SINCE + n * DAY for n in range(5)]
    assert counted.pulled == 6 and counted.closed  # the five, and the first past until
    assert p.problems == ()


def test_its_valid_windows_ship(tmp_path: Path) -> None:
    counted = Counted()
    transport = FakeTransport()
    run = pc.gather(
        [config, sliced("daily", counted.days_for_ever)],
        mode="manual",
        state=MemoryStore(),
        transport=transport,
        lock=FakeLock(),
        since=SINCE,
        clock=FrozenClock(NOW),
        workdir=tmp_path / "work",
    )
    assert run.status == "ok" and counted.pulled == 6
    assert sorted(c.task.window.since for c in run.collections) == [
        SINCE + n * DAY for n in range(5)
    ]
    assert transport.sent


def test_windows_at_the_bound_are_planned() -> None:
    p = planned(sliced("fine", Counted().exactly(MAX_WINDOWS)))
    assert len(p.tasks) == MAX_WINDOWS and p.problems == ()


def test_one_window_past_the_bound_fails_the_key_naming_it() -> None:
    p = planned(
        sliced("too_many", Counted().exactly(MAX_WINDOWS + 1)),
        sliced("daily", Counted().days_for_ever),
    )
    [problem] = p.problems
    assert problem.key == "too_many"
    assert problem.message == (
        f"slicer of 'too_many' yielded more than {MAX_WINDOWS:,} windows in one run"
        f" (the bound is {MAX_WINDOWS:,}); yield longer windows"
    )
    assert {t.key for t in p.tasks} == {"daily"}


@pytest.mark.parametrize("full_sync", [False, True])
def test_a_slicer_of_ever_closer_windows_stops_at_the_bound(full_sync: bool) -> None:
    counted = Counted()

    @pc.register(
        "closer",
        "1.0",
        fnc_slicing=counted.ever_closer,
        full_sync_interval_days=1 if full_sync else None,
    )
    def closer(**kwargs: Any) -> dict[str, int]:
        return {}

    p = planned(closer)
    assert [p_.key for p_ in p.problems] == ["closer"]
    assert f"more than {MAX_WINDOWS:,} windows" in p.problems[0].message
    assert counted.pulled == MAX_WINDOWS + 1 and p.tasks == ()
