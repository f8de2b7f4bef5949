"""The flow as a value: a composed flow runs exactly as gather, and the runner keeps its guarantees.

Identity steps at every insertion point must leave every archive byte,
the state and the run's report as plain ``gather`` makes them, on the demo
collectors and under faults (a refused upload, a header changed under one
version, a failing config collector).  A step that breaks an invariant
fails the keys it held, naming the step, and nothing is recorded as shipped
that was not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

import pipeline_collector as pc
from pipeline_collector.demo import grow, jobs_collectors
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=3)

Collectors = list[Callable[..., Any]]


# --- collector modules ------------------------------------------------------------


def faulty(*, header_changes: bool = False, config_fails: bool = False) -> Collectors:
    """A config, a JSON and a daily-sliced CSV collector, with the faults asked for."""

    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, Any]:
        if config_fails:
            raise RuntimeError("settings table is gone")
        return {"service": "flow-test"}

    @pc.register("hosts", "1.0")
    def hosts(**kwargs: Any) -> dict[str, int]:
        return {"count": 3}

    @pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
    def events(since: datetime, **kwargs: Any) -> Iterator[str]:
        late = header_changes and since >= SINCE + timedelta(days=2)
        yield "id,host,note" + (",extra" if late else "") + "\n"
        for n in range(20):
            host = "test-1" if n % 4 == 0 else f"web-{n}"
            row = f'{n},{host},"day {since:%d}, row {n}"'
            yield row + (",x" if late else "") + "\n"

    return [config, hosts, events]


def demo(tmp_path: Path) -> Collectors:
    db = tmp_path / "demo.db"
    grow(db, NOW)
    return list(jobs_collectors(db))


# --- running and comparing -------------------------------------------------------


@attrs.define
class Outcome:
    run: pc.Run
    transport: FakeTransport
    store: MemoryStore


def run(
    collectors: Collectors,
    folder: Path,
    *,
    flow: pc.Flow | None = None,
    fail_on: set[int] | None = None,
    mode: Any = "manual",
    store: MemoryStore | None = None,
) -> Outcome:
    transport = FakeTransport(fail_on=fail_on or set())
    store = store if store is not None else MemoryStore()
    config = pc.RunConfig(mode=mode, since=SINCE, workdir=folder)
    result = pc.gather(
        collectors,
        config,
        state=store,
        transport=transport,
        lock=FakeLock(),
        clock=FrozenClock(NOW),
        flow=flow,
    )
    return Outcome(run=result, transport=transport, store=store)


def seen(o: Outcome) -> dict[str, Any]:
    """What a run did, without timings and folders: what must match between flows."""
    r = o.run
    state = r.state or pc.State()
    extra = {k: v for k, v in state.extra.items() if k != "runs"}
    runs = [{k: v for k, v in x.items() if k != "seconds"} for x in state.extra.get("runs", [])]
    return {
        "status": r.status,
        "reason": r.reason,
        "collections": [
            (
                c.key,
                c.task.seq,
                c.status,
                c.rows,
                c.bytes,
                c.error,
                [(p.filename, p.raw_size, p.crc32, p.rows) for p in c.parts],
            )
            for c in r.collections
        ],
        "archives": [(a.name, a.size, a.sha256, a.members) for a in r.archives],
        "shipments": [
            (s.archive.name, s.ok, s.error, s.maybe_delivered, s.skipped, s.resent_later)
            for s in r.shipments
        ],
        "sent": [(s.name, s.data) for s in o.transport.sent],
        "entries": dict(state.entries),
        "last_gather": state.last_gather,
        "extra": extra,
        "runs": runs,
    }


def identity_everywhere() -> pc.Flow:
    """The default flow with a step that changes nothing at every insertion point."""
    same: Callable[[Any], Any] = lambda record: record  # noqa: E731
    flow = pc.default_flow()
    flow = flow.after("collect", pc.step("rows_as_they_are", same, on="rows"))
    flow = flow.after("rows_as_they_are", pc.map_rows("rows_mapped_to_themselves", dict))
    flow = flow.after("chunk", pc.step("collection_as_it_is", same, on="collection"))
    flow = flow.after("pack", pc.step("batch_as_it_is", same, on="batch"))
    flow = flow.after("archive", pc.step("archive_as_it_is", same, on="archive"))
    return flow.after("ship", pc.step("shipment_as_it_is", same, on="shipment"))


class TestIdentityFlow:
    """default_flow() plus identity steps behaves byte for byte as plain gather."""

    def test_every_insertion_point_is_offered(self) -> None:
        """The identity flow has a step at each boundary between the default steps."""
        assert identity_everywhere().names == (
            "collect", "rows_as_they_are", "rows_mapped_to_themselves", "chunk",
            "collection_as_it_is", "pack", "batch_as_it_is", "archive", "archive_as_it_is",
            "ship", "shipment_as_it_is",
        )  # fmt: skip

    def test_demo_collectors(self, tmp_path: Path) -> None:
        """On the demo collectors: the same archives, state and report."""
        plain = run(demo(tmp_path), tmp_path / "a")
        composed = run(demo(tmp_path), tmp_path / "b", flow=identity_everywhere())
        assert plain.run.status == "ok" and len(plain.transport.sent) > 1
        assert seen(composed) == seen(plain)

    def test_a_failing_upload(self, tmp_path: Path) -> None:
        """With the second upload refused: the same stop of the key, state and report."""
        plain = run(faulty(), tmp_path / "a", fail_on={2})
        composed = run(faulty(), tmp_path / "b", fail_on={2}, flow=identity_everywhere())
        assert plain.run.status == "partial" and any(not s.ok for s in plain.run.shipments)
        assert seen(composed) == seen(plain)

    def test_a_header_changed_under_one_version(self, tmp_path: Path) -> None:
        """A header changed on the third day: the same failed window and stopped key."""
        plain = run(faulty(header_changes=True), tmp_path / "a")
        composed = run(faulty(header_changes=True), tmp_path / "b", flow=identity_everywhere())
        assert "header changed" in (plain.run.reason or "")
        assert seen(composed) == seen(plain)

    def test_a_failing_config_collector(self, tmp_path: Path) -> None:
        """The config collector fails: nothing ships either way, with the same report."""
        plain = run(faulty(config_fails=True), tmp_path / "a")
        composed = run(faulty(config_fails=True), tmp_path / "b", flow=identity_everywhere())
        assert plain.run.status == "failed" and plain.transport.sent == []
        assert seen(composed) == seen(plain)

    def test_a_dry_run(self, tmp_path: Path) -> None:
        """In a dry run the shipping steps are left out and the archives kept alike."""
        plain = run(faulty(), tmp_path / "a", mode="dry-run")
        composed = run(faulty(), tmp_path / "b", mode="dry-run", flow=identity_everywhere())
        assert plain.run.archives and all(a.path.exists() for a in composed.run.archives)
        assert seen(composed) == seen(plain)


# --- the user's flow of the docs, in under 30 lines -------------------------------


def users_flow() -> tuple[pc.Flow, list[int]]:
    """A row filter before chunk and a per-archive byte counter before ship."""
    counted: list[int] = []

    def real_hosts(row: dict[str, str]) -> bool:
        return not row["host"].startswith("test-")

    def count_bytes(archive: pc.Archive) -> pc.Archive:
        counted.append(archive.size)
        return archive

    flow = (
        pc.default_flow()
        .after("collect", pc.filter_rows("drop_test_hosts", real_hosts))
        .before("ship", pc.step("count_bytes", count_bytes, on="archive"))
    )
    return flow, counted


def without_test_hosts(collectors: Collectors) -> Collectors:
    """The same module whose CSV collector leaves the test hosts out itself."""
    (config, hosts, events) = collectors

    @pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
    def filtered(**kwargs: Any) -> Iterator[str]:
        for line in events(**kwargs):
            if ",test-" not in line:
                yield line

    return [config, hosts, filtered]


class TestUsersFlow:
    """A row filter and an archive counter behave as gather does under the same faults."""

    @pytest.mark.parametrize("fail_on", [set(), {2}, {1, 3}])
    def test_same_as_gather_over_filtered_rows(self, tmp_path: Path, fail_on: set[int]) -> None:
        """Archives, state and report equal those of gather over a collector that filters."""
        flow, counted = users_flow()
        composed = run(faulty(), tmp_path / "a", flow=flow, fail_on=fail_on)
        plain = run(without_test_hosts(faulty()), tmp_path / "b", fail_on=fail_on)
        assert seen(composed) == seen(plain)
        assert counted == [s.archive.size for s in plain.run.shipments if not s.skipped]
        for n in range(len(composed.transport.sent)):
            with composed.transport.open(n) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member)
                    assert data is not None and b",test-" not in data.read()


# --- a step that breaks an invariant ----------------------------------------------


def entries(o: Outcome) -> dict[str, datetime]:
    return dict(o.store.load().entries)


class TestBrokenSteps:
    """A step that drops, invents, oversizes or raises fails its keys, naming the step."""

    def test_a_collection_step_that_drops_one(self, tmp_path: Path) -> None:
        """Returning None for a collection fails its window; later windows of the key wait."""

        def drop_second_day(c: pc.Collection) -> pc.Collection | None:
            return None if c.key == "events" and c.task.window.since.day == 25 else c

        flow = pc.default_flow().after("chunk", pc.step("drop", drop_second_day, on="collection"))
        o = run(faulty(), tmp_path, flow=flow)
        failed = [c for c in o.run.collections if c.status == "failed"]
        assert [c.key for c in failed] == ["events"]
        assert "step 'drop' gave NoneType, not a Collection" in (failed[0].error or "")
        assert entries(o)["events"] == datetime(2026, 11, 25, tzinfo=timezone.utc)  # day one
        assert o.run.status == "partial"

    def test_a_collection_step_that_invents_one(self, tmp_path: Path) -> None:
        """A collection of another task in place of the one given fails the given one."""
        first: list[pc.Collection] = []

        def swap(c: pc.Collection) -> pc.Collection:
            first.append(c)
            return first[0]

        flow = pc.default_flow().after("chunk", pc.step("swap", swap, on="collection"))
        o = run(faulty(), tmp_path, flow=flow)
        errors = [c.error or "" for c in o.run.collections if c.status == "failed"]
        assert errors and all(
            "step 'swap' gave the collection of another task" in e for e in errors
        )
        assert set(entries(o)) == {first[0].key}

    def test_an_archive_step_that_passes_the_bound(self, tmp_path: Path) -> None:
        """An archive grown past max_upload_size is never shipped; its keys fail, naming it."""

        def pad(archive: pc.Archive) -> pc.Archive:
            with archive.path.open("ab") as f:
                f.write(b"\0" * (200 * 2**10))
            return attrs.evolve(archive, size=archive.path.stat().st_size)

        transport = FakeTransport()
        store = MemoryStore()
        flow = pc.default_flow().before("ship", pc.step("pad", pad, on="archive"))
        result = pc.gather(
            faulty(),
            pc.RunConfig.from_values(
                mode="manual", since=SINCE, workdir=tmp_path, max_upload_size=200 * 2**10
            ),
            state=store,
            transport=transport,
            lock=FakeLock(),
            clock=FrozenClock(NOW),
            flow=flow,
        )
        assert transport.sent == [] and store.load().entries == {}
        assert "step 'pad' gave" in (result.reason or "") and "over the upload bound" in (
            result.reason or ""
        )
        assert list(tmp_path.glob("*.tar.gz")) == []  # refused archives are removed

    def test_an_archive_step_that_raises(self, tmp_path: Path) -> None:
        """A raising archive step fails that archive's keys; nothing is recorded as shipped."""

        def explode(archive: pc.Archive) -> pc.Archive:
            raise OSError("disk went away")

        flow = pc.default_flow().before("ship", pc.step("explode", explode, on="archive"))
        o = run(faulty(), tmp_path, flow=flow)
        assert o.transport.sent == [] and entries(o) == {}
        assert "step 'explode' raised OSError: disk went away" in (o.run.reason or "")

    def test_a_pack_that_leaves_out_parts(self, tmp_path: Path) -> None:
        """A replaced pack that forgets the CSV parts fails that key, naming the step."""

        def only_json(collections: Iterable[pc.Collection], context: pc.Context) -> Iterator[Any]:
            for batch in pc.default_flow()["pack"](collections, context):
                keep = tuple(p for p in batch.parts if not p.filename.endswith(".csv"))
                yield attrs.evolve(batch, parts=keep)

        flow = pc.default_flow().replace("pack", only_json)
        o = run(faulty(), tmp_path, flow=flow)
        assert "step 'pack' left out parts of ['events']" in (o.run.reason or "")
        assert "events" not in entries(o) and "hosts" in entries(o)

    def test_a_shipment_step_cannot_turn_a_failure_into_a_success(self, tmp_path: Path) -> None:
        """An observer that claims a refused archive shipped changes nothing in the books."""

        def claim(s: pc.Shipment) -> pc.Shipment:
            receipt = pc.Receipt(archive=s.archive.name, sha256="", destination="nowhere")
            return attrs.evolve(s, receipt=receipt, error=None)

        flow = pc.default_flow().after("ship", pc.step("claim", claim, on="shipment"))
        o = run(faulty(), tmp_path, flow=flow, fail_on={1})
        plain = run(faulty(), tmp_path / "plain", fail_on={1})
        assert entries(o) == entries(plain)
        assert "step 'claim' changed whether" in (o.run.reason or "")

    def test_a_row_step_that_raises_names_itself(self, tmp_path: Path) -> None:
        """A row filter that raises fails that window with the step's name and the row's key."""

        def picky(row: dict[str, str]) -> bool:
            raise KeyError("hostname")

        flow = pc.default_flow().after("collect", pc.filter_rows("picky", picky))
        o = run(faulty(), tmp_path, flow=flow)
        failed = [c for c in o.run.collections if c.status == "failed"]
        assert failed and "step 'picky' raised KeyError on a row of 'events'" in (
            failed[0].error or ""
        )
        assert "events" not in entries(o)


