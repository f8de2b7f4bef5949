"""The test kit against the real gather: FakeLock and an answering FakeTransport."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.errors import ShipError, StateError
from pipeline_collector.records import Archive, Receipt, State
from pipeline_collector.testing import FakeLock, FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"version": "2.4"}


class Events:
    """A daily-sliced CSV collector that notes, per call, whether ``lock`` was held."""

    def __init__(self, lock: FakeLock | None = None) -> None:
        self.lock = lock
        self.calls = 0
        self.held: list[bool] = []

        @pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
        def events(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
            self.calls += 1
            if self.lock is not None:
                self.held.append(self.lock.holding)
            yield "ts\n"
            yield f"{since.isoformat()}\n"

        self.collector = events


@pytest.fixture
def events() -> Events:
    """A fresh events collector that knows no lock."""
    return Events()


def gather(
    events: Events,
    tmp_path: Path,
    *,
    store: MemoryStore | None = None,
    transport: FakeTransport | None = None,
    lock: FakeLock | None = None,
    **kw: Any,
) -> pc.Run:
    """A manual run over the last three days, shipped to ``transport``."""
    return pc.gather(
        [config, events.collector],
        mode="manual",
        state=store if store is not None else MemoryStore(),
        transport=transport if transport is not None else FakeTransport(),
        lock=lock if lock is not None else FakeLock(),
        clock=FrozenClock(NOW),
        since=NOW - 3 * DAY,
        workdir=tmp_path,
        **kw,
    )


class BrokenStore:
    """A state store whose state cannot be read."""

    def load(self) -> State:
        raise StateError("the stored state is not JSON")

    def save(self, state: State) -> None:
        raise AssertionError("an unreadable state must not be overwritten")


class TestFakeLock:
    def test_fits_the_lock_protocol(self) -> None:
        """A FakeLock is a Lock to the pipeline."""
        assert isinstance(FakeLock(), pc.Lock)

    def test_refused_acquire_releases_nothing(self) -> None:
        """An acquire refused because another holds the lock counts a refusal, not a release."""
        lock = FakeLock(held_elsewhere=True)
        with lock.acquire() as got:
            assert got is False
            assert not lock.holding
        assert (lock.acquisitions, lock.releases, lock.refusals) == (0, 0, 1)
        lock.held_elsewhere = False
        with lock.acquire() as got:
            assert got is True
            assert lock.holding
        assert (lock.acquisitions, lock.releases, lock.refusals) == (1, 1, 1)

    def test_nested_acquire_does_not_release_the_outer_hold(self) -> None:
        """A second acquire while the lock is held is refused and leaves the first holding it."""
        lock = FakeLock()
        with lock.acquire() as outer:
            with lock.acquire() as inner:
                assert (outer, inner) == (True, False)
            assert lock.holding
            assert lock.releases == 0
        assert not lock.holding
        assert (lock.acquisitions, lock.releases, lock.refusals) == (1, 1, 1)

    def test_released_when_the_body_raises(self) -> None:
        """An exception inside the hold still releases the lock, once."""
        lock = FakeLock()
        with pytest.raises(RuntimeError), lock.acquire():
            raise RuntimeError("boom")
        assert not lock.holding
        assert (lock.acquisitions, lock.releases) == (1, 1)

    def test_witness_keeps_the_function(self) -> None:
        """A witnessed function returns what the function returns and notes each call."""
        lock = FakeLock()
        double = lock.witness(lambda n: 2 * n)
        assert double(2) == 4
        with lock.acquire():
            assert double(3) == 6
        assert lock.witnessed == [False, True]


class TestGatherAndTheLock:
    def test_a_held_lock_makes_the_run_do_nothing(self, events: Events, tmp_path: Path) -> None:
        """A run that cannot take the lock reports lock-held and collects, ships and saves nothing."""
        before = State(entries={"events": NOW - 5 * DAY})
        store, transport = MemoryStore(before), FakeTransport()
        lock = FakeLock(held_elsewhere=True)
        run = gather(events, tmp_path, store=store, transport=transport, lock=lock)
        assert run.status == "lock-held"
        assert run.reason == "another run holds the lock"
        assert run.collections == () and run.shipments == ()
        assert events.calls == 0
        assert transport.calls == 0
        assert store.saves == 0 and store.state == before
        assert (lock.acquisitions, lock.releases, lock.refusals) == (0, 0, 1)

    def test_the_run_holds_the_lock_while_shipping(self, tmp_path: Path) -> None:
        """Every archive is sent, and every window collected, while the run holds the lock."""
        lock = FakeLock()
        events = Events(lock)
        transport = FakeTransport(handler=lock.witness(lambda archive: None))
        run = gather(events, tmp_path, transport=transport, lock=lock)
        assert run.status == "ok"
        assert transport.calls == len(run.shipments) >= 3
        assert lock.witnessed == [True] * transport.calls
        assert events.held == [True] * events.calls and events.calls >= 3
        assert (lock.acquisitions, lock.releases, lock.refusals) == (1, 1, 0)
        assert not lock.holding

    def test_a_second_run_during_the_first_is_refused(self, tmp_path: Path) -> None:
        """A run started while another run holds the lock ships nothing and reports lock-held."""
        lock = FakeLock()
        inner_store, inner_transport = MemoryStore(), FakeTransport()
        inner: list[pc.Run] = []

        def start_another(archive: Archive) -> None:
            if not inner:
                inner.append(
                    gather(
                        Events(),
                        tmp_path / "inner",
                        store=inner_store,
                        transport=inner_transport,
                        lock=lock,
                    )
                )

        outer = gather(
            Events(), tmp_path / "outer", transport=FakeTransport(handler=start_another), lock=lock
        )
        assert outer.status == "ok"
        assert [r.status for r in inner] == ["lock-held"]
        assert inner_transport.calls == 0 and inner_store.saves == 0
        assert (lock.acquisitions, lock.releases, lock.refusals) == (1, 1, 1)

    def test_the_lock_is_released_when_the_run_fails(self, events: Events, tmp_path: Path) -> None:
        """A run that raises under the lock still releases it."""
        lock = FakeLock()
        with pytest.raises(StateError):
            pc.gather(
                [config, events.collector],
                mode="manual",
                state=BrokenStore(),
                transport=FakeTransport(),
                lock=lock,
                clock=FrozenClock(NOW),
                workdir=tmp_path,
            )
        assert (lock.acquisitions, lock.releases) == (1, 1)
        assert not lock.holding
        assert events.calls == 0


def answer(destination: str, **changes: Any) -> Any:
    """A handler answering each archive with a receipt from ``destination``."""

    def handler(archive: Archive) -> Receipt:
        fields: dict[str, Any] = {
            "archive": archive.name,
            "sha256": archive.sha256,
            "destination": destination,
            "status": 201,
            "request_id": f"{destination}-{archive.name}",
        }
        return Receipt(**{**fields, **changes})

    return handler


class TestAnsweringTransport:
    def test_a_returned_receipt_ends_up_in_the_run(self, events: Events, tmp_path: Path) -> None:
        """The receipts the handler returns are the run's receipts, in shipping order."""
        store = MemoryStore()
        transport = FakeTransport(handler=answer("mine"))
        run = gather(events, tmp_path, store=store, transport=transport)
        assert run.status == "ok"
        assert len(run.receipts) == transport.calls >= 3
        assert [r.request_id for r in run.receipts] == [f"mine-{n}" for n in transport.names]
        assert {r.destination for r in run.receipts} == {"mine"}
        assert {r.status for r in run.receipts} == {201}
        assert store.state.entries["events"] == NOW

    def test_returning_none_gives_the_default_receipt(self, events: Events, tmp_path: Path) -> None:
        """A handler returning None (as before) gets the fake's own 202 receipt."""
        seen: list[str] = []
        transport = FakeTransport(handler=lambda archive: seen.append(archive.name))
        run = gather(events, tmp_path, transport=transport)
        assert run.status == "ok"
        assert seen == transport.names
        assert [r.request_id for r in run.receipts] == [
            f"fake-{n}" for n in range(1, transport.calls + 1)
        ]
        assert {(r.destination, r.status) for r in run.receipts} == {("fake", 202)}

    def test_a_receipt_for_other_bytes_fails_the_shipment(
        self, events: Events, tmp_path: Path
    ) -> None:
        """A receipt whose sha256 differs from the archive's fails the run's first shipment."""
        store = MemoryStore()
        transport = FakeTransport(handler=answer("mine", sha256="0" * 64))
        run = gather(events, tmp_path, store=store, transport=transport)
        assert run.status == "partial"
        assert run.receipts == ()
        [shipment] = run.shipments
        assert shipment.error is not None and "destination reports sha256" in shipment.error
        assert shipment.maybe_delivered  # the destination took something
        assert "events" not in store.state.entries

    def test_a_maybe_duplicated_receipt_is_reported(self, events: Events, tmp_path: Path) -> None:
        """A receipt saying an earlier attempt's answer was lost flags a possible duplicate."""
        transport = FakeTransport(handler=answer("mine", maybe_duplicated=True))
        run = gather(events, tmp_path, transport=transport)
        assert run.status == "ok"
        assert run.possible_duplicates == run.shipments
        assert all(s.duplicate_risk is not None for s in run.shipments)

    def test_a_raising_handler_still_refuses(self, events: Events, tmp_path: Path) -> None:
        """A handler that raises ShipError refuses the archive: it is not kept as sent."""

        def refuse(archive: Archive) -> Receipt:
            raise ShipError("refused by the test", status=400)

        transport = FakeTransport(handler=refuse)
        run = gather(events, tmp_path, transport=transport)
        assert run.status == "partial"
        assert transport.calls == 1
        assert transport.sent == [] and run.receipts == ()
        [shipment] = run.shipments
        assert shipment.error == "refused by the test" and not shipment.maybe_delivered


