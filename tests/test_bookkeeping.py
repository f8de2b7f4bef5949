"""Bookkeeping through gather: entries move only over windows collected and shipped, in order.

Most runs ship to a fake transport; one ships to a real ingress over loopback.
"""

from __future__ import annotations

import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from support.tar import read_member

import pipeline_collector as pc
from pipeline_collector.ingress import Fail, IngressServer, Stall
from pipeline_collector.testing import FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {}


class Source:
    """A sliced CSV collector over hourly events that can be told to fail on some windows."""

    def __init__(self) -> None:
        self.fail_on: set[datetime] = set()
        self.calls: list[tuple[datetime, datetime]] = []

        @pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
        def events(since: datetime, until: datetime, **kwargs: Any) -> Any:
            self.calls.append((since, until))
            if since in self.fail_on:
                raise RuntimeError(f"database went away at {since}")
            yield "ts\n"
            t = since
            while t < until:
                yield f"{t.isoformat()}\n"
                t += timedelta(hours=1)

        self.collector = events


def failing_on(*calls: int, lost_answer: bool = False) -> FakeTransport:
    """A fake transport whose calls numbered ``calls`` (1-based) fail."""
    return FakeTransport(fail_on=calls, lost_answer=lost_answer)


def shipped_rows(transport: FakeTransport) -> list[str]:
    rows: list[str] = []
    for n in range(len(transport.sent)):
        with transport.open(n) as tar:
            if "./events.csv" in tar.getnames():
                rows += tar.extractfile("./events.csv").read().decode().splitlines()[1:]
    return rows


def expected_rows(since: datetime, until: datetime) -> list[str]:
    out, t = [], since
    while t < until:
        out.append(t.isoformat())
        t += timedelta(hours=1)
    return out


def run(
    source: Source,
    store: MemoryStore,
    transport: FakeTransport,
    clock: FrozenClock,
    tmp: Path,
    **kw: Any,
) -> pc.Run:
    return pc.gather(
        [config, source.collector],
        mode="manual",
        state=store,
        transport=transport,
        clock=clock,
        workdir=tmp,
        **kw,
    )


START = NOW - 4 * DAY


class TestFailingSlice:
    def test_a_failed_middle_slice_stops_its_key(self, tmp_path: Path) -> None:
        """When a slice fails, the entry stays at the end of the last good window before it."""
        source, store, transport = Source(), MemoryStore(), FakeTransport()
        middle = datetime(2026, 11, 25, tzinfo=timezone.utc)
        source.fail_on = {middle}
        result = run(source, store, transport, FrozenClock(NOW), tmp_path, since=START)
        assert result.status == "partial"
        assert store.state.entries["events"] == middle
        statuses = [(c.task.window.since, c.status) for c in result.collections]
        assert (middle, "failed") in statuses
        # later windows of the key are not collected at all: nothing is sent twice later
        assert all(s == "skipped" for since, s in statuses if since > middle)
        assert result.state is not None and result.state.last_gather is None

    def test_next_run_fills_exactly_the_gap(self, tmp_path: Path) -> None:
        """After a failed slice, the next run ships exactly the rows not shipped before, once each."""
        source, store, transport = Source(), MemoryStore(), FakeTransport()
        clock = FrozenClock(NOW)
        source.fail_on = {datetime(2026, 11, 25, tzinfo=timezone.utc)}
        run(source, store, transport, clock, tmp_path, since=START)
        first = shipped_rows(transport)
        source.fail_on = set()
        clock.advance(timedelta(hours=2))
        second = run(source, store, transport, clock, tmp_path)
        assert second.status == "ok"
        rows = shipped_rows(transport)
        assert len(rows) > len(first)
        assert rows == expected_rows(START, clock.now)  # each row once, in order
        assert store.state.entries["events"] == clock.now
        assert store.state.last_gather == clock.now