class TestFlowValue:
    """The flow's methods refuse what cannot run, naming it."""

    def test_an_unknown_step_is_named_with_the_known_ones(self) -> None:
        """after() on a missing name lists the flow's steps."""
        with pytest.raises(pc.ConfigurationError, match="no step 'zip'; it has collect, chunk"):
            pc.default_flow().after("zip", pc.step("x", lambda r: r, on="archive"))

    def test_a_step_in_the_wrong_place(self) -> None:
        """An archive step after pack (where batches flow) is refused at once."""
        with pytest.raises(pc.ConfigurationError, match="takes archive, but 'pack'"):
            pc.default_flow().after("pack", pc.step("x", lambda r: r, on="archive"))

    def test_a_replacement_of_another_kind(self) -> None:
        """Replacing ship with an archive step is refused: it would never ship."""
        with pytest.raises(pc.ConfigurationError, match="replaces takes archive and gives"):
            pc.default_flow().replace("ship", pc.step("x", lambda r: r, on="archive"))

    def test_names_are_unique(self) -> None:
        """Two steps of one name are refused."""
        with pytest.raises(pc.ConfigurationError, match="more than once"):
            pc.default_flow().after("chunk", pc.step("pack", lambda r: r, on="collection"))

    def test_gather_refuses_what_is_not_a_flow(self, tmp_path: Path) -> None:
        """A list of functions in place of a Flow says where to start."""
        with pytest.raises(pc.ConfigurationError, match="start from default_flow"):
            pc.gather(faulty(), flow=[print], workdir=tmp_path)  # type: ignore[arg-type]
