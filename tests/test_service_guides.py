"""Each service's "after" code in docs/migration.md runs, against PostgreSQL and an HTTPS ingress.

eda-server, galaxy_ng and pinakes (AWX and metrics-utility have test files
of their own): the code shown in the guide is the module the test runs; a
manual run ships one archive with the service's content type and name and
keeps the bookkeeping where the guide says, and a session holding the old
library's lock key keeps the run from starting.  The AWX and
metrics-utility guides' stores are also run here on their own, on AWX's
``conf_setting`` as AWX's own migrations build it (``support.awx_schema``).
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trustme
from support import awx_schema

from pipeline_collector.testing import IngressServer

ROOT = Path(__file__).resolve().parent.parent
OLDSTYLE = ROOT / "tests" / "oldstyle"
OLD_LOCK = int(hashlib.sha512(b"gather_analytics_lock").hexdigest(), 16) % 2**63


def load(name: str) -> types.ModuleType:
    path = OLDSTYLE / f"{name}.py"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


def collectors() -> types.ModuleType:
    module = load("service_collectors")
    module.__dict__["TASKS"][:] = [(1, "build", "done"), (2, "deploy", "failed")]
    return module


@pytest.fixture
def ingress(tmp_path: Path) -> Iterator[tuple[IngressServer, str]]:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = IngressServer(
        tmp_path / "received",
        ssl_context=context,
        basic=("svc-user", "svc-pass"),
        clients={"eda-client": "eda-secret"},
    )
    with server:
        yield server, str(bundle)


@pytest.fixture
def connect(postgres_dsn: str) -> Any:
    return lambda: psycopg.connect(postgres_dsn, autocommit=True)


def eda_settings(ingress: tuple[IngressServer, str]) -> types.SimpleNamespace:
    server, bundle = ingress
    return types.SimpleNamespace(
        ANALYTICS=True,
        INSIGHTS_TRACKING_STATE=True,
        INSIGHTS_URL=server.url,
        INSIGHTS_CERT_PATH=bundle,
        INSIGHTS_AUTH_MODE="service-account",
        INSIGHTS_SSO_URL=server.token_url,
        INSIGHTS_CLIENT_ID="eda-client",
        INSIGHTS_CLIENT_SECRET="eda-secret",
        INSIGHTS_USERNAME="",
        INSIGHTS_PASSWORD="",
        AUTOMATION_ANALYTICS_LAST_GATHER=None,
        AUTOMATION_ANALYTICS_LAST_ENTRIES="",
    )


def galaxy_settings(ingress: tuple[IngressServer, str]) -> types.SimpleNamespace:
    server, bundle = ingress
    return types.SimpleNamespace(
        GALAXY_METRICS_COLLECTION_AUTOMATION_ANALYTICS_ENABLED=True,
        GALAXY_METRICS_COLLECTION_C_RH_C_UPLOAD_URL=server.url,
        GALAXY_METRICS_COLLECTION_AUTOMATION_ANALYTICS_AUTH_TYPE="user-pass",
        GALAXY_METRICS_COLLECTION_REDHAT_USERNAME="svc-user",
        GALAXY_METRICS_COLLECTION_REDHAT_PASSWORD="svc-pass",
        GALAXY_METRICS_COLLECTION_ORG_ID="1",
        CA_BUNDLE=bundle,
        VERSION="4.10.0",
    )


def pinakes_settings(ingress: tuple[IngressServer, str]) -> types.SimpleNamespace:
    server, bundle = ingress
    return types.SimpleNamespace(
        PINAKES_INSIGHTS_TRACKING_STATE=True,
        PINAKES_INSIGHTS_URL=server.url,
        PINAKES_INSIGHTS_USERNAME="svc-user",
        PINAKES_INSIGHTS_PASSWORD="svc-pass",
        CA_BUNDLE=bundle,
    )


class Job:
    """An rq job's meta and save_meta, as pinakes' old hooks used them."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.saved = 0

    def save_meta(self) -> None:
        self.saved += 1


