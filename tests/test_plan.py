"""The plan stage: the collection window rule by rule (docs/contract.md, section 2), each
collector's start, full syncs, and the windows slicers yield."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any, NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline_collector as pc
from pipeline_collector.records import Slicer
from pipeline_collector.stages.plan import collection_window, collector_since, full_sync_due, plan

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
H = timedelta(weeks=4)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


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

    def test_since_equal_to_until_is_an_error(self) -> None:
        """An empty window [t, t) is refused like a reversed one."""
        with pytest.raises(pc.ConfigurationError, match="is not before until"):
            collection_window(NOW, NOW - DAY, NOW - DAY, None)

    def test_an_asked_window_inside_the_limits_is_kept(self) -> None:
        """since and until within the horizon and before now stay as asked."""
        since, until = NOW - 3 * DAY, NOW - DAY
        assert collection_window(NOW, since, until, None)[:2] == (since, until)

    def test_a_short_horizon_also_cuts_the_default_until(self) -> None:
        """With a configurable horizon, a since far back gets until = since + horizon."""
        since = NOW - 3 * DAY
        s, u, lg = collection_window(NOW, since, None, None, horizon=DAY)
        assert (s, u, lg) == (since, since + DAY, since)

    def test_a_stored_last_gather_inside_the_horizon_is_kept(self) -> None:
        """last_gather within the horizon is the stored time, whatever since was asked."""
        assert collection_window(NOW, NOW - 2 * DAY, None, NOW - 5 * DAY)[2] == NOW - 5 * DAY

    def test_other_time_zones_are_the_same_instants(self) -> None:
        """Aware datetimes in any zone are accepted and compared as instants."""
        plus_two = timezone(timedelta(hours=2))
        s, u, _ = collection_window(NOW.astimezone(plus_two), NOW - DAY, None, None)
        assert (s, u) == (NOW - DAY, NOW)

    @settings(max_examples=300, deadline=None)
    @given(
        since=st.none() | st.integers(-80, 10),
        until=st.none() | st.integers(-80, 10),
        last=st.none() | st.integers(-80, 10),
        horizon=st.integers(1, 40),
    )
    def test_a_resolved_window_never_grows_beyond_what_was_asked(
        self, since: int | None, until: int | None, last: int | None, horizon: int
    ) -> None:
        """Every resolved window is non-empty, ends by now, spans at most the horizon, and lies
        inside what was asked; last_gather is never before until - horizon; only a since not
        before the (clamped) until is refused."""
        h = horizon * DAY
        empty = since is not None and (since >= 0 or (until is not None and since >= until))

        def at(days: int | None) -> datetime | None:
            return None if days is None else NOW + days * DAY

        try:
            s, u, lg = collection_window(NOW, at(since), at(until), at(last), h)
        except pc.ConfigurationError as e:
            assert empty and "is not before until" in str(e)
            return
        assert not empty
        assert u <= NOW and lg >= u - h
        if s is not None:
            assert s < u and u - s <= h
            assert since is not None and s >= NOW + since * DAY
        else:
            assert since is None
        if until is not None:
            assert u <= NOW + until * DAY
        if last is not None and NOW + last * DAY >= u - h:
            assert lg == NOW + last * DAY

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


class TestCollectorSinceRule:
    JOBS = pc.discover([config, plain])[1]

    def test_an_asked_since_is_used_as_it_is(self) -> None:
        """A requested since is the collector's start, whatever its entry says."""
        start = collector_since(self.JOBS, {"plain": NOW - DAY}, NOW - 9 * DAY, NOW, NOW - DAY)
        assert start == NOW - 9 * DAY

    def test_only_the_collectors_own_entry_counts(self) -> None:
        """Another key's entry is ignored: the start is last_gather."""
        start = collector_since(self.JOBS, {"other": NOW - DAY}, None, NOW, NOW - 3 * DAY)
        assert start == NOW - 3 * DAY

    def test_an_entry_later_than_last_gather_wins(self) -> None:
        """A collector that shipped after the last whole run starts where it left off."""
        assert collector_since(self.JOBS, {"plain": NOW - DAY}, None, NOW, NOW - 3 * DAY) == (
            NOW - DAY
        )

    def test_the_start_is_never_before_the_horizon(self) -> None:
        """Neither an old entry nor an old last_gather starts before until - horizon."""
        assert collector_since(self.JOBS, {"plain": NOW - 9 * H}, None, NOW, NOW - 9 * H) == (
            NOW - H
        )
        assert collector_since(self.JOBS, {}, None, NOW, NOW - 9 * DAY, horizon=DAY) == NOW - DAY


