"""AWX's collectors module runs with only its import line changed, against PostgreSQL.

``tests/oldstyle/awx_analytics.py`` has the shapes of AWX's
``awx/main/analytics/collectors.py``.  It is run twice on two databases
holding the same rows: once by AWX's own gather (``support.awx_core``, the
module's import pointing back at AWX's ``register``) and once through
``tests/oldstyle/awx_after.py``, the guide's AWX code, shipping to a local
HTTPS ingress.  Both must collect the same windows, ship the same rows and
leave the same entries.  The settings table is ``conf_setting`` as AWX's own
migrations build it (``support.awx_schema``: ``created`` and ``modified``
NOT NULL without a default, ``value`` jsonb, ``key`` not unique).
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import types
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trustme
from structlog.testing import capture_logs
from support import awx_core, awx_schema

from pipeline_collector.testing import IngressServer

OLDSTYLE = Path(__file__).resolve().parent / "oldstyle"
NEW_IMPORT = "from pipeline_collector.compat import register"
OLD_IMPORT = "from support.awx_core import register"
CSV_KEYS = ("events_table", "unified_jobs_table", "host_metric_table")
UNTIL = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=8)

# conf_setting as AWX's migrations build it (support.awx_schema), and cut-down data tables.
SCHEMA = (
    awx_schema.CONF_SETTING
    + """
CREATE TABLE main_unifiedjob (id int PRIMARY KEY, name text, created timestamptz,
                              finished timestamptz, status text);
CREATE TABLE main_jobevent (id int PRIMARY KEY, modified timestamptz, job_id int, event text);
CREATE TABLE main_hostmetric (id int PRIMARY KEY, hostname text, last_automation timestamptz,
                              last_deleted timestamptz);
"""
)


def load(*, awx: bool, connection: Any) -> types.ModuleType:
    """The collectors module, importing pipeline_collector's register or (``awx``) AWX's."""
    source = (OLDSTYLE / "awx_analytics.py").read_text()
    assert source.count(NEW_IMPORT) == 1
    if awx:
        source = source.replace(NEW_IMPORT, OLD_IMPORT)
    module = types.ModuleType(f"awx_analytics_{'awx' if awx else 'new'}")
    exec(compile(source, str(OLDSTYLE / "awx_analytics.py"), "exec"), module.__dict__)
    module.__dict__["connection"] = connection
    return module


def load_after() -> types.ModuleType:
    module = types.ModuleType("awx_after")
    path = OLDSTYLE / "awx_after.py"
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


def add_rows(conn: psycopg.Connection[Any], until: datetime, first_id: int) -> None:
    """Jobs and events over the day before ``until``; host metrics reaching 60 days back."""
    for n in range(24):
        at = until - timedelta(hours=n, minutes=17)
        i = first_id + n
        conn.execute(
            "INSERT INTO main_unifiedjob VALUES (%s, %s, %s, %s, %s)",
            (i, f'job "{i}", deploy\nprod', at, at + timedelta(minutes=40), "successful"),
        )
        for e in range(3):
            conn.execute(
                "INSERT INTO main_jobevent VALUES (%s, %s, %s, %s)",
                (i * 10 + e, at + timedelta(minutes=e), i, "runner_on_ok"),
            )
    for n in range(8):
        i = first_id + n
        automated = until - timedelta(days=60 - 8 * n, hours=1)
        deleted = automated + timedelta(days=2) if n % 3 == 0 else None
        conn.execute(
            "INSERT INTO main_hostmetric VALUES (%s, %s, %s, %s)",
            (i, f"host-{i}.example.com", automated, deleted),
        )


class AwxDatabases:
    """Two databases with AWX's tables and the same rows: AWX's and ours."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.names = {side: f"awx_{side}_{uuid.uuid4().hex[:8]}" for side in ("awx", "new")}
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f"CREATE DATABASE {name}")
        self.conns = {side: psycopg.connect(self.dsn(side), autocommit=True) for side in self.names}
        for conn in self.conns.values():
            conn.execute(SCHEMA)
            # The installation has run before: AWX's last gather was a day earlier.
            awx_schema.write_setting(
                conn, awx_core.LAST_GATHER, awx_core.django_datetime(UNTIL - timedelta(days=1))
            )

    def dsn(self, side: str) -> str:
        return self.admin_dsn.replace("dbname=postgres", f"dbname={self.names[side]}")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        for conn in self.conns.values():
            conn.execute(sql, params)

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f"DROP DATABASE {name}")


