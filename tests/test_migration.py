"""Collector modules written for insights-analytics-collector run unchanged through gather.

The modules in ``tests/oldstyle`` are old-style collector modules whose only
change is the import line.  Each is gathered here and its archives opened
member by member; the same module, with the old import put back, is also run
through the real insights-analytics-collector 0.3.2, and both must put the
same members in the same archives, except where docs/contract.md marks an old bug.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import ssl
import tarfile
import threading
import types
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trustme
from support import django_env

from pipeline_collector import gather
from pipeline_collector.records import Archive, Run, State
from pipeline_collector.testing import FakeTransport, MemoryStore

OLDSTYLE = Path(__file__).resolve().parent / "oldstyle"
STATUS_HEADER = ["collection_start_timestamp", "since", "until", "file_name", "status", "elapsed"]
COMMON = {"config.json", "manifest.json", "data_collection_status.csv"}
IMPORT = re.compile(r"^from pipeline_collector\.compat import (.+)$", re.MULTILINE)


# --- loading the same module for either library -------------------------------------------


def load(name: str, *, old: bool = False) -> types.ModuleType:
    """Load ``tests/oldstyle/<name>.py``; with ``old`` the import goes back to the old package.

    Names the old package never had (``positional_slicer``) keep coming from compat.
    """
    path = OLDSTYLE / f"{name}.py"
    source = path.read_text(encoding="utf-8")
    if old:
        old_names = set(_old_library().__all__)

        def swap(match: re.Match[str]) -> str:
            names = [n.strip() for n in match.group(1).split(",")]
            line = "from insights_analytics_collector import " + ", ".join(
                n for n in names if n in old_names
            )
            rest = [n for n in names if n not in old_names]
            if rest:
                line += "\nfrom pipeline_collector.compat import " + ", ".join(rest)
            return line

        source, count = IMPORT.subn(swap, source)
        assert count == 1, f"{path.name} must import from pipeline_collector.compat once"
    module = types.ModuleType(f"oldstyle_{name}_{'old' if old else 'new'}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def _old_library() -> Any:
    """insights_analytics_collector (untyped), imported once Django's settings are configured."""
    django_env.configure()
    import insights_analytics_collector

    return insights_analytics_collector


def old_gather(
    name: str,
    directory: Path,
    *,
    max_data_size: int = 200 * 2**20,
    subset: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    entries: dict[str, datetime] | None = None,
) -> list[Path]:
    """Run a module through insights-analytics-collector 0.3.2 in dry-run mode.

    The subclasses implement its abstract hooks the simplest way, as its own
    test suite does; archives land in ``directory``.
    """
    _old_library()
    from insights_analytics_collector import Collector, Package

    class OldPackage(Package):  # type: ignore[misc]  # subclasses the old, untyped library
        MAX_DATA_SIZE = max_data_size
        PAYLOAD_CONTENT_TYPE = "application/vnd.redhat.example-service.filename+tgz"

        def get_ingress_url(self) -> str:
            return "https://127.0.0.1/api/ingress/v1/upload"

        def _get_rh_user(self) -> str:
            return "user"

        def _get_rh_password(self) -> str:
            return "password"

        def _get_http_request_headers(self) -> dict[str, str]:
            return {}

    class OldCollector(Collector):  # type: ignore[misc]  # subclasses the old, untyped library
        @staticmethod
        def db_connection() -> None:
            return None

        @staticmethod
        def _package_class() -> type:
            return OldPackage

        def _is_valid_license(self) -> bool:
            return True

        def _is_shipping_configured(self) -> bool:
            return True

        def _last_gathering(self) -> None:
            return None

        def _load_last_gathered_entries(self) -> dict[str, datetime]:
            return dict(entries or {})

        def _save_last_gathered_entries(self, last_gathered_entries: Any) -> None:
            pass

        def _save_last_gather(self) -> None:
            pass

    work = directory / "work"
    work.mkdir(parents=True)
    collector = OldCollector(collection_type="dry-run", collector_module=load(name, old=True))
    paths = collector.gather(dest=str(work), subset=subset, since=since, until=until)
    return sorted((Path(p) for p in paths or []), key=archive_number)


def new_gather(name: str, directory: Path, **kwargs: Any) -> Run:
    run = gather(load(name), mode="dry-run", workdir=directory, **kwargs)
    return run


# --- reading archives ---------------------------------------------------------------------


def archive_number(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[1].split(".")[0])


