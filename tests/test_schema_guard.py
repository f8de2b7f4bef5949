"""The schema guard: a CSV header that changes under one version fails before anything ships."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import pipeline_collector as pc
from pipeline_collector.book.schemas import KEEP_VERSIONS, MAX_HEADER, SCHEMAS, header_of, remember
from pipeline_collector.records import Batch, Collection, Collector, Part, State, Task, Window
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
START = NOW - timedelta(days=2)


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "demo"}


@pc.register("hosts", "1.0", format="json")
def hosts(**kwargs: Any) -> dict[str, Any]:
    return {"count": 3}


def csv_collector(
    version: str, header: str, *, dynamic: bool = False, sliced: bool = False
) -> Callable[..., Any]:
    """A CSV collector ``jobs`` of ``version`` whose records start with ``header``."""

    @pc.register(
        "jobs",
        version,
        format="csv",
        dynamic_columns=dynamic,
        fnc_slicing=pc.slicers.daily if sliced else None,
    )
    def jobs(since: datetime, **kwargs: Any) -> Iterator[str]:
        yield header + "\n"
        width = header.count(",") + 1
        yield ",".join([since.strftime("%Y%m%d")] * width) + "\n"

    return jobs


def run(
    store: pc.StateStore,
    jobs: Callable[..., Any],
    tmp_path: Path,
    *,
    transport: FakeTransport | None = None,
    clock: FrozenClock | None = None,
    mode: Any = "manual",
) -> pc.Run:
    return pc.gather(
        [config, hosts, jobs],
        mode=mode,
        state=store,
        transport=transport or FakeTransport(),
        clock=clock or FrozenClock(NOW),
        lock=FakeLock(),
        since=START,
        workdir=tmp_path / "work",
    )


def columns(state: State) -> dict[str, dict[str, Any]]:
    """The record's columns per key and version, without the times they shipped."""
    return {
        key: {version: entry["columns"] for version, entry in versions.items()}
        for key, versions in state.extra[SCHEMAS].items()
    }


def members(transport: FakeTransport) -> list[str]:
    names: list[str] = []
    for n in range(len(transport.sent)):
        with transport.open(n) as tar:
            names += tar.getnames()
    return names