def run_service(name: str, ingress: tuple[IngressServer, str], connect: Any) -> Any:
    """Run the service's guide code once in manual mode; return (run, where its state is)."""
    after = load(f"{name}_after")
    if name == "eda":
        settings = eda_settings(ingress)
        return after.run_analytics(settings, collectors(), connect, mode="manual"), settings
    if name == "galaxy":
        return after.run_metrics(galaxy_settings(ingress), collectors(), connect), None
    job = Job()
    return after.run_analytics(
        pinakes_settings(ingress), collectors(), connect, job, mode="manual"
    ), job


CASES = {
    "eda": (
        "application/vnd.redhat.aap-event-driven-ansible.filename+tgz",
        r"eda-analytics-\d{4}-\d\d-\d\d-\d{6}\+0000-0\.tar\.gz",
        "bearer",
    ),
    "galaxy": (
        "application/vnd.redhat.automation-hub.hub_payload+tgz",
        r"galaxy-hub-analytics-\d{4}-\d\d-\d\d-\d{4}-0\.tar\.gz",
        "basic",
    ),
    "pinakes": (
        "application/vnd.redhat.pinakes.filename+tgz",
        r"pinake-\d{4}-\d\d-\d\d-\d{6}\+0000-0\.tar\.gz",
        "basic",
    ),
}


class TestGuides:
    @pytest.mark.parametrize("name", ["eda", "galaxy", "pinakes", "awx", "mu"])
    def test_guide_shows_the_module(self, name: str) -> None:
        """docs/migration.md shows each service's after module as it is, so the guide stays true."""
        guide = (ROOT / "docs" / "migration.md").read_text()
        blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL)
        assert (OLDSTYLE / f"{name}_after.py").read_text() in blocks

    @pytest.mark.parametrize("name", list(CASES))
    def test_manual_run_ships_and_keeps_bookkeeping(
        self, name: str, ingress: tuple[IngressServer, str], connect: Any, postgres_dsn: str
    ) -> None:
        """One archive with the service's content type, name and auth; the state is kept
        where the guide keeps it."""
        content_type, pattern, auth = CASES[name]
        if name == "galaxy":
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute("DROP TABLE IF EXISTS galaxy_metrics_collection_state")
        run, where = run_service(name, ingress, connect)
        assert run.status == "ok", run.reason
        (upload,) = ingress[0].received
        assert upload.content_type == content_type
        assert re.fullmatch(pattern, upload.filename), upload.filename
        assert upload.auth == auth
        entries = {"task_counts", "tasks_table"}
        if name == "eda":
            assert set(json.loads(where.AUTOMATION_ANALYTICS_LAST_ENTRIES)) == entries
            assert where.AUTOMATION_ANALYTICS_LAST_GATHER is not None
        elif name == "pinakes":
            assert set(where.meta["last_gathered_entries"]) == entries and where.saved >= 1
        else:
            from pipeline_collector import PostgresStore

            state = PostgresStore(connect, table="galaxy_metrics_collection_state").load()
            assert set(state.entries) == entries
            assert state.last_gather is not None and state.last_gather <= datetime.now(timezone.utc)

    @pytest.mark.parametrize("name", list(CASES))
    def test_old_library_lock_key_stops_the_run(
        self, name: str, ingress: tuple[IngressServer, str], connect: Any, postgres_dsn: str
    ) -> None:
        """A session holding the old library's key for 'gather_analytics_lock' keeps the run
        from starting: old and new runs exclude each other during an upgrade."""
        with psycopg.connect(postgres_dsn, autocommit=True) as holder:
            assert holder.execute("SELECT pg_try_advisory_lock(%s)", (OLD_LOCK,)).fetchone() == (
                True,
            )
            run, _ = run_service(name, ingress, connect)
        assert run.status == "lock-held"
        assert ingress[0].received == []


@pytest.fixture
def awx_db(postgres_dsn: str) -> Iterator[str]:
    """A database of its own holding AWX's conf_setting, as AWX's migrations build it."""
    name = f"awx_conf_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = postgres_dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(awx_schema.CONF_SETTING)
    try:
        yield dsn
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def connector(dsn: str) -> Callable[[], psycopg.Connection[Any]]:
    """A connection factory, as the guides' stores take one."""
    return lambda: psycopg.connect(dsn, autocommit=True)


