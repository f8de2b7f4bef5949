"""Model-based fault schedules: several consecutive runs, a fault possible at every step.

A schedule is a seeded list of runs.  Each run moves the clock, and each of
its steps may fail: a collector raising, returning ``None`` or hanging past
``task_timeout``; an upload answered 5xx or 413, timing out, or reset after
its body arrived (delivered, no answer); a save of the state failing.  After
every run the model checks what the contract promises:

- no entry passes what was delivered: every source row of a key before its
  entry reached the destination;
- every duplicate is flagged: a row reaches the destination at most once in
  an archive whose shipment the run did not report as a possible duplicate;
- nothing is lost: after a last run without faults, every row up to its
  ``until`` has been delivered.

``run_schedules(n, seed)`` runs ``n`` schedules and returns the counts; the
tests run a few thousand, ``benchmarks/fault_schedules.py`` ten thousand.
"""

from __future__ import annotations

import csv
import io
import random
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

import pipeline_collector as pc
from pipeline_collector.testing import FakeLock, FrozenClock, MemoryStore

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEYS = ("events", "hosts")
COLLECTOR_FAULTS = ("ok",) * 26 + ("raise", "raise", "none", "none", "hang")
UPLOAD_FAULTS = ("ok",) * 8 + ("503", "413", "timeout", "reset")
HANG = 0.3  # task_timeout in a run with faults; a hang sleeps past it (a loaded machine's
# ordinary task stays far below it; the last, clean run has no limit)
SAVE_FAULTS = True