def read_members(path: Path) -> list[tuple[str, bytes]]:
    """Every member of a .tar.gz, in order, with its content."""
    out = []
    with tarfile.open(path, "r:gz") as tar:
        for info in tar.getmembers():
            assert info.isfile(), f"{path.name}: {info.name} is not a regular file"
            f = tar.extractfile(info)
            assert f is not None
            out.append((info.name, f.read()))
    return out


def check_archive(path: Path) -> dict[str, bytes]:
    """Check the layout every archive must have; return its members by name."""
    items = read_members(path)
    names = [n for n, _ in items]
    assert len(set(names)) == len(names), f"{path.name}: duplicate members {names}"
    assert all(n.startswith("./") for n in names), names
    files = dict(items)
    bare = {n[2:] for n in names}
    assert bare >= COMMON, f"{path.name} lacks {COMMON - bare}"
    manifest = json.loads(files["./manifest.json"])
    assert set(manifest) == bare - {"manifest.json"}
    assert manifest["data_collection_status.csv"] == "1.0"
    status = list(csv.reader(io.StringIO(files["./data_collection_status.csv"].decode())))
    assert status[0] == STATUS_HEADER
    assert {row[3] for row in status[1:]} == bare - COMMON
    for row in status[1:]:
        assert row[4] == "ok"
        assert int(row[5]) >= 0
        for stamp in row[:3]:
            assert datetime.fromisoformat(stamp).tzinfo is not None, stamp
    return files


def data_members(path: Path) -> dict[str, bytes]:
    """The collector members of an archive (not config, manifest or status)."""
    return {n: d for n, d in check_archive(path).items() if n[2:] not in COMMON}


def new_archives(run: Run) -> list[Archive]:
    return sorted(run.archives, key=lambda a: archive_number(a.path))


# --- the new library on its own ------------------------------------------------------------


class TestJsonCollectors:
    def test_one_archive_with_every_document(self, tmp_path: Path) -> None:
        """Config and three JSON collectors land in one archive with their versions."""
        run = new_gather("json_collectors", tmp_path)
        assert run.status == "ok"
        (archive,) = new_archives(run)
        files = check_archive(archive.path)
        assert sorted(files) == [
            "./config.json",
            "./data_collection_status.csv",
            "./json1.json",
            "./json2.json",
            "./json3.json",
            "./manifest.json",
        ]
        assert json.loads(files["./manifest.json"]) == {
            "config.json": "1.0",
            "data_collection_status.csv": "1.0",
            "json1.json": "1.1",
            "json2.json": "1.2",
            "json3.json": "1.3",
        }
        assert json.loads(files["./config.json"]) == {"version": "1.0"}
        assert json.loads(files["./json1.json"]) == {"json1": "True"}

    def test_collectors_get_the_window_as_aware_datetimes(self, tmp_path: Path) -> None:
        """since and until reach an old collector as timezone-aware datetimes of the run."""
        until = datetime(2026, 11, 20, tzinfo=timezone.utc)
        since = until - timedelta(days=3)
        run = new_gather("json_collectors", tmp_path, since=since, until=until)
        files = check_archive(new_archives(run)[0].path)
        got = json.loads(files["./json3.json"])
        assert got["since"] == since.isoformat()
        assert got["until"] == until.isoformat()


