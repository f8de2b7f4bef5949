"""``manage.py gather_analytics`` in a test Django project, run as a real process on PostgreSQL.

The project (tests/djangoproject) installs ``pipeline_collector.django`` and
describes its run in ``PIPELINE_COLLECTOR``; its collectors read a table
through Django's connection.  Every run ships to a folder or to the local
ingress, and the archives are opened and read.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from pipeline_collector.records import State
from pipeline_collector.stores import PostgresStore
from pipeline_collector.testing import IngressServer

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tests" / "djangoproject"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TASKS = [
    (n, f"task{n}", "ok" if n % 2 else "failed", NOW - timedelta(hours=n)) for n in range(1, 6)
]
HOLDER = """
import sys
import django
django.setup()
from django.db import connection
from pipeline_collector.locks import PostgresAdvisoryLock
with PostgresAdvisoryLock(connection, sys.argv[1]).acquire() as held:
    print("held" if held else "refused", flush=True)
    sys.stdin.readline()
"""


class Site:
    """The test project with a fresh state table, lock name and shipping folder."""

    def __init__(self, dsn: str, tmp: Path) -> None:
        self.dsn = dsn
        self.table = f"state_{uuid.uuid4().hex[:12]}"
        self.lock = f"lock-{uuid.uuid4().hex}"
        self.shipped = tmp / "shipped"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "testsite.settings",
            "PYTHONPATH": os.pathsep.join([str(PROJECT), str(ROOT)]),
            "TESTSITE_DSN": dsn,
            "TESTSITE_SHIP": str(self.shipped),
            "TESTSITE_TABLE": self.table,
            "TESTSITE_LOCK": self.lock,
        }

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "gather_analytics", *args],
            cwd=PROJECT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def state(self) -> State:
        return PostgresStore.from_dsn(self.dsn, table=self.table).load()

    def archives(self) -> list[Path]:
        return sorted(self.shipped.glob("data/*/*/*/*.tar.gz"))


@pytest.fixture
def site(postgres_dsn: str, tmp_path: Path) -> Site:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS testsite_tasks")
        conn.execute(
            "CREATE TABLE testsite_tasks (id int, name text, state text, modified timestamptz)"
        )
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO testsite_tasks VALUES (%s, %s, %s, %s)", TASKS)
    return Site(postgres_dsn, tmp_path)


def members(path: Path) -> dict[str, str]:
    """Every member of an archive, by name, as text."""
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for info in tar.getmembers():
            f = tar.extractfile(info)
            assert f is not None
            out[info.name] = f.read().decode()
        return out


def task_ids(archive: dict[str, str]) -> list[int]:
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(archive["./tasks_table.csv"]))]


@contextlib.contextmanager
def holding(site: Site) -> Iterator[subprocess.Popen[str]]:
    """Another process of the service, holding the run lock on its Django connection."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, site.lock],
        cwd=PROJECT,
        env=site.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.stdin.close()  # the process ends, and with its session the lock
        proc.wait(60)


class TestDryRun:
    def test_keeps_archives_and_ships_nothing(self, site: Site) -> None:
        """--dry-run exits 0, prints the kept archive's path; it holds every row; nothing is
        shipped and no state is saved."""
        result = site.manage("--dry-run")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("run ok (dry-run): 1 archives written")
        kept = Path(lines[1])
        try:
            archive = members(kept)
            assert {"./config.json", "./manifest.json", "./data_collection_status.csv"} <= set(
                archive
            )
            assert json.loads(archive["./config.json"]) == {
                "service": "testsite",
                "database": "postgresql",
            }
            assert json.loads(archive["./task_counts.json"]) == {"failed": 2, "ok": 3}
            assert task_ids(archive) == [1, 2, 3, 4, 5]
        finally:
            kept.unlink()
        assert site.archives() == []
        assert site.state() == State()

    def test_no_flag_is_a_dry_run(self, site: Site) -> None:
        """Without --ship the command is a dry run, as AWX's is."""
        result = site.manage()
        assert result.returncode == 0, result.stderr
        assert "(dry-run)" in result.stdout
        Path(result.stdout.splitlines()[1]).unlink()
        assert site.archives() == []