def inventory(slicer: Slicer, days: int | None = 7) -> pc.Collector:
    @pc.register("inventory", "1.0", format="csv", fnc_slicing=slicer, full_sync_interval_days=days)
    def collect(**kwargs: Any) -> list[str]:
        return []

    return pc.discover([config, collect])[1]


def one_day(key: str, last_gather: datetime, **kwargs: Any) -> list[tuple[datetime, datetime]]:
    return [(NOW - DAY, NOW)]


class TestFullSyncDue:
    def test_never_synced_in_full_is_due(self) -> None:
        """A sliced collector with an interval and no ``_full`` entry is due."""
        assert full_sync_due(inventory(one_day), {}, NOW)

    def test_older_than_the_interval_is_due(self) -> None:
        """A last full sync longer ago than the interval is due."""
        assert full_sync_due(inventory(one_day), {"inventory_full": NOW - 7 * DAY - HOUR}, NOW)

    def test_within_the_interval_is_not_due(self) -> None:
        """A full sync exactly one interval ago, or more recent, is not repeated."""
        for last in (NOW - 7 * DAY, NOW - DAY, NOW):
            assert not full_sync_due(inventory(one_day), {"inventory_full": last}, NOW)

    def test_no_interval_or_no_slicer_is_never_due(self) -> None:
        """Only a sliced collector with an interval ever syncs in full."""
        assert not full_sync_due(inventory(one_day, days=None), {}, NOW)
        assert not full_sync_due(pc.discover([config, plain])[1], {}, NOW)

    def test_the_key_full_entry_is_the_one_read(self) -> None:
        """The collector's own entry says nothing about its last full sync."""
        assert full_sync_due(inventory(one_day), {"inventory": NOW}, NOW)


class TestFullSyncPlan:
    def test_a_due_full_sync_asks_the_slicer_over_the_whole_horizon(self) -> None:
        """The slicer gets full_sync_enabled, since = until - horizon and until; its tasks are marked."""
        calls: list[dict[str, Any]] = []

        def slicer(
            key: str, last_gather: datetime, **kwargs: Any
        ) -> list[tuple[datetime, datetime]]:
            calls.append(kwargs)
            return [(NOW - 2 * DAY, NOW - DAY), (NOW - DAY, NOW)]

        state = pc.State(entries={"inventory": NOW - DAY})
        p = plan([pc.discover([config])[0], inventory(slicer)], state, now=NOW)
        assert calls == [{"full_sync_enabled": True, "until": NOW, "since": NOW - H}]
        assert [t.full_sync for t in p.tasks] == [True, True]

    def test_an_old_form_slicer_gets_only_full_sync_enabled(self) -> None:
        """A slicer that takes no since or until is called as the old library called it."""
        calls: list[tuple[str, datetime, bool]] = []

        def old(key: str, last_gather: datetime, full_sync_enabled: bool = False) -> list[Any]:
            calls.append((key, last_gather, full_sync_enabled))
            return []

        plan([pc.discover([config])[0], inventory(old)], pc.State(), now=NOW)
        assert calls == [("inventory", NOW - H, True)]

    def test_an_ordinary_run_asks_from_the_collectors_start(self) -> None:
        """Without a full sync due, the slicer gets the collector's own since and the run's until."""
        calls: list[dict[str, Any]] = []

        def slicer(
            key: str, last_gather: datetime, **kwargs: Any
        ) -> list[tuple[datetime, datetime]]:
            calls.append(kwargs)
            return [(kwargs["since"], kwargs["until"])]

        state = pc.State(entries={"inventory": NOW - DAY, "inventory_full": NOW - DAY})
        p = plan([pc.discover([config])[0], inventory(slicer)], state, now=NOW)
        assert calls == [{"since": NOW - DAY, "until": NOW}]
        assert [t.full_sync for t in p.tasks] == [False]


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

    def test_adjacent_windows_are_accepted(self) -> None:
        """Half-open windows that meet end to start do not overlap."""
        edges = [NOW - 3 * DAY, NOW - 2 * DAY, NOW - DAY, NOW]
        p = plan(
            pc.discover([config, sliced_by(lambda *a, **k: list(pairwise(edges)))]),
            pc.State(),
            now=NOW,
        )
        assert p.problems == ()
        assert [t.window.until for t in p.tasks][:-1] == [t.window.since for t in p.tasks][1:]

    def test_raising_slicer_is_a_problem_naming_the_error(self) -> None:
        """A slicer that raises becomes a problem naming the exception."""

        def broken(*args: Any, **kwargs: Any) -> NoReturn:
            raise KeyError("no such table")

        p = plan(pc.discover([config, sliced_by(broken)]), pc.State(), now=NOW)
        assert "KeyError" in p.problems[0].message and "no such table" in p.problems[0].message