class TestCsvThroughSplitter:
    def test_big_table_is_split_into_one_archive_per_file(self, tmp_path: Path) -> None:
        """A CSV written in ten max_data_size files ships as ten archives of one file each."""
        run = new_gather(
            "csv_collectors", tmp_path, subset=["config", "big_table"], max_data_size=1000
        )
        archives = new_archives(run)
        assert len(archives) == 10
        for archive in archives:
            members = data_members(archive.path)
            assert list(members) == ["./big_table.csv"]
            assert len(members["./big_table.csv"]) == 1000
            assert members["./big_table.csv"].startswith(b"Col1,Col2\n")

    def test_small_csvs_share_one_archive(self, tmp_path: Path) -> None:
        """Small CSV files of several collectors go into one archive, byte for byte."""
        run = new_gather(
            "csv_collectors",
            tmp_path,
            subset=["config", "csv_collection_1", "csv_collection_2", "csv_collection_3"],
        )
        (archive,) = new_archives(run)
        members = data_members(archive.path)
        assert {n: len(d) for n, d in members.items()} == {
            "./csv_collection_1.csv": 100,
            "./csv_collection_2.csv": 200,
            "./csv_collection_3.csv": 300,
        }

    def test_quoted_newlines_survive_the_split(self, tmp_path: Path) -> None:
        """Rows with quotes, commas, newlines and non-ASCII come back whole across parts."""
        mod = load("csv_collectors")
        run = new_gather("csv_collectors", tmp_path, subset=["config", "tricky_table"])
        rows: list[list[str]] = []
        archives = new_archives(run)
        assert len(archives) > 1
        for archive in archives:
            data = data_members(archive.path)["./tricky_table.csv"]
            parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            assert parsed[0] == mod.TRICKY_ROWS[0]
            rows.extend(parsed[1:])
        assert rows == mod.TRICKY_ROWS[1:]

    def test_header_only_output_makes_no_member(self, tmp_path: Path) -> None:
        """A query without rows leaves no file, so no member and no archive."""
        run = new_gather("csv_collectors", tmp_path, subset=["config", "empty_table"])
        assert run.status == "ok"
        assert run.archives == ()
        assert [c.status for c in run.collections] == ["empty"]

    def test_sliced_collectors_ship_one_archive_per_window(self, tmp_path: Path) -> None:
        """Sliced CSVs close their archive at once; JSON rides in the first archive."""
        run = new_gather(
            "csv_collectors",
            tmp_path,
            subset=[
                "config",
                "json_collection_1",
                "json_collection_2",
                "csv_slicing_1",
                "csv_slicing_2",
            ],
        )
        names = [sorted(data_members(a.path)) for a in new_archives(run)]
        assert names == [
            ["./csv_slicing_1.csv", "./json_collection_1.json", "./json_collection_2.json"],
            ["./csv_slicing_2.csv"],
            ["./csv_slicing_2.csv"],
        ]


class TestSlicedCollectors:
    def test_generator_slicer_gives_one_archive_per_day(self, tmp_path: Path) -> None:
        """A generator slicer over ten days makes ten archives, each holding its own day."""
        until = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        since = until - timedelta(days=10)
        run = new_gather(
            "sliced_collectors",
            tmp_path,
            subset=["config", "csv_one_day_slicing_1"],
            since=since,
            until=until,
        )
        archives = new_archives(run)
        assert len(archives) == 10
        day = since
        for archive in archives:
            data = data_members(archive.path)["./csv_one_day_slicing_1.csv"]
            first_row = data.splitlines()[1].decode().split(",")
            assert first_row[:4] == [f"{day:%Y}", f"{day:%m}", f"{day:%d}", "00"]
            day += timedelta(days=1)

    def test_days_split_by_size_too(self, tmp_path: Path) -> None:
        """Each day's two size-limited files go to two archives: twenty in all."""
        until = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        run = new_gather(
            "sliced_collectors",
            tmp_path,
            subset=["config", "csv_one_day_slicing_2"],
            since=until - timedelta(days=10),
            until=until,
        )
        assert len(run.archives) == 20

    @pytest.mark.parametrize(
        ("last_full_days_ago", "archives", "full"), [(4, 7, False), (6, 10, True)]
    )
    def test_full_sync_on_its_interval(
        self, tmp_path: Path, last_full_days_ago: int, archives: int, full: bool
    ) -> None:
        """A full sync older than full_sync_interval_days asks the slicer for
        full_sync_enabled=True (ten days); a recent one slices from since (seven days)."""
        now = datetime.now(timezone.utc)
        entries = {
            "csv_full_sync_slicing_1": (now - timedelta(days=7)).replace(
                hour=0, minute=0, second=0, microsecond=0
            ),
            "csv_full_sync_slicing_1_full": now - timedelta(days=last_full_days_ago),
        }
        run = new_gather(
            "sliced_collectors",
            tmp_path,
            subset=["config", "csv_full_sync_slicing_1"],
            since=entries["csv_full_sync_slicing_1"],
            state=MemoryStore(State(entries=entries)),
        )
        assert len(run.archives) == archives
        assert run.plan is not None
        assert {t.full_sync for t in run.plan.tasks} == {full}

    def test_full_sync_is_recorded_after_shipping(self, tmp_path: Path) -> None:
        """In manual mode a shipped full sync records <key>_full, and each key its last window."""
        store = MemoryStore()
        transport = FakeTransport()
        run = gather(
            load("sliced_collectors"),
            mode="manual",
            subset=["config", "csv_full_sync_slicing_1"],
            state=store,
            transport=transport,
            workdir=tmp_path,
        )
        assert run.status == "ok"
        assert len(transport.sent) == 10
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        assert store.state.entries["csv_full_sync_slicing_1"] == today
        assert "csv_full_sync_slicing_1_full" in store.state.entries
        assert set(store.state.entries) == {
            "csv_full_sync_slicing_1",
            "csv_full_sync_slicing_1_full",
        }


