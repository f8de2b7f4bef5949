"""Archives built by gather, opened with tarfile and checked member by member."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.tar import read_member

import pipeline_collector as pc
from pipeline_collector.testing import FakeTransport, FrozenClock, MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
STATUS_HEADER = "collection_start_timestamp,since,until,file_name,status,elapsed"


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"version": "2.4", "license": "enterprise"}


def csv_collector(
    key: str, rows: int, width: int = 20, **options: Any
) -> Callable[..., Iterator[str]]:
    """A CSV collector yielding ``rows`` rows of about ``width`` bytes."""

    @pc.register(key, "1.2", format="csv", **options)
    def collect(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
        yield "id,payload\n"
        for i in range(rows):
            yield f"{i},{'x' * width}\n"

    collect.__name__ = key
    return collect


def json_collector(key: str, value: object, **options: Any) -> Callable[..., object]:
    @pc.register(key, "1.1", **options)
    def collect(**kwargs: Any) -> object:
        return value

    collect.__name__ = key
    return collect


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: read_member(tar, m) for m in tar.getmembers()}


def status_rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode()
    assert text.splitlines()[0] == STATUS_HEADER
    return list(csv.DictReader(io.StringIO(text)))


def dry_run(funcs: list[Any], tmp_path: Path, **kwargs: Any) -> pc.Run:
    kwargs.setdefault("clock", FrozenClock(NOW))
    kwargs.setdefault("since", NOW - timedelta(days=1))
    return pc.gather([config, *funcs], mode="dry-run", workdir=tmp_path, **kwargs)


class TestJsonOnly:
    def test_one_archive_with_every_json_member(self, tmp_path: Path) -> None:
        """A JSON-only run makes one archive holding each JSON document and the three fixed members."""
        run = dry_run(
            [json_collector("counts", {"a": 1}), json_collector("users", [1, 2])], tmp_path
        )
        assert run.status == "ok"
        assert len(run.archives) == 1
        got = members(run.archives[0].path)
        assert sorted(got) == [
            "./config.json",
            "./counts.json",
            "./data_collection_status.csv",
            "./manifest.json",
            "./users.json",
        ]
        assert json.loads(got["./counts.json"]) == {"a": 1}
        assert json.loads(got["./users.json"]) == [1, 2]
        assert json.loads(got["./config.json"]) == {"version": "2.4", "license": "enterprise"}

    def test_manifest_maps_every_other_member_to_its_version(self, tmp_path: Path) -> None:
        """manifest.json names every member but itself, with the collector's version."""
        run = dry_run([json_collector("counts", {"a": 1})], tmp_path)
        got = members(run.archives[0].path)
        assert json.loads(got["./manifest.json"]) == {
            "counts.json": "1.1",
            "config.json": "1.0",
            "data_collection_status.csv": "1.0",
        }

    def test_status_csv_has_one_exact_row_per_collection(self, tmp_path: Path) -> None:
        """data_collection_status.csv has the contract header and one row per collection, config excluded."""
        since = NOW - timedelta(hours=5)
        run = dry_run([json_collector("counts", {"a": 1})], tmp_path, since=since)
        rows = status_rows(members(run.archives[0].path)["./data_collection_status.csv"])
        assert rows == [
            {
                "collection_start_timestamp": str(NOW),
                "since": str(since),
                "until": str(NOW),
                "file_name": "counts.json",
                "status": "ok",
                "elapsed": "0",
            }
        ]

    def test_member_names_start_with_dot_slash(self, tmp_path: Path) -> None:
        """Every member name starts with './' as the cloud parser expects."""
        run = dry_run([json_collector("counts", {})], tmp_path)
        assert all(name.startswith("./") for name in members(run.archives[0].path))

    def test_archive_name_follows_the_contract(self, tmp_path: Path) -> None:
        """The default name is <prefix>-<until:%Y-%m-%d-%H%M%S%z>-<n>.tar.gz."""
        run = dry_run([json_collector("counts", {})], tmp_path, prefix="eda")
        assert run.archives[0].name == "eda-2026-11-27-120000+0000-0.tar.gz"