class TestCounting:
    """Calls count from 1, ``sent`` from 0: each ``Sent`` says which call it came in."""

    def archive(self, folder: Path, n: int) -> Archive:
        import hashlib

        from pipeline_collector.records import Batch

        path = folder / f"a-{n}.tar.gz"
        path.write_bytes(b"archive %d" % n)
        data = path.read_bytes()
        return Archive(
            path=path,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            members=(),
            batch=Batch(group="default", number=n),
            until=NOW,
        )

    def test_a_refused_call_leaves_no_sent_entry(self, tmp_path: Path) -> None:
        transport = FakeTransport(fail_on={2})
        archives = [self.archive(tmp_path, n) for n in range(3)]
        transport.send(archives[0])
        with pytest.raises(ShipError, match="call 2"):
            transport.send(archives[1])
        receipt = transport.send(archives[2])
        assert transport.calls == 3 and receipt.request_id == "fake-3"
        assert [(s.name, s.call) for s in transport.sent] == [("a-0.tar.gz", 1), ("a-2.tar.gz", 3)]
        assert transport.sent[1].data == b"archive 2"  # open(1) would read this one

    def test_the_fake_takes_uploads_in_a_preflight(self) -> None:
        verdict = pc.preflight(FakeTransport())
        assert verdict.ok and verdict.destination == "fake"