class TestPositionalSlicer:
    def test_awx_style_slicer_through_the_adapter(self, tmp_path: Path) -> None:
        """An AWX slicer (key, since, until, last_gather) cuts twelve hours into three windows."""
        until = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
        run = new_gather("awx_collectors", tmp_path, since=until - timedelta(hours=12), until=until)
        archives = new_archives(run)
        assert [sorted(data_members(a.path)) for a in archives] == [
            ["./counts.json", "./events_table.csv"],
            ["./events_table.csv"],
            ["./events_table.csv"],
        ]
        windows = [
            data_members(a.path)["./events_table.csv"].splitlines()[1].decode() for a in archives
        ]
        starts = [until - timedelta(hours=h) for h in (12, 8, 4)]
        assert windows == [
            f"{s.isoformat()},{(s + timedelta(hours=4)).isoformat()}" for s in starts
        ]
        manifest = json.loads(check_archive(archives[0].path)["./manifest.json"])
        assert manifest["events_table.csv"] == "1.2"


class TestStateInManualMode:
    def test_entries_move_for_collected_keys_only(self, tmp_path: Path) -> None:
        """After a manual run every collected key holds the run's until, last_gather is the
        until, and nothing else is stored (the old library also stored a 'manifest' key)."""
        store = MemoryStore()
        until = datetime(2026, 11, 20, tzinfo=timezone.utc)
        run = gather(
            load("json_collectors"),
            mode="manual",
            state=store,
            transport=FakeTransport(),
            workdir=tmp_path,
            until=until,
            clock=lambda: until + timedelta(hours=1),
        )
        assert run.status == "ok"
        assert dict(store.state.entries) == {"json1": until, "json2": until, "json3": until}
        assert store.state.last_gather == until

    def test_sliced_and_split_keys_reach_the_end_of_their_windows(self, tmp_path: Path) -> None:
        """Keys of a subset run, sliced or split over archives, each reach the run's until."""
        store = MemoryStore()
        until = datetime(2026, 11, 20, tzinfo=timezone.utc)
        transport = FakeTransport()
        run = gather(
            load("csv_collectors"),
            mode="manual",
            subset=["config", "json_collection_1", "big_table", "csv_slicing_2"],
            state=store,
            transport=transport,
            workdir=tmp_path,
            until=until,
            max_data_size=1000,
            clock=lambda: until + timedelta(hours=1),
        )
        assert run.status == "ok"
        assert len(transport.sent) == 12
        assert dict(store.state.entries) == {
            "json_collection_1": until,
            "big_table": until,
            "csv_slicing_2": until,
        }


# --- the same modules through the old library -----------------------------------------------

CSV_KEYS = [
    "config",
    "big_table",
    "csv_collection_1",
    "csv_collection_2",
    "csv_collection_3",
    "csv_slicing_1",
    "csv_slicing_2",
    "empty_table",
    "tricky_table",
    "json_collection_1",
    "json_collection_2",
]

SAME_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "json": ("json_collectors", {}),
    "json-only": (
        "csv_collectors",
        {"subset": ["config", "json_collection_1", "json_collection_2"]},
    ),
    "small-csvs": (
        "csv_collectors",
        {"subset": ["config", "csv_collection_1", "csv_collection_2", "csv_collection_3"]},
    ),
    "json-and-sliced": (
        "csv_collectors",
        {
            "subset": [
                "config",
                "json_collection_1",
                "json_collection_2",
                "csv_slicing_1",
                "csv_slicing_2",
            ]
        },
    ),
    "split-by-size": ("csv_collectors", {"subset": ["config", "big_table"], "max_data_size": 1000}),
    "header-only": ("csv_collectors", {"subset": ["config", "empty_table"]}),
    "module-small-limit": (
        "csv_collectors",
        {"subset": [k for k in CSV_KEYS if k != "tricky_table"], "max_data_size": 1000},
    ),
    "positional-slicer": ("awx_collectors", {"hours": 12}),
    "one-day-slices": (
        "sliced_collectors",
        {"subset": ["config", "csv_one_day_slicing_1"], "days": 10},
    ),
    "days-and-size": (
        "sliced_collectors",
        {"subset": ["config", "csv_one_day_slicing_2"], "days": 10},
    ),
}