def hourly_rows(key: str, since: datetime, until: datetime) -> Iterator[str]:
    """One row per hour in ``[since, until)``: its id is the hour since START."""
    yield "id,key\n"
    first = max(0, -(-int((since - START).total_seconds()) // 3600))
    hour = START + timedelta(hours=first)
    while hour < until:
        yield f"{int((hour - START).total_seconds()) // 3600},{key}\n"
        hour += timedelta(hours=1)


@attrs.define
class Faults:
    """What goes wrong in the current run, drawn from the schedule's random source."""

    rng: random.Random
    collectors: dict[str, str] = attrs.Factory(dict)
    uploads: list[str] = attrs.Factory(list)
    save_fails_at: int | None = None

    def draw(self, clean: bool) -> None:
        self.collectors = {k: "ok" if clean else self.rng.choice(COLLECTOR_FAULTS) for k in KEYS}
        self.uploads = ["ok" if clean else self.rng.choice(UPLOAD_FAULTS) for _ in range(40)]
        self.save_fails_at = (
            None if clean or not SAVE_FAULTS or self.rng.random() < 0.85 else self.rng.randrange(4)
        )


def collectors(faults: Faults) -> list[Any]:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"service": "schedules"}

    def faulty(key: str, since: datetime, until: datetime) -> Any:
        fault = faults.collectors[key]
        if fault == "raise":
            raise RuntimeError(f"{key} query failed")
        if fault == "none":
            return None
        if fault == "hang":
            time.sleep(HANG * 3)
        return hourly_rows(key, since, until)

    @pc.register("events", "1.0", format="csv", fnc_slicing=pc.slicers.daily)
    def events(since: datetime, until: datetime, **kwargs: Any) -> Any:
        return faulty("events", since, until)

    @pc.register("hosts", "1.0", format="csv")
    def hosts(since: datetime, until: datetime, **kwargs: Any) -> Any:
        return faulty("hosts", since, until)

    return [config, events, hosts]


@attrs.define
class Destination:
    """A transport that keeps every archive that arrived, and fails as scheduled."""

    faults: Faults
    arrived: list[tuple[str, bytes]] = attrs.Factory(list)  # (name, data) in order
    calls: int = 0

    def send(self, archive: pc.Archive) -> pc.Receipt:
        fault = self.faults.uploads[self.calls % len(self.faults.uploads)]
        self.calls += 1
        data = archive.path.read_bytes()
        if fault == "503":
            raise pc.ShipError("ingress answered 503", status=503, retryable=True)
        if fault == "413":
            raise pc.ShipError("ingress answered 413", status=413)
        if fault == "timeout":  # the body went out, no answer came: it may have arrived
            self.arrived.append((archive.name, data))
            raise pc.ShipError("read timed out", maybe_delivered=True)
        if fault == "reset":
            self.arrived.append((archive.name, data))
            raise pc.ShipError("connection reset after the body", maybe_delivered=True)
        self.arrived.append((archive.name, data))
        return pc.Receipt(archive=archive.name, sha256=archive.sha256, destination="model")

    def close(self) -> None:
        """Nothing to release."""


@attrs.define
class FlakyStore:
    """A MemoryStore whose n-th save of a run fails, as a database that went away would."""

    faults: Faults
    inner: MemoryStore = attrs.Factory(MemoryStore)
    saves: int = 0

    def load(self) -> pc.State:
        self.saves = 0
        return self.inner.load()

    def save(self, state: pc.State) -> None:
        n, self.saves = self.saves, self.saves + 1
        if self.faults.save_fails_at is not None and n == self.faults.save_fails_at:
            raise pc.StateError("the state database went away")
        self.inner.save(state)


def rows_of(data: bytes) -> list[tuple[str, int]]:
    """The (key, id) of every row in an archive, member by member."""
    found: list[tuple[str, int]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
        for member in tar:
            if member.name.endswith(".csv") and member.name != "./data_collection_status.csv":
                f = tar.extractfile(member)
                assert f is not None
                for row in csv.DictReader(io.StringIO(f.read().decode())):
                    found.append((row["key"], int(row["id"])))
    return found


@attrs.define
class Model:
    """One schedule: the runs, what arrived, what was flagged, and the checks."""

    seed: int
    runs: int
    folder: Path
    flagged: set[str] = attrs.Factory(set)  # archive names reported as possible duplicates
    checked: Counter[str] = attrs.Factory(Counter)

    def play(self) -> Counter[str]:
        rng = random.Random(self.seed)
        faults = Faults(rng)
        store = FlakyStore(faults)
        dest = Destination(faults)
        clock = FrozenClock(START + timedelta(days=2))
        for n in range(self.runs + 1):
            clean = n == self.runs  # the last run: no faults, to see nothing was lost
            faults.draw(clean)
            clock.advance(timedelta(hours=rng.randrange(1, 30)))
            run = self._run(faults, store, dest, clock, n)
            self.checked[f"status:{run.status if run else 'raised'}"] += 1
            self._check(store.inner.load(), dest, clean, clock())
        return self.checked

    def _run(
        self, faults: Faults, store: FlakyStore, dest: Destination, clock: FrozenClock, n: int
    ) -> pc.Run | None:
        config = pc.RunConfig(
            mode="scheduled",
            workdir=self.folder / f"w{n}",
            horizon=timedelta(days=5),
            task_timeout=None if n == self.runs else HANG,
        )
        try:
            run = pc.gather(
                collectors(faults), config, state=store, transport=dest, lock=FakeLock(),
                clock=clock,
            )  # fmt: skip
        except pc.StateError as e:  # a save that failed after an upload stops the run
            self.checked["save_failed"] += 1
            self.flagged.update(getattr(e, "archives", ()))
            return None
        self.flagged.update(s.archive.name for s in run.possible_duplicates)
        return run

    def _check(self, state: pc.State, dest: Destination, clean: bool, now: datetime) -> None:
        delivered: Counter[tuple[str, int]] = Counter()
        unflagged: Counter[tuple[str, int]] = Counter()
        for name, data in dest.arrived:
            for row in rows_of(data):
                delivered[row] += 1
                if name not in self.flagged:
                    unflagged[row] += 1
        for key, entry in state.entries.items():
            if key.endswith("_full"):
                continue
            first = -(-int((now - timedelta(days=5) - START).total_seconds()) // 3600)
            last = int((entry - START).total_seconds() // 3600)
            missing = [h for h in range(max(0, first), last) if delivered[(key, h)] == 0]
            assert not missing, (
                f"seed {self.seed}: {key} entry {entry} passes unshipped {missing[:5]}"
            )
        twice = [row for row, n in unflagged.items() if n > 1]
        assert not twice, f"seed {self.seed}: rows sent again unflagged: {twice[:5]}"
        if clean:
            for key in KEYS:
                assert state.entries.get(key) == now, f"seed {self.seed}: {key} not caught up"
        self.checked["runs"] += 1


def run_schedules(count: int, seed: int, runs: int = 3) -> Counter[str]:
    """Play ``count`` schedules from ``seed``; raises AssertionError naming the failing seed."""
    total: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="schedules-") as folder:
        for n in range(count):
            model = Model(seed=seed + n, runs=runs, folder=Path(folder) / str(n))
            total.update(model.play())
    total["schedules"] = count
    return total