class TestShip:
    def test_ships_to_the_folder_and_saves_state(self, site: Site, tmp_path: Path) -> None:
        """--ship sends one archive with every row and saves both entries and last_gather;
        --report-json writes the run's report."""
        report = tmp_path / "report.json"
        result = site.manage("--ship", "--report-json", str(report))
        assert result.returncode == 0, result.stderr
        assert "1 shipped" in result.stdout
        written = json.loads(report.read_text())
        assert (written["status"], written["mode"], written["exit_code"]) == ("ok", "manual", 0)
        assert [s["ok"] for s in written["shipments"]] == [True]
        (shipped,) = site.archives()
        assert shipped.name.startswith("testsite-")
        assert task_ids(members(shipped)) == [1, 2, 3, 4, 5]
        state = site.state()
        assert set(state.entries) == {"task_counts", "tasks_table"}
        assert state.last_gather is not None and state.last_gather >= NOW

    @pytest.mark.parametrize("prefix", ["../escaped", "/tmp/pc-django-escaped"])
    def test_a_prefix_that_is_not_a_plain_name_is_refused(self, site: Site, prefix: str) -> None:
        """PREFIX is checked like a name: exit 2 naming it, no archive written anywhere."""
        result = site.manage("--ship", TESTSITE_PREFIX=prefix)
        assert result.returncode == 2, result.stderr
        assert "the archive prefix" in result.stderr and "Traceback" not in result.stderr
        assert site.archives() == []
        assert not list(PROJECT.parent.glob("escaped*.tar.gz"))
        assert not list(Path("/tmp").glob("pc-django-escaped*.tar.gz"))

    def test_ships_to_an_ingress(self, site: Site, tmp_path: Path) -> None:
        """With an HTTP transport in PIPELINE_COLLECTOR the archive reaches the ingress."""
        with IngressServer(tmp_path / "received", services=["testsite"]) as server:
            result = site.manage("--ship", TESTSITE_URL=server.url)
            assert result.returncode == 0, result.stderr
            (upload,) = server.received
        assert upload.content_type == "application/vnd.redhat.testsite.filename+tgz"
        assert set(site.state().entries) == {"task_counts", "tasks_table"}

    def test_window_and_subset(self, site: Site) -> None:
        """--since, --until and --subset: one key, the rows of that window only."""
        since = (NOW - timedelta(hours=3, minutes=30)).isoformat()
        until = (NOW - timedelta(hours=1, minutes=30)).isoformat()
        result = site.manage(
            "--ship", "--since", since, "--until", until, "--subset", "tasks_table"
        )
        assert result.returncode == 0, result.stderr
        (shipped,) = site.archives()
        archive = members(shipped)
        assert "./task_counts.json" not in archive
        assert task_ids(archive) == [2, 3]
        (row,) = csv.DictReader(io.StringIO(archive["./data_collection_status.csv"]))
        assert (row["since"], row["until"]) == (
            str(datetime.fromisoformat(since)),
            str(datetime.fromisoformat(until)),
        )
        assert set(site.state().entries) == {"tasks_table"}

    def test_gated_run_exits_4(self, site: Site) -> None:
        """IS_SHIPPING_CONFIGURED false: exit 4, nothing shipped, the transport never built."""
        result = site.manage("--ship", TESTSITE_SHIPPING="0", TESTSITE_TRANSPORT="none")
        assert result.returncode == 4
        assert "shipping is not configured" in result.stderr
        assert site.archives() == []


class TestLock:
    def test_second_process_is_excluded(self, site: Site) -> None:
        """While another process holds the lock on its Django connection, --ship exits 3 and
        ships nothing; once that process is gone the next --ship runs."""
        with holding(site):
            result = site.manage("--ship")
            assert result.returncode == 3, result.stderr
            assert "another run holds the lock" in result.stderr
            assert site.archives() == []
            assert site.state() == State()
        assert site.manage("--ship").returncode == 0
        assert len(site.archives()) == 1


class TestUsage:
    def test_ship_and_dry_run_together(self, site: Site) -> None:
        """--ship with --dry-run is bad usage: exit 2."""
        result = site.manage("--ship", "--dry-run")
        assert result.returncode == 2
        assert "not allowed with argument" in result.stderr

    def test_naive_since_is_refused(self, site: Site) -> None:
        """A --since without a timezone is refused with the form to write: exit 2."""
        result = site.manage("--since", "2026-11-01T00:00:00")
        assert result.returncode == 2
        assert "has no timezone" in result.stderr

    def test_missing_transport_is_a_settings_error(self, site: Site) -> None:
        """A --ship without a TRANSPORT exits 2 naming the setting; a dry run needs none."""
        result = site.manage("--ship", TESTSITE_TRANSPORT="none")
        assert result.returncode == 2
        assert "PIPELINE_COLLECTOR['TRANSPORT'] is needed to ship" in result.stderr
        dry = site.manage("--dry-run", TESTSITE_TRANSPORT="none")
        assert dry.returncode == 0, dry.stderr
        Path(dry.stdout.splitlines()[1]).unlink()


class TestCorruptState:
    def test_a_state_that_cannot_be_read_exits_6(self, site: Site) -> None:
        """A state row that cannot be read stops --ship with exit 6 (a retry meets the same
        state), naming the table; nothing ships."""
        site.manage("--ship")  # creates the table and a first state
        with psycopg.connect(site.dsn, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {site.table} VALUES ('extra:x', %s)", ("9" * 5000,))
        shipped = site.archives()
        result = site.manage("--ship")
        assert result.returncode == 6, result.stderr
        assert site.table in result.stderr
        assert site.archives() == shipped