def _window(case: dict[str, Any]) -> dict[str, Any]:
    """A fixed window, so both runs see the same one (the old library passed a slicer
    since=None when no since was asked for)."""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if "days" in case:
        return {"since": midnight - timedelta(days=case.pop("days")), "until": midnight}
    return {"since": midnight - timedelta(hours=case.pop("hours", 24)), "until": midnight}


def compare_with_old(old: list[Path], new: list[Archive]) -> None:
    """Same archives in the same order, same member names, same collector output."""
    assert len(new) == len(old)
    for old_path, archive in zip(old, new):
        old_files = check_archive(old_path)
        new_files = check_archive(archive.path)
        assert sorted(new_files) == sorted(old_files), archive.name
        assert json.loads(new_files["./manifest.json"]) == json.loads(old_files["./manifest.json"])
        for name in set(new_files) - {"./manifest.json", "./data_collection_status.csv"}:
            if name.endswith(".json"):
                assert json.loads(new_files[name]) == json.loads(old_files[name]), name
            else:
                assert new_files[name] == old_files[name], name


class TestSameArchivesAsTheOldLibrary:
    @pytest.mark.parametrize("case", list(SAME_CASES))
    def test_same_members_in_the_same_archives(self, tmp_path: Path, case: str) -> None:
        """The module with its old import, run by insights-analytics-collector 0.3.2, puts the
        same members with the same content into the same archives as gather does."""
        name, options = SAME_CASES[case]
        options = dict(options)
        window = _window(options)
        old = old_gather(name, tmp_path / "old", **options, **window)
        run = new_gather(name, tmp_path / "new", **options, **window)
        assert run.status == "ok"
        compare_with_old(old, new_archives(run))

    @pytest.mark.parametrize("last_full_days_ago", [4, 6])
    def test_same_full_sync_decision(self, tmp_path: Path, last_full_days_ago: int) -> None:
        """Given the same bookkeeping, both libraries decide the same full sync."""
        now = datetime.now(timezone.utc)
        entries = {
            "csv_full_sync_slicing_1": (now - timedelta(days=7)).replace(
                hour=0, minute=0, second=0, microsecond=0
            ),
            "csv_full_sync_slicing_1_full": now - timedelta(days=last_full_days_ago),
        }
        subset = ["config", "csv_full_sync_slicing_1"]
        since = entries["csv_full_sync_slicing_1"]
        old = old_gather(
            "sliced_collectors", tmp_path / "old", subset=subset, since=since, entries=entries
        )
        run = new_gather(
            "sliced_collectors",
            tmp_path / "new",
            subset=subset,
            since=since,
            state=MemoryStore(State(entries=entries)),
        )
        compare_with_old(old, new_archives(run))


