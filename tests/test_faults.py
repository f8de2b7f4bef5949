"""Faults at the ingress, over real sockets: no row is ever lost, and every
duplicate comes from an upload whose answer was lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support import reliability  # noqa: E402
from support.reliability import CONTENT_TYPE, START, Source, collectors, received_rows  # noqa: E402

from pipeline_collector import (  # noqa: E402
    Archive,
    DirectoryTransport,
    FileLock,
    JsonFileStore,
    Receipt,
    Run,
    ShipError,
    gather,
)
from pipeline_collector.ingress import Drop, Fail, IngressServer, Planned, Stall  # noqa: E402
from pipeline_collector.testing import FrozenClock, MemoryStore  # noqa: E402
from pipeline_collector.transports import HttpTransport, IdentityAuth, RetryPolicy  # noqa: E402


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> reliability.FaultCampaign:
    return reliability.fault_campaign(
        tmp_path_factory.mktemp("faults"), seed=reliability.FAULT_SEED
    )


class TestFaultCampaign:
    """Dozens of runs against an ingress that fails at random, rows added between runs."""

    def test_no_row_is_lost(self, campaign: reliability.FaultCampaign) -> None:
        """Every row of the source reaches the ingress."""
        assert campaign.lost == frozenset()
        assert campaign.source

    def test_last_run_is_ok_and_state_reaches_its_end(
        self, campaign: reliability.FaultCampaign
    ) -> None:
        """The last run succeeds and every key's entry reaches its until."""
        last = campaign.runs[-1]
        assert last.status == "ok"
        assert last.state is not None and last.plan is not None
        assert last.state.last_gather == last.plan.until
        assert dict(last.state.entries) == dict.fromkeys(
            ("events", "hosts", "jobs"), last.plan.until
        )

    def test_faults_were_met(self, campaign: reliability.FaultCampaign) -> None:
        """Each kind of fault was met by an upload, and some runs came out partial."""
        met = set(campaign.faults) - {"ok"}
        assert met == set(reliability.FAULTS)
        assert any(r.status == "partial" for r in campaign.runs)
        assert any(s.receipt and s.receipt.attempts > 1 for s in campaign.shipments)

    def test_every_row_is_in_exactly_one_confirmed_archive(
        self, campaign: reliability.FaultCampaign
    ) -> None:
        """A confirmed row is never sent again: each row is in one confirmed upload."""
        clean: Counter[reliability.Row] = Counter()
        for upload, cause in campaign.causes():
            if cause == "confirmed":
                clean.update(upload.rows)
        assert set(clean) == campaign.source
        assert max(clean.values()) == 1

    def test_duplicates_only_where_an_answer_was_lost(
        self, campaign: reliability.FaultCampaign
    ) -> None:
        """Each extra copy at the ingress matches an attempt whose answer the client lost."""
        copies = Counter(u.sha256 for u in campaign.uploads)
        names = {u.sha256: u.name for u in campaign.uploads}
        for sha, n in copies.items():
            confirmed = 1 if sha in campaign.confirmed else 0
            lost = campaign.lost_answers.get(names[sha], 0)
            assert n <= confirmed + lost, f"{names[sha]} arrived {n} times, {lost} answers lost"
        assert "unexplained" not in {cause for _, cause in campaign.causes()}

    def test_unconfirmed_deliveries_are_reported(self, campaign: reliability.FaultCampaign) -> None:
        """An archive that arrived although its shipment failed is in possible_duplicates."""
        failed_but_arrived = {
            u.sha256 for u in campaign.uploads if u.sha256 not in campaign.confirmed
        }
        assert failed_but_arrived, "the seed should make some failed uploads arrive"
        assert failed_but_arrived <= campaign.flagged

    def test_retry_after_is_honoured(self, campaign: reliability.FaultCampaign) -> None:
        """A 429 with Retry-After: 30 makes the transport wait 30 seconds (an injected sleep)."""
        assert 30.0 in campaign.sleeps

    def test_figures_are_reported(
        self, campaign: reliability.FaultCampaign, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The figures add up, and are printed with the test output."""
        figures = campaign.figures()
        assert figures["rows lost"] == 0
        assert figures["rows sent"] == figures["source rows"] + figures["duplicate rows"]
        assert sum(figures["duplicate rows by cause"].values()) == figures["duplicate rows"]
        with capsys.disabled():
            print(f"\nfault injection, seed {campaign.seed}:\n{reliability.table(figures)}")


# --- single faults, one at a time ------------------------------------------------------


class World:
    """A source, a collector module, state, clock and lock for a few runs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.source = Source(tmp / "source.db", seed=7)
        self.source.grow(START - timedelta(hours=20), START, 30)
        self.module = collectors(self.source.path)
        self.store = MemoryStore()
        self.clock = FrozenClock(START)
        self.lock = FileLock(tmp / "run.lock")

    def run(self, transport: Any, **kwargs: Any) -> Run:
        options: dict[str, Any] = {
            "state": self.store,
            "transport": transport,
            "lock": self.lock,
            "mode": "manual",
            "clock": self.clock,
            "workdir": self.tmp / "work",
            **kwargs,
        }
        return gather(self.module, **options)

    def later(self, hours: int = 1) -> None:
        before = self.clock.now
        self.clock.advance(timedelta(hours=hours))
        self.source.grow(before, self.clock.now, 5)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def ingress(tmp_path: Path) -> Iterator[IngressServer]:
    with IngressServer(tmp_path / "ingress", require_identity=True) as server:
        yield server


def http(server: IngressServer, sleeps: list[float], retries: int = 1) -> HttpTransport:
    return HttpTransport(
        url=server.url,
        content_type=CONTENT_TYPE,
        auth=IdentityAuth.from_ids(org_id="12345"),
        timeout=(5.0, reliability.READ_TIMEOUT),
        retry=RetryPolicy(total=retries, backoff_factor=0.5, jitter=0.0, max_elapsed=None),
        sleep=sleeps.append,
    )


def arrived(server: IngressServer) -> Counter[reliability.Row]:
    return received_rows(u.path.read_bytes() for u in server.received)


class TestRefusals:
    """Answers not worth retrying fail the shipment at once and keep the state."""

    @pytest.mark.parametrize("status", [413, 415, 401, 400, 403])
    def test_refusal_is_not_retried_and_keeps_state(
        self, world: World, ingress: IngressServer, status: int
    ) -> None:
        """A refusal is tried once, names its status, and the next run ships the rows."""
        ingress.script([Fail(status)])
        sleeps: list[float] = []
        with capture_logs() as logs:
            first = world.run(http(ingress, sleeps, retries=3))
        refused = [s for s in first.shipments if not s.ok]
        assert len(refused) == 1 and not refused[0].maybe_delivered
        assert str(status) in (refused[0].error or "")
        assert next(e for e in logs if e["event"] == "ship.refused")["status"] == status
        assert sleeps == []
        assert first.status == "partial"
        entries = world.store.state.entries
        for c in refused[0].archive.collections:
            reached = entries.get(c.key)
            assert reached is None or reached <= c.task.window.since, c.key
        world.later()
        second = world.run(http(ingress, sleeps))
        assert second.status == "ok"
        assert set(arrived(ingress)) == world.source.rows()

    @pytest.mark.parametrize(
        "fault",
        [Fail(500), Fail(502), Fail(503), Fail(429, retry_after=7), Drop(64), Drop(None)],
        ids=["500", "502", "503", "429", "reset", "closed"],
    )
    def test_passing_fault_is_retried(
        self, world: World, ingress: IngressServer, fault: Planned
    ) -> None:
        """A passing fault costs one retry and nothing else: the run is ok, no duplicate."""
        ingress.script([fault])
        sleeps: list[float] = []
        run = world.run(http(ingress, sleeps))
        assert run.status == "ok"
        assert run.shipments[0].receipt is not None
        assert run.shipments[0].receipt.attempts == 2
        assert len(sleeps) == 1
        if isinstance(fault, Fail) and fault.retry_after is not None:
            assert sleeps == [7.0]
        counts = arrived(ingress)
        assert set(counts) == world.source.rows()
        assert max(counts.values()) == 1


class TestLargeUploads:
    """Uploads larger than the socket buffers, where a reset really cuts the body short."""

    def test_reset_mid_upload_is_not_reported_as_delivered(self, world: World) -> None:
        """A connection reset before the body was sent fails without a possible duplicate."""
        world.source.add_large(
            "events", START - timedelta(hours=20), START - timedelta(hours=1), 400, 20000
        )
        with IngressServer(world.tmp / "ingress") as server:
            server.script([Drop(64), Drop(64)])
            transport = HttpTransport(
                url=server.url,
                content_type=CONTENT_TYPE,
                retry=RetryPolicy(total=1, backoff_factor=0.5, jitter=0.0, max_elapsed=None),
                sleep=lambda seconds: None,
            )
            first = world.run(transport)
            failed = [s for s in first.shipments if not s.ok]
            assert failed and failed[0].archive.size > 4 * 2**20
            assert failed[0].archive.sha256 not in {u.sha256 for u in server.received}
            assert "before the body was sent" in (failed[0].error or "")
            assert first.possible_duplicates == ()
            world.later()
            assert world.run(transport).status == "ok"
            counts = arrived(server)
        assert set(counts) == world.source.rows()
        assert max(counts.values()) == 1

    def test_ingress_size_limit_keeps_rows_waiting(self, world: World) -> None:
        """An archive over the ingress's limit is refused (413); its rows wait, none is lost."""
        world.source.add_large(
            "events", START - timedelta(hours=20), START - timedelta(hours=1), 20, 20000
        )
        with IngressServer(world.tmp / "ingress", max_body=256 * 1024) as server:
            transport = HttpTransport(url=server.url, content_type=CONTENT_TYPE)
            with capture_logs() as logs:
                first = world.run(transport)
            [refused] = [s for s in first.shipments if not s.ok]
            assert "413" in (refused.error or "") and "too large" in (refused.error or "")
            assert not refused.maybe_delivered
            assert [e["status"] for e in logs if e["event"] == "ship.refused"] == [413]
            assert world.store.state.entries["events"] <= START - timedelta(days=1)
            shipped = arrived(server)
            assert all(
                row[0] != "events" or row[2] < reliability.stamp(START - timedelta(days=1))
                for row in shipped
            )
            server.max_body = 16 * 2**20  # the ingress takes more now
            world.later()
            second = world.run(transport)
            assert second.status == "ok", second.reason
            counts = arrived(server)
        assert set(counts) == world.source.rows()
        assert max(counts.values()) == 1

    def test_incompressible_rows_are_cut_to_the_upload_limit(self, world: World) -> None:
        """Rows that hardly compress are cut into parts that each fit max_upload_size."""
        world.source.add_large(
            "events", START - timedelta(hours=20), START - timedelta(hours=1), 100, 20000
        )
        limit = 512 * 1024
        with IngressServer(world.tmp / "ingress", max_body=limit + 4096) as server:
            transport = HttpTransport(url=server.url, content_type=CONTENT_TYPE)
            run = world.run(transport, max_upload_size=limit)
            assert run.status == "ok", run.reason
            assert all(a.size <= limit for a in run.archives)
            counts = arrived(server)
        assert set(counts) == world.source.rows()


class TestLostAnswers:
    """An upload the ingress stored but whose answer never came back."""

    def test_exhausted_upload_that_arrived_is_reported(
        self, world: World, ingress: IngressServer
    ) -> None:
        """A stalled answer then a 503 fails the shipment as maybe delivered, and says so."""
        ingress.script([Stall(reliability.STALL), Fail(503)])
        sleeps: list[float] = []
        with capture_logs() as logs:
            first = world.run(http(ingress, sleeps))
        assert first.status == "partial"
        assert len(first.possible_duplicates) == 1
        flagged = first.possible_duplicates[0]
        assert flagged.maybe_delivered and "may have arrived" in (flagged.error or "")
        assert next(e for e in logs if e["event"] == "run.done")["possible_duplicates"] == 1
        stored = [u for u in ingress.received if u.sha256 == flagged.archive.sha256]
        assert len(stored) == 1
        world.later()
        assert world.run(http(ingress, sleeps)).status == "ok"
        counts = arrived(ingress)
        assert set(counts) == world.source.rows()
        twice = {row for row, n in counts.items() if n > 1}
        assert twice and twice <= set(reliability.archive_rows(stored[0].path.read_bytes()))

    def test_retried_upload_after_a_lost_answer_is_reported(
        self, world: World, ingress: IngressServer
    ) -> None:
        """When the ingress stored an upload whose answer was lost and the retry is
        confirmed, the ingress holds two copies and the run's report says so."""
        ingress.script([Stall(reliability.STALL)])
        run = world.run(http(ingress, []))
        assert run.status == "ok"
        copies = Counter(u.sha256 for u in ingress.received)
        assert sorted(copies.values())[-1] == 2  # the first archive, twice
        assert run.possible_duplicates, "two copies arrived and the report is silent"


class TestWindowAcrossArchives:
    """A window whose rows fill several archives."""

    def test_partly_shipped_window_is_reported(self, tmp_path: Path) -> None:
        """Rows sent again because their window was only partly shipped are reported."""
        world = World(tmp_path)
        world.source.add("events", START - timedelta(hours=20), START - timedelta(hours=1), 60)
        with IngressServer(tmp_path / "ingress", require_identity=True) as server:
            server.script([Stall(0), Fail(503), Fail(503)])
            first = world.run(http(server, []), max_data_size=4000)
            assert [s.ok for s in first.shipments][:2] == [True, False]
            world.later()
            second = world.run(http(server, []), max_data_size=4000)
            assert second.status == "ok"
            counts = arrived(server)
        assert set(counts) == world.source.rows()
        duplicated = sum(n - 1 for n in counts.values())
        reported = first.possible_duplicates + second.possible_duplicates
        assert duplicated == 0 or reported, f"{duplicated} rows arrived twice, unreported"


class _RefuseSecond:
    """A destination that refuses the second archive it is given, once."""

    def __init__(self, inner: DirectoryTransport) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, archive: Archive) -> Receipt:
        self.calls += 1
        if self.calls == 2:
            raise ShipError("destination busy", status=503, retryable=True)
        return self.inner.send(archive)


class TestRepeatedRun:
    """A run repeated with the same ``until`` after a partial one."""

    def test_rerun_with_same_until_completes(self, tmp_path: Path) -> None:
        """After a partial run, repeating it with the same until ships what was left."""
        world = World(tmp_path)
        world.source.grow(START - timedelta(days=3), START, 30)
        world.clock.advance(timedelta(hours=6))
        transport = _RefuseSecond(DirectoryTransport(tmp_path / "dest", clock=world.clock))
        store = JsonFileStore(tmp_path / "state.json")
        first = world.run(transport, until=START, state=store)
        assert first.status == "partial"
        again = world.run(transport, until=START, state=store)
        assert again.status == "ok", again.reason
        shipped = reliability.directory_archives(tmp_path / "dest")
        counts = received_rows(p.read_bytes() for p in shipped)
        assert set(counts) == world.source.rows()
        assert max(counts.values()) == 1
        names = [p.name for p in shipped]
        assert len(names) == len(set(names))  # nothing was overwritten
