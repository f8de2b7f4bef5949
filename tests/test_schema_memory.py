"""The schema memory degrades per key, and a version rolled back to is still guarded.

Real runs over a JSON state file: an entry that cannot be read leaves the
guard off for its own key and version only; versions are kept by how
recently they shipped, so 1.0 shipped after 2.0 to 6.0 is the newest entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.book.schemas import KEEP_VERSIONS, SCHEMAS
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "demo"}


def csv_collector(key: str, version: str, header: str) -> Callable[..., Any]:
    @pc.register(key, version, format="csv")
    def rows(since: datetime, **kwargs: Any) -> Iterator[str]:
        yield header + "\n"
        yield ",".join(["1"] * (header.count(",") + 1)) + "\n"

    return rows


class Service:
    """A service whose runs share one JSON state file, each an hour after the last."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.store = pc.JsonFileStore(tmp / "state.json")
        self.clock = FrozenClock(NOW)

    def run(self, *collectors: Callable[..., Any]) -> pc.Run:
        self.clock.advance(timedelta(hours=1))
        return pc.gather(
            [config, *collectors],
            mode="manual",
            state=self.store,
            transport=FakeTransport(),
            lock=FakeLock(),
            clock=self.clock,
            since=NOW - timedelta(days=1),
            workdir=self.tmp / "work",
        )

    def record(self) -> Any:
        return json.loads(self.store.path.read_text())[SCHEMAS]

    def write_record(self, record: Any) -> None:
        data = json.loads(self.store.path.read_text())
        data[SCHEMAS] = record
        self.store.path.write_text(json.dumps(data))


def failed(run: pc.Run) -> list[str]:
    return [c.key for c in run.failures]


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(tmp_path)


@pytest.mark.parametrize(
    "garbage",
    [
        {"retired_key": "garbage"},
        {"retired_key": {"1.0": 42}},
        {"retired_key": {"one": ["a"]}},
        {"jobs": {"0.9": "garbage"}},
        {"jobs": {"0.9": {"columns": ["a"], "shipped": "last tuesday"}}},
    ],
    ids=["a key", "a version's entry", "a version's name", "another version", "a bad time"],
)
def test_one_unreadable_entry_leaves_the_guard_on_for_the_others(
    service: Service, garbage: dict[str, Any]
) -> None:
    assert service.run(csv_collector("jobs", "1.0", "id,host")).status == "ok"
    record = service.record()
    for key, value in garbage.items():
        record[key] = {**record.get(key, {}), **value} if isinstance(value, dict) else value
    service.write_record(record)
    changed = service.run(csv_collector("jobs", "1.0", "id,host,owner"))
    assert failed(changed) == ["jobs"]
    assert "bump the version" in (changed.failures[0].error or "")


def test_a_version_shipped_after_higher_ones_is_kept_and_guarded(service: Service) -> None:
    """2.0 to 6.0 ship, then 1.0: it is the newest entry, so its next change is caught."""
    for major in range(2, 7):
        assert service.run(csv_collector("jobs", f"{major}.0", f"id,v{major}")).status == "ok"
    assert service.run(csv_collector("jobs", "1.0", "id,v1")).status == "ok"
    assert "1.0" in service.record()["jobs"] and len(service.record()["jobs"]) == KEEP_VERSIONS
    assert "2.0" not in service.record()["jobs"]  # shipped longest ago
    changed = service.run(csv_collector("jobs", "1.0", "id,v1,owner"))
    assert failed(changed) == ["jobs"]


def test_a_version_rolled_back_to_and_forth_stays_guarded(service: Service) -> None:
    """Two releases alternating, each shipping in turn, keep both entries however many ship."""
    for major in range(2, 2 + KEEP_VERSIONS + 3):
        assert service.run(csv_collector("jobs", f"{major}.0", f"id,v{major}")).status == "ok"
        assert service.run(csv_collector("jobs", "1.0", "id,v1")).status == "ok"
    assert failed(service.run(csv_collector("jobs", "1.0", "id"))) == ["jobs"]


def test_an_entry_of_the_earlier_form_is_read_and_rewritten(service: Service) -> None:
    assert service.run(csv_collector("jobs", "1.0", "id,host")).status == "ok"
    service.write_record({"jobs": {"1.0": ["id", "host"]}, "hosts": {"1.0": ["id"]}})
    assert failed(service.run(csv_collector("jobs", "1.0", "id"))) == ["jobs"]
    assert service.run(csv_collector("jobs", "1.1", "id")).status == "ok"
    record = service.record()
    assert record["jobs"]["1.0"] == {"columns": ["id", "host"], "shipped": None}
    assert record["jobs"]["1.1"]["columns"] == ["id"] and record["jobs"]["1.1"]["shipped"]
    assert record["hosts"] == {"1.0": ["id"]}  # a key not shipped is kept as it was