class TestOldBugsNotCopied:
    def test_split_files_never_pass_their_limit(self, tmp_path: Path) -> None:
        """The old splitter rotated after the write that crossed its limit, so files grew past
        it; now no file does, and the rows are the same."""
        subset = ["config", "tricky_table"]
        old = old_gather("csv_collectors", tmp_path / "old", subset=subset)
        run = new_gather("csv_collectors", tmp_path / "new", subset=subset)
        old_csv = [data_members(p)["./tricky_table.csv"] for p in old]
        new_csv = [data_members(a.path)["./tricky_table.csv"] for a in new_archives(run)]
        assert max(len(d) for d in old_csv) > 60
        assert max(len(d) for d in new_csv) <= 60

        def rows(parts: list[bytes]) -> list[list[str]]:
            parsed = [list(csv.reader(io.StringIO(d.decode(), newline=""))) for d in parts]
            return [row for p in parsed for row in p[1:]]

        assert rows(new_csv) == rows(old_csv) == load("csv_collectors").TRICKY_ROWS[1:]

    def test_limit_counts_bytes_not_characters(self, tmp_path: Path) -> None:
        """With accented rows the old splitter wrote files over max_data_size bytes (it counted
        characters); every new member stays within it and the rows are the same."""
        limit = 100
        old = old_gather("unicode_collectors", tmp_path / "old", max_data_size=limit)
        run = new_gather("unicode_collectors", tmp_path / "new", max_data_size=limit)
        old_csv = [data_members(p)["./unicode_table.csv"] for p in old]
        new_csv = [data_members(a.path)["./unicode_table.csv"] for a in new_archives(run)]
        assert max(len(d) for d in old_csv) > limit
        assert max(len(d) for d in new_csv) <= limit

        def rows(parts: list[bytes]) -> list[bytes]:
            return [line for d in parts for line in d.splitlines(keepends=True)[1:]]

        assert rows(new_csv) == rows(old_csv)
        assert [r.decode() for r in rows(new_csv)] == load("unicode_collectors").ROWS

    def test_no_archive_without_config(self, tmp_path: Path) -> None:
        """When the config collector fails the old library still wrote archives without
        ./config.json; gather writes none and says why."""
        old = old_gather("broken_config_collectors", tmp_path / "old")
        assert old, "the old library wrote an archive"
        assert "./config.json" not in dict(read_members(old[0]))
        run = new_gather("broken_config_collectors", tmp_path / "new")
        assert run.status == "failed"
        assert run.archives == ()
        assert run.reason is not None and "config" in run.reason
        assert not list((tmp_path / "new").glob("*.tar.gz"))

    def test_existing_archives_are_never_overwritten(self, tmp_path: Path) -> None:
        """The old library numbered archives by counting files and overwrote one after a gap;
        gather picks names that are free."""
        until = datetime(2026, 11, 20, tzinfo=timezone.utc)
        base = f"analytics-{until:%Y-%m-%d-%H%M%S%z}"
        for folder in ("old", "new"):
            (tmp_path / folder).mkdir()
            for n in (0, 2):
                (tmp_path / folder / f"{base}-{n}.tar.gz").write_bytes(b"earlier archive")
        old = old_gather(
            "json_collectors", tmp_path / "old", until=until, since=until - timedelta(days=1)
        )
        assert [p.name for p in old] == [f"{base}-2.tar.gz"]
        assert (tmp_path / "old" / f"{base}-2.tar.gz").read_bytes() != b"earlier archive"
        run = new_gather(
            "json_collectors", tmp_path / "new", until=until, since=until - timedelta(days=1)
        )
        (archive,) = run.archives
        assert archive.name not in {f"{base}-0.tar.gz", f"{base}-2.tar.gz"}
        for n in (0, 2):
            assert (tmp_path / "new" / f"{base}-{n}.tar.gz").read_bytes() == b"earlier archive"
        check_archive(archive.path)


# --- the guide's example service --------------------------------------------------------------