class TestFailingShipment:
    def test_a_failed_upload_stops_its_key(self, tmp_path: Path) -> None:
        """When the second upload fails, only the first window advances the entry."""
        source, store = Source(), MemoryStore()
        transport = failing_on(2)
        result = run(source, store, transport, FrozenClock(NOW), tmp_path, since=START)
        assert result.status == "partial"
        assert store.state.entries["events"] == START.replace(hour=0) + DAY
        assert [s.ok for s in result.shipments][:2] == [True, False]
        assert not any(s.ok for s in result.shipments[2:])

    def test_next_run_after_failed_upload_ships_exactly_the_rest(self, tmp_path: Path) -> None:
        """The run after a failed upload sends the missing rows and nothing twice."""
        source, store = Source(), MemoryStore()
        transport = failing_on(2)
        clock = FrozenClock(NOW)
        run(source, store, transport, clock, tmp_path, since=START)
        transport.fail_on = set()
        clock.advance(timedelta(hours=1))
        run(source, store, transport, clock, tmp_path)
        assert shipped_rows(transport) == expected_rows(START, clock.now)

    def test_progress_is_saved_after_each_confirmed_upload(self, tmp_path: Path) -> None:
        """The store is saved once per confirmed upload, so a crash loses at most one archive."""
        source, store, transport = Source(), MemoryStore(), FakeTransport()
        run(source, store, transport, FrozenClock(NOW), tmp_path, since=START)
        probe, *saves = store.history
        assert probe == pc.State()  # first, what was loaded is written back: a writability probe
        entries = [s.entries["events"] for s in saves]
        # one save per shipped window, then the final last_gather
        assert len(transport.sent) == 5
        assert entries[:5] == sorted(entries[:5])
        assert len(set(entries[:5])) == 5
        assert store.history[-1].last_gather == NOW

    def test_a_lost_answer_is_reported_as_possible_duplicate(self, tmp_path: Path) -> None:
        """A shipment whose answer was lost is reported, since the next run may resend it."""
        source, store = Source(), MemoryStore()
        transport = failing_on(1, lost_answer=True)
        result = run(source, store, transport, FrozenClock(NOW), tmp_path, since=START)
        assert [s.archive.name for s in result.possible_duplicates] == [
            result.shipments[0].archive.name
        ]


class TestDryRun:
    def test_dry_run_changes_no_state_and_keeps_archives(self, tmp_path: Path) -> None:
        """A dry run never saves state and leaves its archives on disk."""
        source = Source()
        store = MemoryStore(pc.State(entries={"events": NOW - 2 * DAY}))
        result = pc.gather(
            [config, source.collector],
            mode="dry-run",
            state=store,
            clock=FrozenClock(NOW),
            workdir=tmp_path,
        )
        assert store.saves == 0
        assert all(a.path.exists() for a in result.archives)
        assert len(result.archives) == 3  # two whole days and today's half, from the stored entry

    def test_manual_run_removes_shipped_archives(self, tmp_path: Path) -> None:
        """Archives are removed once the transport confirmed them."""
        source, store, transport = Source(), MemoryStore(), FakeTransport()
        result = run(source, store, transport, FrozenClock(NOW), tmp_path, since=START)
        assert result.archives and not any(a.path.exists() for a in result.archives)


