"""AWX's register keywords, its config found by key, and its slicers called with AWX's meaning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.tar import read_member

import pipeline_collector as pc
from pipeline_collector.compat import positional_slicer, register
from pipeline_collector.records import State
from pipeline_collector.stages.plan import plan
from pipeline_collector.testing import FakeTransport, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
Calls = list[tuple[Any, ...]]


def recording(calls: Calls, windows: int = 1) -> Any:
    """An AWX slicer that records how it was called and yields hour windows from its start."""

    def slicer(
        key: str, since: datetime | None, until: datetime, last_gather: datetime, **kwargs: Any
    ) -> Iterator[tuple[datetime, datetime]]:
        calls.append((key, since, until, last_gather, kwargs))
        start = since or until - timedelta(hours=windows)
        for n in range(windows):
            yield start + timedelta(hours=n), start + timedelta(hours=n + 1)

    return slicer


def awx_module(slicer: Any, **options: Any) -> list[Any]:
    @register("config", "1.6", description="General platform configuration.")
    def config(since: datetime, **kwargs: Any) -> dict[str, str]:
        return {"v": "1"}

    @register("host_metric_table", "1.0", format="csv", expensive=slicer, **options)
    def host_metric_table(since: datetime, full_path: str, until: datetime, **kwargs: Any) -> Any:
        return ["id", "1"]

    return [config, host_metric_table]


class TestRegister:
    def test_expensive_and_full_sync_interval_are_taken(self) -> None:
        """expensive= becomes the collector's slicer, full_sync_interval= its interval in days."""
        calls: Calls = []
        _, table = pc.discover(awx_module(recording(calls), full_sync_interval=30))
        assert table.sliced and table.full_sync_interval_days == 30

    def test_lazy_description_becomes_text(self) -> None:
        """A description given as a lazy translation object is kept as its text."""

        class Lazy:
            def __str__(self) -> str:
                return "Counts of objects"

        @register("counts", "1.2", description=Lazy())  # type: ignore[arg-type]
        def counts(since: datetime, **kwargs: Any) -> dict[str, int]:
            return {}

        assert pc.discover([awx_module(recording([]))[0], counts])[1].description == (
            "Counts of objects"
        )

    def test_both_slicer_keywords_are_refused(self) -> None:
        """fnc_slicing= and expensive= together are an error naming the key."""
        with pytest.raises(pc.ConfigurationError, match=r"'jobs'.*not both"):
            register("jobs", "1.0", fnc_slicing=pc.slicers.daily, expensive=recording([]))

    def test_both_interval_keywords_are_refused(self) -> None:
        """full_sync_interval_days= and full_sync_interval= together are an error."""
        with pytest.raises(pc.ConfigurationError, match=r"'jobs'.*not both"):
            register("jobs", "1.0", full_sync_interval_days=7, full_sync_interval=30)

    def test_expensive_must_be_callable(self) -> None:
        """A non-callable expensive= is refused, naming the key."""
        with pytest.raises(pc.ConfigurationError, match=r"'jobs'.*not callable"):
            register("jobs", "1.0", expensive="four_hour_slicing")  # type: ignore[arg-type]


class TestConfigByKey:
    def test_config_key_is_the_config_collector_with_a_warning(self) -> None:
        """With no config=True, the collector keyed config is the config collector, and the
        warning names it."""
        with capture_logs() as logs:
            config, _ = pc.discover(awx_module(recording([])))
        assert config.config and config.key == "config"
        (event,) = [e for e in logs if e["event"] == "config.found_by_key"]
        assert "config" in event["collector"]

    def test_a_csv_config_key_is_refused(self) -> None:
        """A collector keyed config that is CSV cannot be the config collector."""

        @register("config", "1.0", format="csv")
        def config(**kwargs: Any) -> list[str]:
            return []

        with pytest.raises(pc.ConfigurationError, match="must be json"):
            pc.discover([config])

    def test_no_fallback_when_a_config_collector_exists(self) -> None:
        """Where one collector says config=True, another keyed config is still refused."""

        @register("settings", "1.0", config=True)
        def settings(**kwargs: Any) -> dict[str, str]:
            return {}

        with pytest.raises(pc.ConfigurationError, match="reserved"):
            pc.discover([settings, awx_module(recording([]))[0]])


