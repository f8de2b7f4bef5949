"""The collection window, rule by rule (docs/contract.md, section 2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import pytest

import pipeline_collector as pc
from pipeline_collector.records import Slicer
from pipeline_collector.stages.plan import collection_window, plan

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
H = timedelta(weeks=4)
DAY = timedelta(days=1)


class TestCollectionWindow:
    def test_no_since_no_until_is_now(self) -> None:
        """With neither bound, until is now and since stays unset."""
        assert collection_window(NOW, None, None, None)[:2] == (None, NOW)

    def test_future_until_is_clamped_to_now(self) -> None:
        """An until in the future becomes now."""
        assert collection_window(NOW, None, NOW + DAY, None)[1] == NOW

    def test_future_since_is_clamped_to_now_and_then_refused(self) -> None:
        """A since in the future becomes now, which leaves an empty window: an error."""
        with pytest.raises(pc.ConfigurationError, match="not before"):
            collection_window(NOW, NOW + DAY, None, None)

    def test_until_defaults_to_since_plus_horizon_when_earlier_than_now(self) -> None:
        """Without until, it is min(since + horizon, now)."""
        since = NOW - 10 * H
        assert collection_window(NOW, since, None, None)[1] == since + H
        assert collection_window(NOW, NOW - DAY, None, None)[1] == NOW

    def test_until_beyond_horizon_is_cut(self) -> None:
        """until > since + horizon is cut to since + horizon."""
        since = NOW - 3 * H
        assert collection_window(NOW, since, NOW - DAY, None)[1] == since + H

    def test_since_not_before_until_is_an_error(self) -> None:
        """since >= until is refused with a clear message."""
        with pytest.raises(pc.ConfigurationError, match="is not before until"):
            collection_window(NOW, NOW - DAY, NOW - 2 * DAY, None)

    def test_window_never_exceeds_the_horizon(self) -> None:
        """However far back since is asked, the resolved window spans at most the horizon."""
        for since, until in [(NOW - 9 * H, NOW - DAY), (NOW - 9 * H, None), (NOW - H - DAY, None)]:
            s, u, _ = collection_window(NOW, since, until, None)
            assert s is not None and timedelta(0) < u - s <= H

    def test_last_gather_defaults_to_horizon(self) -> None:
        """Without a stored last run, last_gather is until - horizon."""
        assert collection_window(NOW, None, None, None)[2] == NOW - H

    def test_old_last_gather_is_raised_to_horizon(self) -> None:
        """A stored last run older than the horizon is raised to until - horizon."""
        assert collection_window(NOW, None, None, NOW - 2 * H)[2] == NOW - H
        assert collection_window(NOW, None, None, NOW - DAY)[2] == NOW - DAY

    def test_horizon_is_configurable(self) -> None:
        """A shorter horizon moves every floor with it."""
        assert collection_window(NOW, None, None, None, horizon=DAY)[2] == NOW - DAY

    @pytest.mark.parametrize("field", ["now", "since", "until", "last_gather"])
    def test_naive_datetimes_are_refused(self, field: str) -> None:
        """Any naive datetime is an error naming it, never a guess."""
        args: dict[str, Any] = {"now": NOW, "since": None, "until": None, "last_gather": None}
        args[field] = datetime(2026, 11, 1)
        with pytest.raises(pc.ConfigurationError, match=f"{field}=.*no timezone"):
            collection_window(args["now"], args["since"], args["until"], args["last_gather"])


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {}


@pc.register("plain", "1.0", format="csv")
def plain(**kwargs: Any) -> list[str]:
    return []


def sliced_by(slicer: Slicer) -> Callable[..., list[str]]:
    @pc.register("sliced", "1.0", format="csv", fnc_slicing=slicer)
    def sliced(**kwargs: Any) -> list[str]:
        return []

    return sliced


class TestCollectorSince:
    def test_unsliced_collector_starts_at_its_entry(self) -> None:
        """A collector's window starts at its stored entry when since was not asked."""
        state = pc.State(last_gather=NOW - 3 * DAY, entries={"plain": NOW - DAY})
        p = plan(pc.discover([config, plain]), state, now=NOW)
        assert [(t.window.since, t.window.until) for t in p.tasks] == [(NOW - DAY, NOW)]

    def test_unsliced_collector_without_entry_starts_at_last_gather(self) -> None:
        """Without an entry, the window starts at last_gather."""
        p = plan(pc.discover([config, plain]), pc.State(last_gather=NOW - 3 * DAY), now=NOW)
        assert p.tasks[0].window.since == NOW - 3 * DAY

    def test_entry_older_than_horizon_is_raised(self) -> None:
        """An entry older than the horizon is raised to until - horizon."""
        p = plan(pc.discover([config, plain]), pc.State(entries={"plain": NOW - 9 * H}), now=NOW)
        assert p.tasks[0].window.since == NOW - H

    def test_asked_since_wins_over_entries(self) -> None:
        """A requested since is used for every collector."""
        state = pc.State(entries={"plain": NOW - DAY})
        p = plan(pc.discover([config, plain]), state, now=NOW, since=NOW - 5 * DAY)
        assert p.tasks[0].window.since == NOW - 5 * DAY

    def test_caught_up_collector_has_no_task(self) -> None:
        """A collector whose entry is already at until has nothing to collect."""
        p = plan(pc.discover([config, plain]), pc.State(entries={"plain": NOW}), now=NOW)
        assert p.tasks == ()

    def test_slicer_windows_become_tasks_in_order(self) -> None:
        """Each slicer window is one task, in time order."""
        p = plan(
            pc.discover([config, sliced_by(pc.slicers.daily)]),
            pc.State(),
            now=NOW,
            since=NOW - 2 * DAY,
        )
        windows = [(t.window.since, t.window.until) for t in p.tasks]
        assert windows == [
            (NOW - 2 * DAY, NOW - 1.5 * DAY),
            (NOW - 1.5 * DAY, NOW - 0.5 * DAY),
            (NOW - 0.5 * DAY, NOW),
        ]


class TestBadSlicers:
    @pytest.mark.parametrize(
        ("windows", "message"),
        [
            ([(NOW - DAY, NOW), (NOW - 2 * DAY, NOW - DAY)], "overlaps or precedes"),
            ([(NOW - DAY, NOW), (NOW - DAY / 2, NOW)], "overlaps or precedes"),
            ([(datetime(2026, 11, 26), NOW)], "no timezone"),
            ([(NOW, NOW - DAY)], "empty or reversed"),
            ([(NOW,)], "expected \\(since, until\\)"),
        ],
    )
    def test_bad_windows_stop_only_their_key(self, windows: list[Any], message: str) -> None:
        """A slicer yielding bad windows is a problem for its key; the others still run."""
        p = plan(
            pc.discover([config, plain, sliced_by(lambda *a, **k: windows)]), pc.State(), now=NOW
        )
        assert [t.key for t in p.tasks] == ["plain"]
        assert [pr.key for pr in p.problems] == ["sliced"]
        assert p.problems[0].message.startswith("slicer of 'sliced'")
        assert __import__("re").search(message, p.problems[0].message)

    def test_raising_slicer_is_a_problem_naming_the_error(self) -> None:
        """A slicer that raises becomes a problem naming the exception."""

        def broken(*args: Any, **kwargs: Any) -> NoReturn:
            raise KeyError("no such table")

        p = plan(pc.discover([config, sliced_by(broken)]), pc.State(), now=NOW)
        assert "KeyError" in p.problems[0].message and "no such table" in p.problems[0].message