@pytest.fixture
def dbs(postgres_dsn: str) -> Iterator[AwxDatabases]:
    databases = AwxDatabases(postgres_dsn)
    for conn in databases.conns.values():
        add_rows(conn, UNTIL, first_id=1)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def ingress(tmp_path: Path) -> Iterator[tuple[IngressServer, str]]:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with IngressServer(
        tmp_path / "received", ssl_context=context, basic=("rh-user", "rh-pass")
    ) as server:
        yield server, str(bundle)


def awx_settings(ingress: tuple[IngressServer, str]) -> types.SimpleNamespace:
    server, bundle = ingress
    return types.SimpleNamespace(
        INSIGHTS_TRACKING_STATE=True,
        AUTOMATION_ANALYTICS_URL=server.url,
        REDHAT_USERNAME="",
        REDHAT_PASSWORD="",
        SUBSCRIPTIONS_USERNAME="rh-user",
        SUBSCRIPTIONS_PASSWORD="rh-pass",
        INSIGHTS_AGENT_MIME="application/vnd.redhat.tower.tower_payload+tgz",
        INSIGHTS_CERT_PATH=bundle,
        SYSTEM_UUID="0c3a9e1e-4a4e-4d1e-9c1e-2f6b1a7e5d10",
        VERSION="24.6.1",
        valid_license=lambda: True,
    )


# --- what each side shipped ------------------------------------------------------------------


def members(paths: list[Path]) -> list[dict[str, bytes]]:
    out = []
    for path in paths:
        with tarfile.open(path, "r:gz") as tar:
            files = {}
            for info in tar.getmembers():
                f = tar.extractfile(info)
                assert f is not None
                files[info.name] = f.read()
            out.append(files)
    return out


def rows(archives: list[dict[str, bytes]]) -> dict[str, Counter[tuple[str, ...]]]:
    """Every CSV key's data rows (header dropped), as a multiset."""
    found: dict[str, Counter[tuple[str, ...]]] = {}
    for files in archives:
        for name, data in files.items():
            if name.endswith(".csv") and name != "./data_collection_status.csv":
                parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
                found.setdefault(name[2:-4], Counter()).update(tuple(r) for r in parsed[1:])
    return found


def documents(archives: list[dict[str, bytes]]) -> dict[str, Any]:
    return {
        name[2:]: json.loads(data)
        for files in archives
        for name, data in files.items()
        if name.endswith(".json") and name != "./manifest.json"
    }


