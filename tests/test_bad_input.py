"""Bad input: each gives a clear error or log event naming the culprit, the
rest of the run goes on where that is safe, and the bookkeeping of what
failed stays where it was."""

from __future__ import annotations

import csv
import io
import subprocess
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
from structlog.testing import capture_logs
from support import reliability  # noqa: E402
from support.reliability import CONTENT_TYPE, START, Source, collectors, received_rows  # noqa: E402

from pipeline_collector import (  # noqa: E402
    ConfigurationError,
    DirectoryTransport,
    FileLock,
    JsonFileStore,
    Run,
    State,
    StateError,
    gather,
    register,
    slicers,
)
from pipeline_collector.ingress import IngressServer  # noqa: E402
from pipeline_collector.testing import FrozenClock  # noqa: E402
from pipeline_collector.transports import (  # noqa: E402
    BasicAuth,
    ClientCertAuth,
    HttpTransport,
    IdentityAuth,
    OAuth2ClientCredentials,
)

Func = Callable[..., Any]


class Bench:
    """A source, its collectors, a real destination folder, a JSON state file and a lock."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.source = Source(tmp / "source.db", seed=11)
        self.source.grow(START - timedelta(days=2), START, 30)
        self.module = collectors(self.source.path)
        self.clock = FrozenClock(START)
        self.dest = tmp / "dest"
        self.store = JsonFileStore(tmp / "state" / "state.json")
        self.lock = FileLock(tmp / "run.lock")
        self.calls: list[str] = []

    @property
    def base(self) -> list[Func]:
        m = self.module
        return [m.config, m.events, m.jobs, m.hosts]

    def run(self, funcs: list[Func] | None = None, **kwargs: Any) -> Run:
        options: dict[str, Any] = {
            "state": self.store,
            "transport": DirectoryTransport(self.dest, clock=self.clock),
            "lock": self.lock,
            "mode": "manual",
            "clock": self.clock,
            "workdir": self.tmp / "work",
            **kwargs,
        }
        return gather(self.base if funcs is None else funcs, **options)

    def later(self, days: int = 1) -> None:
        before = self.clock.now
        self.clock.advance(timedelta(days=days))
        self.source.grow(before, self.clock.now, 12)

    def archives(self) -> list[bytes]:
        return [p.read_bytes() for p in reliability.directory_archives(self.dest)]

    def delivered(self) -> set[reliability.Row]:
        return set(received_rows(self.archives()))

    def state_bytes(self) -> bytes:
        return self.store.path.read_bytes()

    def recorder(self) -> Func:
        """A collector that only notes that it was called."""

        @register("noted", "1.0", format="json")
        def noted(**kwargs: Any) -> dict[str, int]:
            self.calls.append("noted")
            return {"n": 1}

        return noted


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(tmp_path)


def status_rows(archive: bytes) -> list[dict[str, str]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile("./data_collection_status.csv")
        assert member is not None
        return list(csv.DictReader(io.StringIO(member.read().decode())))


# --- collectors that misbehave ----------------------------------------------------------


def _raises(**kwargs: Any) -> Any:
    raise RuntimeError("database went away")


def _none(**kwargs: Any) -> Any:
    return None


def _not_json(**kwargs: Any) -> Any:
    return {"when": object()}


def _non_text(**kwargs: Any) -> Iterator[Any]:
    yield "id,n\r\n"
    yield 42


def _tuples(**kwargs: Any) -> Iterator[Any]:
    yield "id,n\r\n"
    yield ("1", "2")


def _bad_utf8(**kwargs: Any) -> Iterator[bytes]:
    yield b"id,n\n"
    yield b"1,\xff\xfe\xfa\n"


def _no_header(full_path: str, **kwargs: Any) -> str:
    path = Path(full_path) / "empty.csv"
    path.write_bytes(b"")
    return str(path)


def _breaks_mid_stream(**kwargs: Any) -> Iterator[str]:
    yield "id,n\r\n"
    yield "1,2\r\n"
    raise ValueError("cursor closed")


def _missing_file(full_path: str, **kwargs: Any) -> str:
    return str(Path(full_path) / "never-written.csv")


def _number(**kwargs: Any) -> Any:
    return 42


def _nan(**kwargs: Any) -> Any:
    return {"mean": float("nan")}


def _infinity(**kwargs: Any) -> Any:
    return {"max": [1.0, float("-inf")]}


MISBEHAVIOURS: dict[str, tuple[str, Func, str]] = {
    "raises": ("json", _raises, "raised RuntimeError: database went away"),
    "returns None": ("json", _none, "returned None"),
    "returns no JSON": ("json", _not_json, "not strict JSON"),
    "returns NaN": ("json", _nan, "NaN and Infinity have no JSON form"),
    "returns -Infinity": ("json", _infinity, "NaN and Infinity have no JSON form"),
    "csv returns None": ("csv", _none, "return [] or an empty iterator for no data"),
    "csv raises": ("csv", _raises, "raised RuntimeError: database went away"),
    "yields an int": ("csv", _non_text, "yielded int as record 1"),
    "yields a tuple": ("csv", _tuples, "yielded tuple as record 1"),
    "yields invalid UTF-8": ("csv", _bad_utf8, "not valid UTF-8"),
    "writes no header": ("csv", _no_header, "no CSV header"),
    "breaks mid-stream": ("csv", _breaks_mid_stream, "raised ValueError: cursor closed"),
    "returns a missing file": ("csv", _missing_file, "not a file"),
    "returns a number": ("csv", _number, "returned int"),
}


def flaky(fmt: str, bad: Func, switch: dict[str, bool]) -> Func:
    """A collector keyed ``flaky`` that misbehaves while ``switch['bad']`` is set."""

    @register("flaky", "1.0", format=fmt)
    def flaky(**kwargs: Any) -> Any:
        if switch["bad"]:
            return bad(**kwargs)
        return {"ok": True} if fmt == "json" else iter(["id,n\r\n", "1,2\r\n"])

    return flaky


class TestMisbehavingCollector:
    """A collector that raises or hands back the wrong thing fails alone."""

    @pytest.mark.parametrize("kind", sorted(MISBEHAVIOURS))
    def test_failure_is_named_and_the_rest_ships(self, bench: Bench, kind: str) -> None:
        """The failure names the key and what went wrong, the other keys ship, its entry stays."""
        fmt, bad, expected = MISBEHAVIOURS[kind]
        switch = {"bad": False}
        funcs = [*bench.base, flaky(fmt, bad, switch)]
        assert bench.run(funcs).status == "ok"
        before = bench.store.load().entries["flaky"]

        bench.later()
        switch["bad"] = True
        with capture_logs() as logs:
            run = bench.run(funcs)
        assert run.status == "partial"
        [failure] = run.failures
        assert failure.key == "flaky"
        assert "flaky" in (failure.error or "") and expected in (failure.error or "")
        events = [e for e in logs if e["event"] == "collection.failed"]
        assert [(e["key"], expected in e["error"]) for e in events] == [("flaky", True)]
        assert "flaky" in (run.reason or "")

        entries = bench.store.load().entries
        assert entries["flaky"] == before
        assert {k: v for k, v in entries.items() if k != "flaky"} == dict.fromkeys(
            ("events", "jobs", "hosts"), bench.clock.now
        )
        assert bench.delivered() == bench.source.rows()
        failed = [
            row
            for archive in bench.archives()
            for row in status_rows(archive)
            if row["file_name"] == f"flaky.{fmt}" and row["status"] == "failed"
        ]
        assert len(failed) == 1

        switch["bad"] = False
        bench.later()
        assert bench.run(funcs).status == "ok"
        assert bench.store.load().entries["flaky"] == bench.clock.now

    def test_csv_returning_none_is_empty_when_it_says_so(self, bench: Bench) -> None:
        """With none_is_empty=True, None from a CSV collector is empty, not failed, and moves on."""

        @register("flaky", "1.0", format="csv", none_is_empty=True)
        def flaky(**kwargs: Any) -> Any:
            return None

        run = bench.run([*bench.base, flaky])
        assert run.status == "ok"
        [flaky_run] = [c for c in run.collections if c.key == "flaky"]
        assert flaky_run.status == "empty"
        assert bench.store.load().entries["flaky"] == bench.clock.now

    def test_csv_returning_none_keeps_its_entry(self, bench: Bench) -> None:
        """None from a CSV collector (a failed query, eda-server style) leaves its entry where it was."""
        switch = {"bad": False}
        funcs = [*bench.base, flaky("csv", _none, switch)]
        assert bench.run(funcs).status == "ok"
        before = bench.store.load().entries["flaky"]
        bench.later()
        switch["bad"] = True
        run = bench.run(funcs)
        assert run.status == "partial"
        assert bench.store.load().entries["flaky"] == before
        [failure] = run.failures
        assert failure.key == "flaky" and "returned None" in (failure.error or "")

    def test_failed_window_stops_its_key(self, bench: Bench) -> None:
        """A sliced collector failing on one day ships the days before it and none after."""
        bench.run()
        bench.source.grow(START, START + timedelta(days=4), 40)
        bench.clock.advance(timedelta(days=4))
        bad_day = START + timedelta(days=1)

        @register("events", "1.2", format="csv", fnc_slicing=slicers.daily)
        def events(since: datetime, until: datetime, **kwargs: Any) -> Any:
            if since == bad_day:
                raise RuntimeError("replica lagging")
            return bench.module.events(since=since, until=until, **kwargs)

        funcs = [bench.module.config, events, bench.module.jobs, bench.module.hosts]
        with capture_logs() as logs:
            run = bench.run(funcs)
        assert run.status == "partial"
        assert bench.store.load().entries["events"] == bad_day
        skipped = [e for e in logs if e["event"] == "collection.skipped"]
        assert {e["key"] for e in skipped} == {"events"} and len(skipped) == 2
        rows = bench.delivered()
        assert all(r[2] < reliability.stamp(bad_day) for r in rows if r[0] == "events")

        bench.clock.advance(timedelta(hours=1))
        assert bench.run().status == "ok"
        assert bench.delivered() == bench.source.rows()


# --- settings that cannot be used -------------------------------------------------------


def _config(**kwargs: Any) -> dict[str, int]:
    return {"v": 1}


def _keyed(key: str, version: str = "1.0", **options: Any) -> Func:
    def func(**kwargs: Any) -> dict[str, int]:
        return {"v": 1}

    return register(key, version, **options)(func)


class TestSettings:
    """Settings that cannot be used stop the run before anything is collected."""

    def check_nothing_happened(self, bench: Bench, state: bytes) -> None:
        assert bench.calls == []
        assert bench.state_bytes() == state
        assert len(bench.archives()) == 1  # the first, good run's

    @pytest.fixture
    def state(self, bench: Bench) -> bytes:
        bench.run([bench.module.config, bench.module.hosts])
        bench.later()
        return bench.state_bytes()

    @pytest.mark.parametrize(
        ("funcs", "expected"),
        [
            (lambda b: [*b.base, _keyed("jobs")], "'jobs' is registered twice"),
            (lambda b: [b.module.events, b.module.jobs], "exactly one config collector"),
            (
                lambda b: [
                    b.module.jobs,
                    _keyed("settings", config=True),
                    _keyed("other", config=True),
                ],
                "found 'settings', 'other'",
            ),
            (lambda b: [*b.base, _keyed("../x")], "'../x' must match"),
            (lambda b: [*b.base, _keyed("Jobs")], "'Jobs' must match"),
            (lambda b: [*b.base, _keyed("a b")], "'a b' must match"),
            (lambda b: [*b.base, _keyed("x/y")], "'x/y' must match"),
            (lambda b: [*b.base, _keyed("ok", version="1")], "version '1' must be"),
            (lambda b: [*b.base, _keyed("ok", version="1.0.0")], "version '1.0.0' must be"),
            (lambda b: [*b.base, _keyed("ok", version="v1.0")], "version 'v1.0' must be"),
            (lambda b: [*b.base, _keyed("ok", format="xml")], "format 'xml' must be"),
            (
                lambda b: [*b.base, _keyed("ok", full_sync_interval_days=0)],
                "full_sync_interval_days 0",
            ),
        ],
        ids=[
            "duplicate-key",
            "no-config",
            "two-configs",
            "key-dotdot",
            "key-upper",
            "key-space",
            "key-slash",
            "version-1",
            "version-3-parts",
            "version-v",
            "format",
            "full-sync-days",
        ],
    )
    def test_bad_collectors(
        self,
        bench: Bench,
        state: bytes,
        funcs: Callable[[Bench], list[Func]],
        expected: str,
    ) -> None:
        """A bad collector set raises ConfigurationError naming the culprit."""
        with pytest.raises(ConfigurationError) as caught:
            bench.run([*funcs(bench), bench.recorder()])
        assert expected in str(caught.value)
        self.check_nothing_happened(bench, state)

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            ({"since": datetime(2026, 10, 30)}, "since=2026-10-30T00:00:00 has no timezone"),
            ({"until": datetime(2026, 10, 30)}, "until=2026-10-30T00:00:00 has no timezone"),
            ({"clock": lambda: datetime(2026, 11, 2)}, "now=2026-11-02T00:00:00 has no timezone"),
            (
                {"since": START, "until": START},
                "since=2026-11-01T00:00:00+00:00 is not before until",
            ),
            (
                {"since": START, "until": START - timedelta(hours=1)},
                "is not before until=2026-10-31T23:00:00+00:00",
            ),
            ({"mode": "sometimes"}, "mode 'sometimes' must be one of"),
            ({"transport": None}, "pass a transport"),
            ({"state": None}, "pass a state store"),
            ({"max_data_size": 0}, "max_data_size"),
        ],
        ids=[
            "naive-since",
            "naive-until",
            "naive-clock",
            "since-equals-until",
            "since-after-until",
            "mode",
            "no-transport",
            "no-state",
            "no-room",
        ],
    )
    def test_bad_run_settings(
        self, bench: Bench, state: bytes, options: dict[str, Any], expected: str
    ) -> None:
        """A bad window, mode or destination raises ConfigurationError saying what is wrong."""
        with pytest.raises(ConfigurationError) as caught:
            bench.run([*bench.base, bench.recorder()], **options)
        assert expected in str(caught.value)
        self.check_nothing_happened(bench, state)


# --- slicers ------------------------------------------------------------------------


def _overlapping(
    key: str, last: datetime, since: datetime, until: datetime, **kw: Any
) -> Iterator[tuple[datetime, datetime]]:
    yield since, since + timedelta(hours=2)
    yield since + timedelta(hours=1), until


def _unordered(
    key: str, last: datetime, since: datetime, until: datetime, **kw: Any
) -> Iterator[tuple[datetime, datetime]]:
    yield since + timedelta(hours=2), until
    yield since, since + timedelta(hours=2)


def _naive(
    key: str, last: datetime, since: datetime, until: datetime, **kw: Any
) -> Iterator[tuple[datetime, datetime]]:
    yield since.replace(tzinfo=None), until


def _slicer_raises(key: str, last: datetime, **kw: Any) -> NoReturn:
    raise KeyError("cursor")


def _junk(key: str, last: datetime, **kw: Any) -> Iterator[str]:
    yield "yesterday"


def _reversed(
    key: str, last: datetime, since: datetime, until: datetime, **kw: Any
) -> Iterator[tuple[datetime, datetime]]:
    yield until, since


SLICERS: dict[str, tuple[Func, str]] = {
    "overlapping": (_overlapping, "overlaps or precedes the previous one"),
    "unordered": (_unordered, "overlaps or precedes the previous one"),
    "naive": (_naive, "has no timezone"),
    "raises": (_slicer_raises, "raised KeyError"),
    "junk": (_junk, "expected (since, until)"),
    "reversed": (_reversed, "empty or reversed window"),
}


class TestSlicers:
    """A slicer that yields bad windows or raises stops its own key only."""

    @pytest.mark.parametrize("kind", sorted(SLICERS))
    def test_bad_slicer_stops_its_key(self, bench: Bench, kind: str) -> None:
        """The error names the key, its collector is never called, the others ship."""
        slicer, expected = SLICERS[kind]
        switch = {"bad": False}

        def chooser(*args: Any, **kwargs: Any) -> Any:
            chosen = slicer if switch["bad"] else slicers.daily
            return chosen(*args, **kwargs)

        calls: list[datetime] = []

        @register("sliced", "1.0", format="csv", fnc_slicing=chooser)
        def sliced(since: datetime, **kwargs: Any) -> Iterator[str]:
            calls.append(since)
            yield "id\r\n"
            yield "1\r\n"

        funcs = [*bench.base, sliced]
        assert bench.run(funcs).status == "ok"
        before = bench.store.load().entries["sliced"]
        bench.later()
        switch["bad"] = True
        calls.clear()
        with capture_logs() as logs:
            run = bench.run(funcs)
        assert run.status == "partial"
        assert run.plan is not None
        [problem] = run.plan.problems
        assert problem.key == "sliced" and expected in problem.message
        assert "'sliced'" in problem.message
        [event] = [e for e in logs if e["event"] == "slicer.failed"]
        assert event["key"] == "sliced" and expected in event["error"]
        assert calls == []
        entries = bench.store.load().entries
        assert entries["sliced"] == before
        assert entries["events"] == entries["jobs"] == bench.clock.now
        assert bench.delivered() == bench.source.rows()


# --- state files ----------------------------------------------------------------------


STATE_FILES = {
    "empty": (b"", "state file is empty"),
    "blank": (b"  \n", "state file is empty"),
    "corrupt": (b'{"last_gather": "2026-', "not valid JSON"),
    "not UTF-8": (b"\xff\xfe{}", "not UTF-8"),
    "a list": (b"[]", "must be a JSON object"),
    "entries a list": (b'{"entries": []}', "entries must be an object"),
    "entries a bad string": (b'{"entries": "{oops"}', "entries is a string but not valid JSON"),
    "last_gather a number": (b'{"last_gather": 5}', "expected an ISO-8601 string"),
    "naive last_gather": (b'{"last_gather": "2026-11-01T00:00:00"}', "without a UTC offset"),
    "entry not a date": (b'{"entries": {"jobs": "soon"}}', "entries['jobs']"),
}


class TestStateFile:
    """A state file that cannot be read is an error, never an empty state."""

    @pytest.mark.parametrize("kind", sorted(STATE_FILES))
    def test_unreadable_state_stops_the_run(self, bench: Bench, kind: str) -> None:
        """StateError names the file; nothing is collected or shipped; the file is kept."""
        content, expected = STATE_FILES[kind]
        bench.store.path.parent.mkdir(parents=True, exist_ok=True)
        bench.store.path.write_bytes(content)
        with pytest.raises(StateError) as caught:
            bench.run([*bench.base, bench.recorder()])
        message = str(caught.value)
        assert str(bench.store.path) in message and expected in message
        assert bench.calls == []
        assert bench.store.path.read_bytes() == content
        assert bench.archives() == []
        with bench.lock.acquire() as got:
            assert got, "the lock was released"


# --- the work folder, the disk, the lock ------------------------------------------------


class TestWorkFolder:
    """A work folder that cannot be written is refused before anything runs."""

    @pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
    def test_unwritable_work_folder(self, bench: Bench, where: str) -> None:
        """ConfigurationError names the folder; nothing is collected, state untouched."""
        blocker = bench.tmp / "blocker"
        blocker.write_text("a regular file")
        folder = blocker / "work" if where == "under-a-file" else blocker
        with pytest.raises(ConfigurationError) as caught:
            bench.run([*bench.base, bench.recorder()], workdir=folder)
        assert f"work folder {folder} is not writable" in str(caught.value)
        assert bench.calls == [] and not bench.store.path.exists()
        assert bench.archives() == []


class Disk:
    """A source with one large day between two small ones, and the worker to ship it."""

    day = timedelta(days=1)

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.source = Source(tmp / "source.db", seed=5)
        self.source.grow(START - self.day, START, 20)
        self.env = reliability.worker_env(tmp)
        assert reliability.run_worker(self.command(START), self.env)["status"] == "ok"
        self.source.add("events", START, START + self.day, 10)
        self.source.add_large("events", START + self.day, START + 2 * self.day, 40, 8000)
        self.source.add("events", START + 2 * self.day, START + 3 * self.day, 10)
        self.source.add("hosts", START, START + 3 * self.day, 5)
        self.now = START + 3 * self.day + timedelta(hours=1)

    def command(self, now: datetime, *extra: str) -> list[str]:
        return reliability.worker_command(
            source=self.source, tmp=self.tmp, now=now, delay=0, workdir=None, extra=extra
        )

    def large_part(self) -> int:
        """The compressed size of the large day's part, from a dry run of it alone."""
        with capture_logs():
            run = gather(
                collectors(self.source.path),
                subset=["events"],
                since=START + self.day,
                until=START + 2 * self.day,
                clock=lambda: self.now,
                workdir=self.tmp / "dry",
            )
        return max(p.deflated_size for a in run.archives for p in a.batch.parts)

    def state(self) -> State:
        return JsonFileStore(self.tmp / "state" / "state.json").load()

    def delivered(self) -> Counter[reliability.Row]:
        return received_rows(
            p.read_bytes() for p in reliability.directory_archives(self.tmp / "dest")
        )

    def catch_up(self) -> None:
        """A run with room again delivers every row exactly once."""
        report = reliability.run_worker(self.command(self.now + timedelta(minutes=1)), self.env)
        assert report["status"] == "ok"
        counts = self.delivered()
        assert set(counts) == self.source.rows()
        assert max(counts.values()) == 1