class Ingress:
    """An HTTPS ingress on 127.0.0.1 that checks basic auth and keeps what it is sent."""

    def __init__(self, ca: trustme.CA, user: str, password: str) -> None:
        self.received: list[dict[str, Any]] = []
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                message = BytesParser(policy=policy.default).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
                )
                for part in message.iter_parts():
                    received.append(
                        {
                            "field": part.get_param("name", header="content-disposition"),
                            "filename": part.get_filename(),
                            "content_type": part.get_content_type(),
                            "data": part.get_payload(decode=True),
                            "user_agent": self.headers.get("User-Agent"),
                        }
                    )
                answer = json.dumps({"request_id": f"r{len(received)}", "upload": {}}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/api/ingress/v1/upload"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def service(tmp_path: Path, postgres_dsn: str) -> Iterator[dict[str, Any]]:
    """The example service: its settings, its collectors, an ingress and a database."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    ingress = Ingress(ca, "svc-user", "s3cret-pass")
    settings = types.SimpleNamespace(
        INSIGHTS_TRACKING_STATE=True,
        ANALYTICS_URL=ingress.url,
        REDHAT_USERNAME="svc-user",
        REDHAT_PASSWORD="s3cret-pass",
        CA_BUNDLE=str(bundle),
        VERSION="2.4.0",
        LICENSE_VALID=True,
        ANALYTICS_LAST_GATHER=None,
        ANALYTICS_LAST_ENTRIES="",
        ANALYTICS_MAX_DATA_SIZE=200 * 2**20,
        ANALYTICS_WORKDIR=str(tmp_path / "work"),
    )
    collectors = load("service_collectors")
    collectors.TASKS[:] = [(1, "build", "done"), (2, "deploy, prod", "failed"), (3, "lint", "done")]
    after = load("service_after")
    try:
        yield {
            "settings": settings,
            "collectors": collectors,
            "after": after,
            "ingress": ingress,
            "connect": lambda: psycopg.connect(postgres_dsn, autocommit=True),
            "dsn": postgres_dsn,
        }
    finally:
        ingress.close()


class TestGuideExample:
    def test_guide_shows_the_module(self) -> None:
        """docs/migration.md shows tests/oldstyle/service_after.py as it is, so it stays true."""
        guide = (Path(__file__).resolve().parent.parent / "docs" / "migration.md").read_text()
        source = (OLDSTYLE / "service_after.py").read_text()
        blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL)
        assert source in blocks

    def test_manual_run_ships_and_saves_bookkeeping(self, service: dict[str, Any]) -> None:
        """A manual run posts one archive with basic auth, the registered content type and the
        User-Agent, then stores last_gather and the entries in the service's settings."""
        settings, after = service["settings"], service["after"]
        until = datetime.now(timezone.utc).replace(microsecond=0)
        run = after.run_analytics(
            settings, service["collectors"], service["connect"], mode="manual", until=until
        )
        assert run.status == "ok", run.reason
        (sent,) = service["ingress"].received
        assert sent["field"] == "file"
        assert sent["content_type"] == after.CONTENT_TYPE
        assert sent["user_agent"] == "example-service/2.4.0"
        assert sent["filename"].startswith("example-service-")
        assert sent["filename"] == run.receipts[0].archive
        path = Path(settings.ANALYTICS_WORKDIR) / "sent.tar.gz"
        path.write_bytes(sent["data"])
        files = check_archive(path)
        assert json.loads(files["./task_counts.json"]) == {"done": 2, "failed": 1}
        assert list(csv.reader(io.StringIO(files["./tasks_table.csv"].decode()))) == [
            ["id", "name", "state"],
            ["1", "build", "done"],
            ["2", "deploy", " prod", "failed"],
            ["3", "lint", "done"],
        ]
        assert until.isoformat() == settings.ANALYTICS_LAST_GATHER
        assert json.loads(settings.ANALYTICS_LAST_ENTRIES) == {
            "task_counts": until.isoformat(),
            "tasks_table": until.isoformat(),
        }
        assert after.store(settings).load().last_gather == until

    def test_dry_run_keeps_the_archive_and_sends_nothing(self, service: dict[str, Any]) -> None:
        """A dry run writes the archive in the work folder and leaves settings alone."""
        settings, after = service["settings"], service["after"]
        run = after.run_analytics(
            settings, service["collectors"], service["connect"], mode="dry-run"
        )
        assert run.status == "ok"
        assert service["ingress"].received == []
        (archive,) = run.archives
        assert archive.path.parent == Path(settings.ANALYTICS_WORKDIR)
        check_archive(archive.path)
        assert settings.ANALYTICS_LAST_GATHER is None

    def test_invalid_licence_gates_the_run(self, service: dict[str, Any]) -> None:
        """Without a valid licence nothing is collected or sent, and the run says why."""
        settings, after = service["settings"], service["after"]
        settings.LICENSE_VALID = False
        run = after.run_analytics(
            settings, service["collectors"], service["connect"], mode="manual"
        )
        assert run.status == "gated"
        assert run.reason is not None and "licen" in run.reason
        assert service["ingress"].received == []

    def test_unconfigured_shipping_gates_the_run(self, service: dict[str, Any]) -> None:
        """With analytics switched off in settings the run is gated, not an error."""
        settings, after = service["settings"], service["after"]
        settings.INSIGHTS_TRACKING_STATE = False
        run = after.run_analytics(
            settings, service["collectors"], service["connect"], mode="manual"
        )
        assert run.status == "gated"
        assert service["ingress"].received == []

    def test_lock_held_by_the_old_library_key_stops_the_run(self, service: dict[str, Any]) -> None:
        """A session holding the advisory lock the old library took (sha512 of
        'gather_analytics_lock' mod 2**63) keeps the new run from starting."""
        settings, after = service["settings"], service["after"]
        key = int(hashlib.sha512(b"gather_analytics_lock").hexdigest(), 16) % 2**63
        with psycopg.connect(service["dsn"], autocommit=True) as holder:
            assert holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,)
            run = after.run_analytics(
                settings, service["collectors"], service["connect"], mode="manual"
            )
        assert run.status == "lock-held"
        assert service["ingress"].received == []
        assert settings.ANALYTICS_LAST_GATHER is None