class TestCsvPacking:
    def test_three_small_csvs_share_one_archive(self, tmp_path: Path) -> None:
        """Three small CSV collections fit in one archive with the JSON ones."""
        funcs = [csv_collector(k, 10) for k in ("alpha", "beta", "gamma")]
        run = dry_run([json_collector("counts", {}), *funcs], tmp_path)
        assert len(run.archives) == 1
        got = members(run.archives[0].path)
        for key in ("alpha", "beta", "gamma"):
            lines = got[f"./{key}.csv"].decode().splitlines()
            assert lines[0] == "id,payload"
            assert len(lines) == 11
        statuses = status_rows(got["./data_collection_status.csv"])
        assert [r["file_name"] for r in statuses] == [
            "counts.json",
            "alpha.csv",
            "beta.csv",
            "gamma.csv",
        ]

    def test_big_table_is_split_across_archives_within_the_limit(self, tmp_path: Path) -> None:
        """A table larger than max_data_size is cut into parts, one per archive, each within the limit."""
        limit = 4000
        run = dry_run([csv_collector("events", 1000, width=30)], tmp_path, max_data_size=limit)
        assert len(run.archives) > 5
        seen: list[str] = []
        for archive in run.archives:
            got = members(archive.path)
            part = got["./events.csv"]
            assert len(part) <= limit
            lines = part.decode().splitlines()
            assert lines[0] == "id,payload"
            seen += lines[1:]
        assert seen == [f"{i},{'x' * 30}" for i in range(1000)]

    def test_first_fit_never_puts_a_key_twice_in_one_archive(self, tmp_path: Path) -> None:
        """Parts of several collectors go first-fit into archives, never two parts of a key together."""
        funcs = [
            csv_collector("aa", 300, 20),
            csv_collector("bb", 120, 20),
            csv_collector("cc", 10, 20),
        ]
        run = dry_run(funcs, tmp_path, max_data_size=3000)
        layout = [
            sorted(k for k in members(a.path) if k.endswith(".csv") and "status" not in k)
            for a in run.archives
        ]
        for names in layout:
            assert len(names) == len(set(names))
        # aa makes 3 parts, bb 1: bb's part lands next to aa's first part only if it fits.
        total = {
            n: sum(n in names for names in layout) for n in ("./aa.csv", "./bb.csv", "./cc.csv")
        }
        assert total["./aa.csv"] >= 3
        # first fit: cc (small) goes into the first archive that has room and no cc
        first_with_cc = next(i for i, names in enumerate(layout) if "./cc.csv" in names)
        for names, archive in zip(layout[:first_with_cc], run.archives[:first_with_cc]):
            size = sum(len(members(archive.path)[n]) for n in names)
            assert size + len(members(run.archives[first_with_cc].path)["./cc.csv"]) > 3000

    def test_every_archive_carries_config_and_metadata(self, tmp_path: Path) -> None:
        """Each archive of a split table has config.json, manifest.json and the status CSV."""
        run = dry_run([csv_collector("events", 500, width=30)], tmp_path, max_data_size=3000)
        for archive in run.archives:
            got = members(archive.path)
            assert {"./config.json", "./manifest.json", "./data_collection_status.csv"} <= set(got)
            manifest = json.loads(got["./manifest.json"])
            assert set(manifest) == {n[2:] for n in got if n != "./manifest.json"}

    def test_archive_record_matches_the_file(self, tmp_path: Path) -> None:
        """The Archive record's size, sha256 and members describe the file on disk."""
        import hashlib

        run = dry_run([csv_collector("events", 50)], tmp_path)
        a = run.archives[0]
        data = a.path.read_bytes()
        assert a.size == len(data)
        assert a.sha256 == hashlib.sha256(data).hexdigest()
        with tarfile.open(a.path) as tar:
            assert tuple(tar.getnames()) == a.members

    def test_header_only_output_makes_no_member(self, tmp_path: Path) -> None:
        """A CSV collector with a header and no rows adds no member and is reported empty."""
        run = dry_run([csv_collector("nothing", 0), json_collector("counts", {})], tmp_path)
        assert "./nothing.csv" not in members(run.archives[0].path)
        assert [c.status for c in run.collections if c.key == "nothing"] == ["empty"]