class TestFullDisk:
    """Writes that fail for want of room (RLIMIT_FSIZE), in a separate process."""

    def test_part_that_cannot_be_written(self, tmp_path: Path) -> None:
        """A part too large for the disk fails its window: reported, state stops before it."""
        disk = Disk(tmp_path)
        limit = 96 * 1024
        report = reliability.run_worker(disk.command(disk.now, "--fsize", str(limit)), disk.env)
        assert report["status"] == "partial"
        assert report["failures"] and all("File too large" in f for f in report["failures"])
        assert "events [2026-11-02T00:00:00+00:00, 2026-11-03T00:00:00+00:00)" in report["reason"]
        state = disk.state()
        assert state.entries["events"] == START + disk.day
        assert state.entries["hosts"] == disk.now and state.entries["jobs"] == disk.now
        disk.delivered()  # every delivered archive is whole
        disk.catch_up()

    def test_archive_that_cannot_be_written_keeps_state_whole(self, tmp_path: Path) -> None:
        """When an archive cannot be written the state stays whole and behind what shipped."""
        disk = Disk(tmp_path)
        limit = disk.large_part() + 60  # the part fits, its archive does not
        subprocess.run(disk.command(disk.now, "--fsize", str(limit)), env=disk.env, timeout=120)
        state = disk.state()
        assert state.entries["events"] == START + disk.day
        assert state.entries["jobs"] <= disk.now
        disk.delivered()
        disk.catch_up()

    def test_archive_that_cannot_be_written_is_reported(self, tmp_path: Path) -> None:
        """An archive the disk has no room for is reported in the Run; the run goes on."""
        disk = Disk(tmp_path)
        limit = disk.large_part() + 60
        report = reliability.run_worker(disk.command(disk.now, "--fsize", str(limit)), disk.env)
        assert report["status"] == "partial"
        assert "File too large" in report["reason"]
        assert disk.state().entries["jobs"] == disk.now  # the rest of the run went on