class TestPositionalSlicerCalls:
    def test_since_is_none_unless_asked(self) -> None:
        """Without an explicit since the slicer gets since=None, the run's until and last_gather,
        and full_sync_enabled as a keyword."""
        calls: Calls = []
        state = State(entries={"host_metric_table_full": NOW})
        plan(pc.discover(awx_module(recording(calls), full_sync_interval=30)), state, now=NOW)
        ((key, since, until, last_gather, kwargs),) = calls
        assert (key, since, until) == ("host_metric_table", None, NOW)
        assert last_gather == NOW - timedelta(weeks=4)
        assert kwargs == {"full_sync_enabled": False}

    def test_explicit_since_is_passed_on(self) -> None:
        """An explicit since reaches the slicer as it was asked."""
        calls: Calls = []
        since = NOW - timedelta(hours=5)
        plan(pc.discover(awx_module(recording(calls))), State(), now=NOW, since=since)
        assert calls[0][1] == since

    def test_full_sync_is_asked_and_may_reach_past_the_horizon(self) -> None:
        """A due full sync passes full_sync_enabled=True and keeps windows older than the
        horizon, as a host-metrics full sync from the table's oldest row needs."""
        calls: list[dict[str, Any]] = []

        def oldest_row(
            key: str, since: datetime | None, until: datetime, last_gather: datetime, **kw: Any
        ) -> list[tuple[datetime, datetime]]:
            calls.append(kw)
            return [
                (until - timedelta(days=60), until - timedelta(days=30)),
                (until - timedelta(days=30), until),
            ]

        p = plan(pc.discover(awx_module(oldest_row, full_sync_interval=30)), State(), now=NOW)
        assert calls == [{"full_sync_enabled": True}]
        assert [t.window.since for t in p.tasks] == [
            NOW - timedelta(days=60),
            NOW - timedelta(days=30),
        ]
        assert all(t.full_sync for t in p.tasks)

    def test_incremental_windows_stay_within_the_horizon(self) -> None:
        """Outside a full sync a window reaching past the horizon is raised to it."""

        def old(key: str, since: Any, until: datetime, last_gather: Any, **kw: Any) -> Any:
            return [(until - timedelta(days=40), until)]

        state = State(entries={"host_metric_table_full": NOW})
        p = plan(pc.discover(awx_module(old, full_sync_interval=30)), state, now=NOW)
        assert p.tasks[0].window.since == NOW - timedelta(weeks=4)

    def test_adapter_without_keywords_is_called_by_position_only(self) -> None:
        """A positional slicer taking no keywords is called with four arguments."""
        seen: list[tuple[Any, ...]] = []

        def four(key: str, since: Any, until: Any, last_gather: Any) -> list[Any]:
            seen.append((key, since, until, last_gather))
            return []

        list(positional_slicer(four)("k", "LG", since=None, until="U", full_sync_enabled=True))
        assert seen == [("k", None, "U", "LG")]


class TestSlicerYieldingNothing:
    def empty_plan(self, state: State) -> Any:
        def nothing(key: str, since: Any, until: Any, last_gather: Any, **kw: Any) -> Any:
            return []

        with capture_logs() as logs:
            p = plan(pc.discover(awx_module(nothing)), state, now=NOW)
        return p, [e for e in logs if e["event"] == "slicer.no_window"]

    def test_key_that_shipped_before_is_a_problem(self) -> None:
        """No window although the key has an entry before until: a problem and a warning."""
        p, events = self.empty_plan(State(entries={"host_metric_table": NOW - timedelta(days=1)}))
        assert [pr.key for pr in p.problems] == ["host_metric_table"]
        assert "previous run shipped" in p.problems[0].message
        assert events and events[0]["key"] == "host_metric_table"

    def test_key_that_never_got_a_window_is_a_problem(self) -> None:
        """No window, no entry, but an earlier run completed: a problem."""
        p, _ = self.empty_plan(State(last_gather=NOW - timedelta(days=1)))
        assert [pr.key for pr in p.problems] == ["host_metric_table"]
        assert "never got one" in p.problems[0].message

    def test_first_run_only_warns(self) -> None:
        """On a first run (no state at all) an empty source only warns."""
        p, events = self.empty_plan(State())
        assert p.problems == ()
        assert events[0]["reason"].startswith("first run")

    def test_nothing_new_is_not_reported(self) -> None:
        """A key whose entry is already at until has nothing to collect: no warning."""
        p, events = self.empty_plan(State(entries={"host_metric_table": NOW}))
        assert p.problems == () and events == []

    def test_the_run_is_partial(self) -> None:
        """A gather whose slicer yields nothing for a key that shipped is partial, not ok."""

        def nothing(key: str, since: Any, until: Any, last_gather: Any, **kw: Any) -> Any:
            return []

        store = MemoryStore(State(entries={"host_metric_table": NOW - timedelta(days=1)}))
        run = pc.gather(
            awx_module(nothing),
            mode="manual",
            state=store,
            transport=FakeTransport(),
            until=NOW,
            clock=lambda: NOW,
        )
        assert run.status == "partial"
        assert run.reason is not None and "host_metric_table" in run.reason


class TestWholeNumberVersions:
    def test_a_whole_number_version_is_written_major_dot_zero_with_a_warning(
        self, tmp_path: Path
    ) -> None:
        """register('x', 1) from AWX's docstring works; the manifest says '1.0' and a warning
        names the key and both spellings."""

        @register("config", "1.6")
        def config(**kwargs: Any) -> dict[str, str]:
            return {"v": "1"}

        @register("projects_by_scm_type", 1)
        def projects_by_scm_type(**kwargs: Any) -> dict[str, int]:
            return {"git": 5}

        transport = FakeTransport()
        with capture_logs() as logs:
            run = pc.gather(
                [config, projects_by_scm_type],
                mode="manual",
                state=MemoryStore(),
                transport=transport,
                workdir=tmp_path,
            )
        assert run.status == "ok"
        with transport.open(0) as tar:
            manifest = json.loads(read_member(tar, "./manifest.json"))
            assert json.loads(read_member(tar, "./projects_by_scm_type.json")) == {"git": 5}
        assert manifest["projects_by_scm_type.json"] == "1.0"
        widened = [e for e in logs if e["event"] == "collector.version_widened"]
        assert widened and all(e["key"] == "projects_by_scm_type" for e in widened)
        assert widened[0]["version"] == 1 and widened[0]["written"] == "1.0"

    @pytest.mark.parametrize("version", [True, -1, 1.5, "1"])
    def test_other_versions_that_are_not_major_minor_are_refused(self, version: Any) -> None:
        """Only a non-negative int is widened; a bool, a negative number, a float or the
        string '1' are refused, naming the key and the value."""

        @register("config", "1.6")
        def config(**kwargs: Any) -> dict[str, str]:
            return {}

        @register("odd", version)
        def odd(**kwargs: Any) -> dict[str, str]:
            return {}

        with pytest.raises(pc.ConfigurationError, match=rf"'odd': version {version!r} must be"):
            pc.discover([config, odd])