class TestGuard:
    def test_header_change_under_one_version_fails_and_ships_nothing_of_it(
        self, tmp_path: Path
    ) -> None:
        """A new column under the same version fails jobs, ships none of it, keeps its entry."""
        store = MemoryStore()
        assert run(store, csv_collector("1.0", "id,host"), tmp_path).status == "ok"
        shipped_until = store.state.entries["jobs"]
        transport = FakeTransport()
        clock = FrozenClock(NOW + timedelta(hours=6))
        with capture_logs() as logs:
            second = run(
                store,
                csv_collector("1.0", "id,host,owner"),
                tmp_path,
                transport=transport,
                clock=clock,
            )
        assert second.status == "partial"
        (failed,) = second.failures
        assert failed.key == "jobs" and failed.parts == () and failed.rows == 0
        error = failed.error or ""
        for text in (
            "'jobs'",
            "version 1.0",
            "shipped before: id,host",
            "now: id,host,owner",
            "added: owner",
            "bump the version",
        ):
            assert text in error, text
        assert "./jobs.csv" not in members(transport)
        assert "./hosts.json" in members(transport)  # the other keys still ship
        assert store.state.entries["jobs"] == shipped_until
        assert store.state.entries["hosts"] == clock.now
        (event,) = [e for e in logs if e["event"] == "schema.changed"]
        assert event["key"] == "jobs" and event["version"] == "1.0"
        assert event["before"] == "id,host" and event["now"] == "id,host,owner"
        assert not list((tmp_path / "work").rglob("*.part"))  # its parts were removed

    def test_removed_and_reordered_columns_are_named(self, tmp_path: Path) -> None:
        """A dropped column is named as removed; a reorder is called one."""
        store = MemoryStore()
        run(store, csv_collector("1.0", "id,host,owner"), tmp_path)
        dropped = run(store, csv_collector("1.0", "id,owner"), tmp_path)
        assert "removed: host" in (dropped.failures[0].error or "")
        swapped = run(store, csv_collector("1.0", "owner,host,id"), tmp_path)
        assert "same columns, another order" in (swapped.failures[0].error or "")

    def test_new_version_records_the_new_header(self, tmp_path: Path) -> None:
        """Bumping the version ships the new header and records it beside the old one."""
        store = MemoryStore()
        run(store, csv_collector("1.0", "id,host"), tmp_path)
        transport = FakeTransport()
        bumped = run(
            store,
            csv_collector("1.1", "id,host,owner"),
            tmp_path,
            transport=transport,
            clock=FrozenClock(NOW + timedelta(hours=6)),
        )
        assert bumped.status == "ok"
        assert "./jobs.csv" in members(transport)
        assert columns(store.state) == {
            "jobs": {"1.0": ["id", "host"], "1.1": ["id", "host", "owner"]}
        }

    def test_header_is_recorded_only_after_a_confirmed_upload(self, tmp_path: Path) -> None:
        """An upload that fails records no header, so the next run's header is not judged by it."""
        store = MemoryStore()
        refused = run(
            store,
            csv_collector("1.0", "id,host"),
            tmp_path,
            transport=FakeTransport(fail_on={1, 2, 3}),
        )
        assert refused.status == "partial"
        assert SCHEMAS not in store.state.extra
        assert run(store, csv_collector("1.0", "id,owner"), tmp_path).status == "ok"
        assert columns(store.state) == {"jobs": {"1.0": ["id", "owner"]}}

    def test_dry_run_fails_the_collection_and_saves_nothing(self, tmp_path: Path) -> None:
        """A dry run shows the guard's failure before anyone ships, and leaves the state alone."""
        store = MemoryStore()
        run(store, csv_collector("1.0", "id,host"), tmp_path)
        saves = store.saves
        dry = pc.gather(
            [config, csv_collector("1.0", "id")],
            mode="dry-run",
            state=store,
            clock=FrozenClock(NOW),
            since=START,
            workdir=tmp_path / "dry",
        )
        assert [c.key for c in dry.failures] == ["jobs"]
        assert store.saves == saves

    def test_dynamic_columns_opts_out(self, tmp_path: Path) -> None:
        """A collector registered with dynamic_columns=True ships a changed header and records none."""
        store = MemoryStore()
        run(store, csv_collector("1.0", "id,host", dynamic=True), tmp_path)
        again = run(
            store,
            csv_collector("1.0", "id,host,owner", dynamic=True),
            tmp_path,
            clock=FrozenClock(NOW + timedelta(hours=6)),
        )
        assert again.status == "ok"
        assert SCHEMAS not in store.state.extra
        assert pc.discover([config, csv_collector("1.0", "a", dynamic=True)])[-1].dynamic_columns

    def test_later_window_of_the_same_run_must_match_the_first(self, tmp_path: Path) -> None:
        """Within one run, a sliced key's second window with another header fails and stops the key."""
        headers = iter(["id,host", "id,host,owner", "id,host"])

        @pc.register("jobs", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
        def jobs(since: datetime, **kwargs: Any) -> Iterator[str]:
            yield next(headers) + "\n"
            yield f"{since:%Y%m%d},x\n"

        store = MemoryStore()
        result = run(store, jobs, tmp_path)
        statuses = [c.status for c in result.collections if c.key == "jobs"]
        assert statuses == ["ok", "failed", "skipped"]
        assert store.state.entries["jobs"] == datetime(2026, 11, 26, tzinfo=timezone.utc)
        assert columns(store.state) == {"jobs": {"1.0": ["id", "host"]}}

    def test_files_of_one_collection_with_different_headers_fail(self, tmp_path: Path) -> None:
        """A collector returning two CSV files whose headers differ fails under one version."""
        one, two = tmp_path / "one.csv", tmp_path / "two.csv"
        one.write_text("id,host\n1,a\n")
        two.write_text("id,owner\n2,b\n")

        @pc.register("jobs", "1.0", format="csv")
        def jobs(**kwargs: Any) -> list[str]:
            return [str(one), str(two)]

        result = run(MemoryStore(), jobs, tmp_path)
        assert [c.key for c in result.failures] == ["jobs"]
        assert "now: id,owner" in (result.failures[0].error or "")


def _batch(version: str, header: bytes, tmp_path: Path) -> Batch:
    at = NOW
    collector = Collector(key="jobs", version=version, func=print, format="csv")
    task = Task(collector=collector, window=Window(since=at, until=at), seq=1)
    part = Part(
        key="jobs",
        seq=1,
        index=0,
        filename="jobs.csv",
        path=tmp_path / "p",
        raw_size=1,
        deflated_size=1,
        crc32=0,
        rows=1,
        header=header,
    )
    c = Collection(task=task, status="ok", started_at=at, elapsed=0.0, parts=(part,))
    return Batch(group="default", number=0, parts=(part,), collections=(c,))


class TestRecord:
    def test_keeps_the_versions_shipped_last_at_and_past_the_bound(self, tmp_path: Path) -> None:
        """Up to KEEP_VERSIONS versions are kept; one more drops the one shipped longest ago."""
        state = State()
        for minor in range(KEEP_VERSIONS):
            at = NOW + timedelta(hours=minor)
            state = remember(state, _batch(f"1.{minor}", b"a\n", tmp_path), at=at)
        assert len(state.extra[SCHEMAS]["jobs"]) == KEEP_VERSIONS
        state = remember(state, _batch("2.0", b"a\n", tmp_path), at=NOW + timedelta(days=1))
        kept = state.extra[SCHEMAS]["jobs"]
        assert len(kept) == KEEP_VERSIONS and "1.0" not in kept and "2.0" in kept
        state = remember(state, _batch("1.10", b"a\n", tmp_path), at=NOW + timedelta(days=2))
        kept = state.extra[SCHEMAS]["jobs"]
        assert (
            "1.10" in kept
            and "1.1" not in kept
            and list(kept)
            == [
                "1.2",
                "1.3",
                "1.4",
                "1.10",  # versions order as numbers: 1.10 > 1.9
                "2.0",
            ]
        )

    def test_long_header_is_kept_by_digest_at_and_past_the_bound(self) -> None:
        """A header of MAX_HEADER bytes is kept as columns; one byte more, as its sha256."""
        at_bound = b"c" * (MAX_HEADER - 1) + b"\n"
        past = b"c" * MAX_HEADER + b"\n"
        assert header_of(at_bound) == ("c" * (MAX_HEADER - 1),)
        digest = header_of(past)
        assert isinstance(digest, str) and digest.startswith("sha256:") and len(digest) == 71

    def test_long_header_change_is_still_caught(self, tmp_path: Path) -> None:
        """Two long headers that differ fail the collection even though only digests are kept."""
        wide = ",".join(f"column_{n}" for n in range(2000))
        store = MemoryStore()
        assert run(store, csv_collector("1.0", wide), tmp_path).status == "ok"
        assert store.state.extra[SCHEMAS]["jobs"]["1.0"]["columns"].startswith("sha256:")
        changed = run(
            store,
            csv_collector("1.0", wide + ",extra"),
            tmp_path,
            clock=FrozenClock(NOW + timedelta(hours=6)),
        )
        assert [c.key for c in changed.failures] == ["jobs"]
        assert "a header over" in (changed.failures[0].error or "")

    def test_header_that_is_not_utf8_is_recorded_and_compared(self, tmp_path: Path) -> None:
        """A header with bytes that are not UTF-8 is recorded (replaced characters) and guarded."""
        state = remember(State(), _batch("1.0", b"id,h\xffst\n", tmp_path), at=NOW)
        assert state.extra[SCHEMAS]["jobs"]["1.0"] == {
            "columns": ["id", "h\ufffdst"],
            "shipped": "2026-11-27T12:00:00+00:00",
        }
        json.dumps(state.extra[SCHEMAS])  # storable


class TestStoredRecord:
    def test_unreadable_record_is_reported_left_alone_and_not_used(self, tmp_path: Path) -> None:
        """A schemas value of another shape is logged, not used, and saved back exactly as it was."""
        foreign = ["not", "ours"]
        store = MemoryStore(State(extra={SCHEMAS: foreign}))
        with capture_logs() as logs:
            result = run(store, csv_collector("1.0", "id"), tmp_path)
        assert result.status == "ok"
        assert store.state.extra[SCHEMAS] == foreign
        (event,) = [e for e in logs if e["event"] == "state.record_unreadable"]
        assert event["record"] == "schemas" and "not list" in event["error"]

    def test_an_unreadable_key_is_replaced_when_it_ships_and_kept_otherwise(
        self, tmp_path: Path
    ) -> None:
        """A key's entry of another shape is not used; it is rewritten once that key ships."""
        store = MemoryStore(State(extra={SCHEMAS: {"jobs": "garbage", "retired": "garbage"}}))
        with capture_logs() as logs:
            result = run(store, csv_collector("1.0", "id"), tmp_path)
        assert result.status == "ok"
        assert store.state.extra[SCHEMAS]["retired"] == "garbage"
        assert columns(State(extra={SCHEMAS: {"jobs": store.state.extra[SCHEMAS]["jobs"]}})) == {
            "jobs": {"1.0": ["id"]}
        }
        (event,) = [e for e in logs if e["event"] == "state.record_unreadable"]
        assert "schemas['jobs']" in event["error"] and "(and 1 more)" in event["error"]

    def test_state_of_the_old_library_loads_and_keeps_its_form(self, tmp_path: Path) -> None:
        """A JSON state with entries as a string (AWX's form) loads, gains schemas, keeps the form."""
        path = tmp_path / "state.json"
        path.write_text(
            json.dumps(
                {
                    "last_gather": "2026-11-25T12:00:00Z",
                    "entries": json.dumps({"jobs": "2026-11-25T12:00:00Z"}),
                    "install_uuid": "b2",
                }
            )
        )
        store = pc.JsonFileStore(path)
        result = run(store, csv_collector("1.0", "id,host"), tmp_path)
        assert result.status == "ok"
        saved = json.loads(path.read_text())
        assert isinstance(saved["entries"], str) and saved["install_uuid"] == "b2"
        assert saved[SCHEMAS] == {
            "jobs": {"1.0": {"columns": ["id", "host"], "shipped": "2026-11-27T12:00:00+00:00"}}
        }
        guarded = run(
            store, csv_collector("1.0", "id"), tmp_path, clock=FrozenClock(NOW + timedelta(hours=6))
        )
        assert [c.key for c in guarded.failures] == ["jobs"]

    def test_sqlite_store_keeps_the_record_in_one_row(self, tmp_path: Path) -> None:
        """A table store holds the record as the extra:schemas row, and guards from it."""
        store = pc.SqliteStore(tmp_path / "state.db")
        run(store, csv_collector("1.0", "id,host"), tmp_path)
        with sqlite3.connect(tmp_path / "state.db") as conn:
            (value,) = conn.execute(
                "select value from pipeline_collector_state where key = 'extra:schemas'"
            ).fetchone()
        assert columns(State(extra={SCHEMAS: json.loads(value)})) == {
            "jobs": {"1.0": ["id", "host"]}
        }
        guarded = run(
            store, csv_collector("1.0", "id"), tmp_path, clock=FrozenClock(NOW + timedelta(hours=6))
        )
        assert [c.key for c in guarded.failures] == ["jobs"]


@pytest.mark.parametrize("bad", [[1], {"jobs": {"one": ["a"]}}, {"jobs": {"1.0": [1]}}])
def test_malformed_records_are_named(bad: Any) -> None:
    """Each malformed record shape gives a problem that names where it is."""
    from pipeline_collector.book.schemas import read_schemas

    known, problem = read_schemas(State(extra={SCHEMAS: bad}))
    assert known == {} and problem is not None and problem.startswith("state: schemas")