class TestSlicedAndGroups:
    def test_sliced_collector_ships_one_window_per_archive(self, tmp_path: Path) -> None:
        """A daily-sliced collector's windows are each shipped in their own archive, in time order."""
        store, transport = MemoryStore(), FakeTransport()
        jobs = csv_collector("jobs", 5, fnc_slicing=pc.slicers.daily)
        run = pc.gather(
            [config, jobs],
            mode="manual",
            state=store,
            transport=transport,
            workdir=tmp_path,
            clock=FrozenClock(NOW),
            since=NOW - timedelta(days=3),
        )
        assert run.status == "ok"
        assert len(transport.sent) == 4  # 3 whole days and today's 12 hours
        windows = []
        for n in range(4):
            with transport.open(n) as tar:
                rows = status_rows(tar.extractfile("./data_collection_status.csv").read())
                assert [r["file_name"] for r in rows] == ["jobs.csv"]
                windows.append((rows[0]["since"], rows[0]["until"]))
        assert windows == sorted(windows)
        assert windows[0][0] == str(NOW - timedelta(days=3))
        assert windows[-1][1] == str(NOW)

    def test_json_collections_travel_with_the_first_archive(self, tmp_path: Path) -> None:
        """JSON collections land in the first archive, shipped with the first sliced window."""
        transport = FakeTransport()
        jobs = csv_collector("jobs", 5, fnc_slicing=pc.slicers.daily)
        pc.gather(
            [config, jobs, json_collector("counts", {"n": 1})],
            mode="manual",
            state=MemoryStore(),
            transport=transport,
            workdir=tmp_path,
            clock=FrozenClock(NOW),
            since=NOW - timedelta(days=2),
        )
        with transport.open(0) as tar:
            assert "./counts.json" in tar.getnames()
        for n in range(1, len(transport.sent)):
            with transport.open(n) as tar:
                assert "./counts.json" not in tar.getnames()

    def test_shipping_groups_are_never_mixed(self, tmp_path: Path) -> None:
        """Collections of different shipping groups never share an archive."""
        funcs = [
            json_collector("counts", {}, shipping_group="default"),
            csv_collector("alpha", 5, shipping_group="default"),
            csv_collector("beta", 5, shipping_group="billing"),
            json_collector("invoice", {"n": 2}, shipping_group="billing"),
        ]
        run = dry_run(funcs, tmp_path)
        groups = {"counts": "default", "alpha": "default", "beta": "billing", "invoice": "billing"}
        assert len(run.archives) == 2
        for archive in run.archives:
            keys = {n[2:].rsplit(".", 1)[0] for n in members(archive.path)} - {
                "config",
                "manifest",
                "data_collection_status",
            }
            assert len({groups[k] for k in keys}) == 1


class TestRefusals:
    def test_missing_config_collector_is_refused(self, tmp_path: Path) -> None:
        """A module without a config collector is refused before anything runs."""
        with pytest.raises(pc.ConfigurationError, match="exactly one config collector"):
            pc.gather([json_collector("counts", {})], workdir=tmp_path)

    def test_failed_config_ships_nothing(self, tmp_path: Path) -> None:
        """When the config collector fails, no archive is written or shipped."""

        @pc.register("config", "1.0", config=True)
        def broken(**kwargs: Any) -> Any:
            raise RuntimeError("settings table missing")

        transport = FakeTransport()
        run = pc.gather(
            [broken, json_collector("counts", {})],
            mode="manual",
            state=MemoryStore(),
            transport=transport,
            workdir=tmp_path,
            clock=FrozenClock(NOW),
        )
        assert run.status == "failed"
        assert "settings table missing" in (run.reason or "")
        assert transport.sent == [] and run.archives == ()

    def test_archives_never_overwrite_existing_files(self, tmp_path: Path) -> None:
        """An archive name already taken on disk is skipped, never overwritten."""
        taken = tmp_path / "analytics-2026-11-27-120000+0000-0.tar.gz"
        taken.write_bytes(b"earlier archive")
        run = dry_run([json_collector("counts", {})], tmp_path)
        assert taken.read_bytes() == b"earlier archive"
        assert run.archives[0].name == "analytics-2026-11-27-120000+0000-1.tar.gz"