class TestFullSync:
    def test_full_sync_asks_slicer_and_records_key_full(self, tmp_path: Path) -> None:
        """A due full sync calls the slicer with full_sync_enabled and records <key>_full when shipped."""
        calls: list[dict[str, Any]] = []

        def slicer(key: str, last_gather: datetime, **kwargs: Any) -> Any:
            calls.append(kwargs)
            yield (NOW - DAY, NOW)

        @pc.register(
            "inventory", "1.0", format="csv", fnc_slicing=slicer, full_sync_interval_days=7
        )
        def inventory(**kwargs: Any) -> Any:
            return iter(["host\n", "a\n"])

        store = MemoryStore(
            pc.State(entries={"inventory": NOW - DAY, "inventory_full": NOW - 8 * DAY})
        )
        pc.gather(
            [config, inventory],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            clock=FrozenClock(NOW),
            workdir=tmp_path,
        )
        assert calls[0]["full_sync_enabled"] is True
        assert store.state.entries["inventory_full"] == NOW

    def test_recent_full_sync_is_not_repeated(self, tmp_path: Path) -> None:
        """Within the interval the slicer is asked for the ordinary window."""
        calls: list[dict[str, Any]] = []

        def slicer(key: str, last_gather: datetime, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return [(kwargs["since"], kwargs["until"])]

        @pc.register(
            "inventory", "1.0", format="csv", fnc_slicing=slicer, full_sync_interval_days=7
        )
        def inventory(**kwargs: Any) -> Any:
            return iter(["host\n", "a\n"])

        store = MemoryStore(
            pc.State(entries={"inventory": NOW - DAY, "inventory_full": NOW - 2 * DAY})
        )
        pc.gather(
            [config, inventory],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            clock=FrozenClock(NOW),
            workdir=tmp_path,
        )
        assert "full_sync_enabled" not in calls[0]
        assert calls[0]["since"] == NOW - DAY
        assert store.state.entries["inventory_full"] == NOW - 2 * DAY

    def test_failed_full_sync_does_not_record_key_full(self, tmp_path: Path) -> None:
        """A full sync with a failed window leaves <key>_full untouched."""

        def slicer(key: str, last_gather: datetime, **kwargs: Any) -> Any:
            return [(NOW - 2 * DAY, NOW - DAY), (NOW - DAY, NOW)]

        @pc.register(
            "inventory", "1.0", format="csv", fnc_slicing=slicer, full_sync_interval_days=7
        )
        def inventory(since: datetime, **kwargs: Any) -> Any:
            if since == NOW - DAY:
                raise RuntimeError("boom")
            return iter(["host\n", "a\n"])

        store = MemoryStore(pc.State(entries={"inventory_full": NOW - 30 * DAY}))
        pc.gather(
            [config, inventory],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            clock=FrozenClock(NOW),
            workdir=tmp_path,
        )
        assert store.state.entries["inventory_full"] == NOW - 30 * DAY
        assert store.state.entries["inventory"] == NOW - DAY


class TestEmptyWindows:
    def test_a_collector_with_nothing_new_still_moves_its_entry(self, tmp_path: Path) -> None:
        """A CSV collector whose window holds no rows moves its entry to the window's end."""

        @pc.register("quiet", "1.0", format="csv")
        def quiet(**kwargs: Any) -> Any:
            return iter(["id\n"])

        store = MemoryStore(pc.State(entries={"quiet": NOW - DAY}))
        pc.gather(
            [config, quiet],
            mode="manual",
            state=store,
            transport=FakeTransport(),
            clock=FrozenClock(NOW),
            workdir=tmp_path,
        )
        assert store.state.entries["quiet"] == NOW


class TestWindowSplitAcrossArchives:
    def test_rest_of_a_failed_window_is_held_back_and_sent_once_next_run(
        self, tmp_path: Path
    ) -> None:
        """When the first archive of a three-part window fails, the other two are not sent; the next run sends all three once."""

        @pc.register("table", "1.0", format="csv")
        def table(**kwargs: Any) -> Any:
            yield "id,pad\n"
            for i in range(300):
                yield f"{i},{'x' * 20}\n"

        store, transport = (
            MemoryStore(pc.State(entries={"table": NOW - DAY})),
            failing_on(1),
        )
        first = pc.gather(
            [config, table],
            mode="manual",
            state=store,
            transport=transport,
            clock=FrozenClock(NOW),
            workdir=tmp_path,
            max_data_size=3000,
        )
        assert len(first.archives) == 3
        assert [s.ok for s in first.shipments] == [False, False, False]
        assert [s.skipped for s in first.shipments] == [False, True, True]
        assert transport.calls == 1 and transport.sent == []
        assert store.state.entries["table"] == NOW - DAY
        transport.fail_on = set()
        pc.gather(
            [config, table],
            mode="manual",
            state=store,
            transport=transport,
            clock=FrozenClock(NOW + timedelta(minutes=1)),
            workdir=tmp_path,
            max_data_size=3000,
        )
        ids: list[str] = []
        for n in range(len(transport.sent)):
            with transport.open(n) as tar:
                ids += [
                    r.split(",")[0]
                    for r in tar.extractfile("./table.csv").read().decode().splitlines()[1:]
                ]
        assert ids == [str(i) for i in range(300)]


CONTENT_TYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"


@pc.register("config", "1.0", config=True)
def eda_config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "eda"}


def received_rows(server: IngressServer) -> list[str]:
    rows: list[str] = []
    for upload in server.received:
        with tarfile.open(upload.path) as tar:
            rows += read_member(tar, "./events.csv").decode().splitlines()[1:]
    return rows


class TestAgainstALocalIngress:
    def test_failed_upload_advances_only_earlier_windows_and_next_run_ships_the_rest(
        self, tmp_path: Path
    ) -> None:
        """After a 413 on the second upload, only the first window counts; the next run sends exactly the rest."""
        start = NOW - 3 * DAY
        events = Source().collector
        store = pc.JsonFileStore(tmp_path / "state.json")
        clock = FrozenClock(NOW)
        with IngressServer(tmp_path / "ingress") as server:
            transport = pc.HttpTransport(url=server.url, content_type=CONTENT_TYPE)
            server.script([Stall(0), Fail(413)])
            first = pc.gather(
                [eda_config, events],
                mode="manual",
                state=store,
                transport=transport,
                clock=clock,
                since=start,
                workdir=tmp_path / "work",
            )
            assert first.status == "partial"
            assert [s.ok for s in first.shipments][:2] == [True, False]
            assert "413" in (first.shipments[1].error or "")
            assert len(server.received) == 1
            assert store.load().entries["events"] == datetime(2026, 11, 25, tzinfo=timezone.utc)

            clock.advance(timedelta(hours=1))
            second = pc.gather(
                [eda_config, events],
                mode="manual",
                state=store,
                transport=transport,
                clock=clock,
                workdir=tmp_path / "work",
            )
            assert second.status == "ok"
            assert received_rows(server) == expected_rows(start, clock.now)
            assert store.load().entries["events"] == clock.now
            assert all(u.content_type == CONTENT_TYPE for u in server.received)