LAST_GATHER = "AUTOMATION_ANALYTICS_LAST_GATHER"
LAST_ENTRIES = "AUTOMATION_ANALYTICS_LAST_ENTRIES"
AT = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)


class TestOnAwxsSettingsTable:
    def test_the_table_refuses_a_row_without_its_times(self, awx_db: str) -> None:
        """AWX's conf_setting has no default for created and modified: (key, value) alone fails."""
        with (
            psycopg.connect(awx_db, autocommit=True) as conn,
            pytest.raises(psycopg.errors.NotNullViolation),
        ):
            conn.execute("INSERT INTO conf_setting (key, value) VALUES ('X', '1')")

    def test_awx_store_creates_then_updates_awxs_rows(self, awx_db: str) -> None:
        """The AWX guide's store writes system rows with their times, then updates them in place."""
        from pipeline_collector import State

        connect = connector(awx_db)
        store = load("awx_after").SettingTableStore(connect)
        assert store.load() == State()
        store.save(State(last_gather=AT, entries={"jobs": AT}))
        store.save(State(last_gather=AT + timedelta(hours=1), entries={"jobs": AT}))
        with connect() as conn:
            (gather,) = awx_schema.system_rows(conn, LAST_GATHER)
            (entries,) = awx_schema.system_rows(conn, LAST_ENTRIES)
        assert gather[1] <= gather[2] and entries[1] <= entries[2]
        assert isinstance(gather[3], str) and isinstance(entries[3], str)
        assert store.load() == State(last_gather=AT + timedelta(hours=1), entries={"jobs": AT})

    def test_awx_store_keeps_the_row_awx_made(self, awx_db: str) -> None:
        """A setting AWX created is updated in place: same row, same creation time."""
        from pipeline_collector import State

        connect = connector(awx_db)
        with connect() as conn:
            awx_schema.write_setting(conn, LAST_ENTRIES, json.dumps({"jobs": "2026-11-26T00:00Z"}))
            (made,) = awx_schema.system_rows(conn, LAST_ENTRIES)
        load("awx_after").SettingTableStore(connect).save(State(entries={"jobs": AT}))
        with connect() as conn:
            (now,) = awx_schema.system_rows(conn, LAST_ENTRIES)
        assert (now[0], now[1]) == (made[0], made[1]) and now[2] >= made[2]
        assert json.loads(now[3]) == {"jobs": "2026-11-27T10:00:00+00:00"}

    def test_metrics_utility_store_moves_awxs_entries_forward_only(self, awx_db: str) -> None:
        """The metrics-utility guide's store merges into AWX's entries row, never moving one back."""
        from pipeline_collector import State

        connect = connector(awx_db)
        with connect() as conn:
            entries = {
                "events_table": "2026-11-27T12:00:00Z",
                "job_host_summary": "2026-11-20T00:00Z",
            }
            awx_schema.write_setting(conn, LAST_ENTRIES, json.dumps(entries))
            (made,) = awx_schema.system_rows(conn, LAST_ENTRIES)
        store = load("mu_after").SharedEntriesStore(connect)
        store.save(State(entries={"job_host_summary": AT, "events_table": AT}))
        with connect() as conn:
            (now,) = awx_schema.system_rows(conn, LAST_ENTRIES)
        assert (now[0], now[1]) == (made[0], made[1])
        assert store.load().entries == {
            "job_host_summary": AT,
            "events_table": datetime(2026, 11, 27, 12, tzinfo=timezone.utc),
        }

    def test_metrics_utility_store_creates_the_row_when_awx_has_none(self, awx_db: str) -> None:
        """With no entries row yet, the metrics-utility store creates AWX's, times filled in."""
        from pipeline_collector import State

        connect = connector(awx_db)
        load("mu_after").SharedEntriesStore(connect).save(State(entries={"job_host_summary": AT}))
        with connect() as conn:
            (row,) = awx_schema.system_rows(conn, LAST_ENTRIES)
        assert row[1] <= row[2]
        assert json.loads(row[3]) == {"job_host_summary": "2026-11-27T10:00:00+00:00"}