def entries(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    return {k: v for k, v in awx_core.last_entries(conn).items() if isinstance(v, datetime)}


def awx_run(dbs: AwxDatabases, tmp_path: Path, until: datetime, **kwargs: Any) -> Any:
    conn = dbs.conns["awx"]
    dest = tmp_path / f"awx-{uuid.uuid4().hex[:6]}"
    return awx_core.gather(
        load(awx=True, connection=conn),
        conn,
        dest,
        now=datetime.now(timezone.utc),
        until=until,
        **kwargs,
    )


def new_run(
    dbs: AwxDatabases, ingress: tuple[IngressServer, str], until: datetime, **kwargs: Any
) -> Any:
    after = load_after()
    return after.run_analytics(
        awx_settings(ingress),
        load(awx=False, connection=dbs.conns["new"]),
        lambda: psycopg.connect(dbs.dsn("new"), autocommit=True),
        mode="manual",
        until=until,
        **kwargs,
    )


def new_windows(run: Any) -> dict[str, list[tuple[datetime, datetime]]]:
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for task in run.plan.tasks:
        if task.key in CSV_KEYS:
            out.setdefault(task.key, []).append((task.window.since, task.window.until))
    return out


def compare(awx: Any, run: Any, received: list[Path], dbs: AwxDatabases) -> None:
    """Same windows, rows, JSON documents and entries on both sides."""
    assert run.status == "ok", run.reason
    assert new_windows(run) == awx.windows
    theirs, ours = members(awx.archives), members(received)
    assert rows(ours) == rows(theirs)
    assert documents(ours) == documents(theirs)
    awx_entries, new_entries = entries(dbs.conns["awx"]), entries(dbs.conns["new"])
    # AWX also keeps an entry for its config collector, which nothing reads.
    assert set(awx_entries) - {"config"} == set(new_entries)
    for key, value in new_entries.items():
        if not key.endswith("_full"):
            assert value == awx_entries[key], key


class TestSettingsTable:
    def test_bookkeeping_stays_in_awxs_own_rows(
        self, dbs: AwxDatabases, ingress: tuple[IngressServer, str]
    ) -> None:
        """On conf_setting as AWX's migrations build it, runs update AWX's rows in place:
        one system row per setting, its creation time kept, jsonb strings AWX reads back."""
        conn = dbs.conns["new"]
        (before,) = awx_schema.system_rows(conn, awx_core.LAST_GATHER)
        assert new_run(dbs, ingress, UNTIL).status == "ok"
        assert new_run(dbs, ingress, UNTIL + timedelta(hours=2)).status == "ok"
        (after,) = awx_schema.system_rows(conn, awx_core.LAST_GATHER)
        assert after[0] == before[0] and after[1] == before[1] and after[2] > before[2]
        assert awx_core._parse(after[3]) == UNTIL + timedelta(hours=2)
        (entries,) = awx_schema.system_rows(conn, awx_core.ENTRIES)
        assert entries[1] <= entries[2]
        assert isinstance(entries[3], str)  # a JSON string holding the entries' JSON text
        assert awx_core.last_entries(conn)["events_table"] == UNTIL + timedelta(hours=2)


class TestSameAsAwxGather:
    def test_two_runs_ship_the_same_rows_windows_and_entries(
        self, dbs: AwxDatabases, ingress: tuple[IngressServer, str], tmp_path: Path
    ) -> None:
        """A first run (host metrics in a full sync from the oldest row, 60 days back) and a
        second one six hours later collect the same windows, ship the same rows and JSON and
        leave the same entries as AWX's own gather."""
        server = ingress[0]
        awx = awx_run(dbs, tmp_path, UNTIL)
        run = new_run(dbs, ingress, UNTIL)
        compare(awx, run, [u.path for u in server.received], dbs)
        host_windows = new_windows(run)["host_metric_table"]
        assert host_windows[0][0] < UNTIL - timedelta(weeks=4), "the full sync reached back"
        assert (
            sum(rows(members([u.path for u in server.received]))["host_metric_table"].values()) == 8
        )
        assert {u.content_type for u in server.received} == {
            "application/vnd.redhat.tower.tower_payload+tgz"
        }

        later = UNTIL + timedelta(hours=6)
        for conn in dbs.conns.values():
            add_rows(conn, later, first_id=1000)
        first = len(server.received)
        awx = awx_run(dbs, tmp_path, later)
        run = new_run(dbs, ingress, later)
        compare(awx, run, [u.path for u in server.received[first:]], dbs)
        assert new_windows(run)["host_metric_table"] == [(UNTIL, later)]

    def test_config_is_found_by_its_key_with_a_warning(
        self, dbs: AwxDatabases, ingress: tuple[IngressServer, str]
    ) -> None:
        """AWX's config collector has no config=True: it is found by its key, in every
        archive, and the warning names it."""
        with capture_logs() as logs:
            run = new_run(dbs, ingress, UNTIL)
        assert run.status == "ok", run.reason
        (warning,) = [e for e in logs if e["event"] == "config.found_by_key"]
        assert warning["collector"] == "config"
        for files in members([u.path for u in ingress[0].received]):
            assert json.loads(files["./config.json"])["install_uuid"] == "awx-test-uuid"


class TestSlicerReporting:
    def test_host_metric_slicer_yielding_nothing_is_a_problem(
        self, dbs: AwxDatabases, ingress: tuple[IngressServer, str]
    ) -> None:
        """With an explicit since AWX's host-metrics generator yields nothing; after a run that
        shipped that key, the run is partial and names it, never silently ok."""
        assert new_run(dbs, ingress, UNTIL).status == "ok"
        later = UNTIL + timedelta(hours=3)
        with capture_logs() as logs:
            run = new_run(dbs, ingress, later, since=later - timedelta(hours=1))
        assert run.status == "partial"
        assert [p.key for p in run.plan.problems] == ["host_metric_table"]
        assert "host_metric_table" in run.reason
        assert any(
            e["event"] == "slicer.no_window" and e["key"] == "host_metric_table" for e in logs
        )