class TestHeldLock:
    """A run that cannot take the lock does nothing and says so."""

    @pytest.mark.parametrize(("mode", "level"), [("manual", "warning"), ("scheduled", "debug")])
    def test_lock_held(self, bench: Bench, mode: str, level: str) -> None:
        """Run.status is lock-held, nothing is collected, shipped or saved."""
        bench.run()
        bench.later()
        state = bench.state_bytes()
        shipped = len(bench.archives())
        with FileLock(bench.lock.path).acquire() as got, capture_logs() as logs:
            assert got
            run = bench.run([*bench.base, bench.recorder()], mode=mode)
        assert run.status == "lock-held" and "lock" in (run.reason or "")
        held = [e for e in logs if e["event"] == "run.gated" and "lock" in e["reason"]]
        assert [e["log_level"] for e in held] == [level]
        assert bench.calls == []
        assert bench.state_bytes() == state and len(bench.archives()) == shipped
        assert bench.run().status == "ok"


# --- transports that must not be used as given -----------------------------------------


class TestTransportSettings:
    """A transport set up unsafely or uselessly is refused when it is made."""

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("", "url is required"),
            ("ftp://127.0.0.1/upload", "must be an http:// or https:// URL"),
            ("https:///upload", "must be an http:// or https:// URL"),
            ("https://user:hunter2@127.0.0.1/upload", "must not carry credentials"),
        ],
    )
    def test_bad_url(self, url: str, expected: str) -> None:
        """A missing or odd URL is refused, and credentials in it are never echoed."""
        with pytest.raises(ConfigurationError) as caught:
            HttpTransport(url=url, content_type=CONTENT_TYPE)
        assert expected in str(caught.value)
        assert "hunter2" not in str(caught.value)

    def test_bad_content_type(self) -> None:
        """A content type that is not a registered type is refused."""
        with pytest.raises(ConfigurationError, match="content_type"):
            HttpTransport(url="https://127.0.0.1/upload", content_type="")

    @pytest.mark.parametrize(
        "auth",
        [
            BasicAuth(user="alice", password="hunter2"),
            ClientCertAuth(cert="/nonexistent/cert.pem", key="/nonexistent/key.pem"),
        ],
        ids=["basic", "client-cert"],
    )
    def test_credentials_over_plain_http_are_refused(self, auth: Any) -> None:
        """Basic auth or a client certificate over http:// is refused unless allowed."""
        with pytest.raises(ConfigurationError) as caught:
            HttpTransport(url="http://127.0.0.1:1/upload", content_type=CONTENT_TYPE, auth=auth)
        assert "plain http://" in str(caught.value) and "hunter2" not in str(caught.value)

    def test_token_url_over_plain_http_is_refused(self) -> None:
        """An OAuth2 token URL over http:// is refused unless allowed."""
        with pytest.raises(ConfigurationError, match="token_url"):
            OAuth2ClientCredentials(
                token_url="http://127.0.0.1:1/token", client_id="svc", client_secret="s3"
            )

    def test_basic_over_http_when_explicitly_allowed(self, bench: Bench) -> None:
        """With allow_insecure=True basic auth over http:// works, as asked."""
        with IngressServer(bench.tmp / "ingress", basic=("alice", "hunter2")) as server:
            transport = HttpTransport(
                url=server.url,
                content_type=CONTENT_TYPE,
                auth=BasicAuth(user="alice", password="hunter2"),
                allow_insecure=True,
            )
            assert bench.run(transport=transport).status == "ok"
            assert {u.auth for u in server.received} == {"basic"}

    def test_identity_over_http_needs_no_permission(self, bench: Bench) -> None:
        """An x-rh-identity header (local testing) may travel over http://."""
        with IngressServer(bench.tmp / "ingress", require_identity=True) as server:
            transport = HttpTransport(
                url=server.url,
                content_type=CONTENT_TYPE,
                auth=IdentityAuth.from_ids(org_id="54321"),
            )
            assert bench.run(transport=transport).status == "ok"
            assert {u.principal for u in server.received} == {"54321"}
