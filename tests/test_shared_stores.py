"""Stores several runs or tenants share: saves merge per item, namespaces keep tenants apart.

Each store kind is exercised on a real file or a real PostgreSQL table:
``update`` writes only the items of its change, ``save`` only its own
namespace, a namespace is invisible to the others and to the old library's
top-level state, and an empty change still proves the store writable.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.tenants import PgSettings

from pipeline_collector.book.codec import check_namespace
from pipeline_collector.cli.effects import build_store
from pipeline_collector.cli.exits import UsageError
from pipeline_collector.errors import ConfigurationError, StateError
from pipeline_collector.protocols import SharedStateStore
from pipeline_collector.records import Change, Collector, State
from pipeline_collector.stages.plan import plan
from pipeline_collector.stores import JsonFileStore, PostgresStore, SettingsStore, SqliteStore

UTC = timezone.utc
T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
KINDS = ["json", "sqlite", "postgres", "settings"]


def stores(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A maker of stores of ``kind`` over one shared place, by namespace."""
    if kind == "json":
        path = tmp_path / "state.json"
        yield lambda ns=None: JsonFileStore(path, namespace=ns)
    elif kind == "sqlite":
        path = tmp_path / "state.db"
        yield lambda ns=None: SqliteStore(path, namespace=ns)
    elif kind == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        table = f"shared_{uuid.uuid4().hex[:10]}"
        yield lambda ns=None: PostgresStore.from_dsn(dsn, table=table, namespace=ns)
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        table = f"settings_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (key text PRIMARY KEY, value text)")
        settings = PgSettings(dsn, table)
        try:
            yield lambda ns=None: SettingsStore(
                settings.get, settings.set, extra_key="EXTRA", atomic=settings.atomic, namespace=ns
            )
        finally:
            settings.conn.close()


@pytest.fixture(params=KINDS)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from stores(str(request.param), tmp_path, request)


def full() -> State:
    return State(
        last_gather=T0,
        entries={"jobs": T0 - HOUR, "hosts": T0 - 2 * HOUR},
        extra={"runs": [], "install_uuid": "b2"},
    )


class TestUpdate:
    def test_every_store_takes_changes(self, make: Any) -> None:
        """Each store of the library is a SharedStateStore."""
        assert isinstance(make(), SharedStateStore)
        assert isinstance(make("t1"), SharedStateStore)

    def test_update_writes_only_its_items(self, make: Any) -> None:
        """An update sets its entries and extra; every other item stays as stored."""
        store = make()
        store.save(full())
        store.update(Change(entries={"jobs": T0}, extra={"runs": [1]}))
        after = store.load()
        assert dict(after.entries) == {"jobs": T0, "hosts": T0 - 2 * HOUR}
        assert after.last_gather == T0
        assert after.extra["runs"] == [1]
        assert after.extra["install_uuid"] == "b2"

    def test_update_after_another_writer_keeps_its_work(self, make: Any) -> None:
        """Two stores over one place, each updating its own key, end with both keys."""
        one, two = make(), make()
        one.update(Change(entries={"jobs": T0}))
        two.update(Change(entries={"hosts": T0 + HOUR}, last_gather=T0 + HOUR))
        one.update(Change(entries={"jobs": T0 + 2 * HOUR}))
        state = make().load()
        assert dict(state.entries) == {"jobs": T0 + 2 * HOUR, "hosts": T0 + HOUR}
        assert state.last_gather == T0 + HOUR

    def test_an_empty_change_writes_and_leaves_an_empty_state(self, make: Any) -> None:
        """An empty update on a store that holds nothing writes, and an empty state loads."""
        store = make("t1")
        store.update(Change())
        assert store.load() == State(namespace="t1")


class TestNamespaces:
    def test_tenants_never_see_each_other(self, make: Any) -> None:
        """A tenant's saves and updates leave the other tenants' and the store's own state alone."""
        make().save(full())
        make("a").save(State(last_gather=T0 + HOUR, entries={"jobs": T0 + HOUR}))
        make("b").update(Change(entries={"jobs": T0 - 5 * HOUR}))
        make("a").update(Change(entries={"hosts": T0}))
        assert make().load() == full()
        a, b = make("a").load(), make("b").load()
        assert (a.namespace, b.namespace) == ("a", "b")
        assert dict(a.entries) == {"jobs": T0 + HOUR, "hosts": T0} and a.last_gather == T0 + HOUR
        assert dict(b.entries) == {"jobs": T0 - 5 * HOUR} and b.last_gather is None

    def test_saving_the_stores_own_state_keeps_the_tenants(self, make: Any) -> None:
        """Replacing the un-namespaced state does not drop any tenant's."""
        make("a").save(State(entries={"jobs": T0}))
        make().save(State())
        assert dict(make("a").load().entries) == {"jobs": T0}

    def test_a_tenant_never_saved_is_empty(self, make: Any) -> None:
        """A namespace nothing was saved in loads empty, even when others hold state."""
        make().save(full())
        make("a").save(full())
        assert make("b").load() == State(namespace="b")


class TestJsonFile:
    def test_the_old_library_still_reads_the_top_level(self, tmp_path: Path) -> None:
        """Tenants live under "namespaces"; last_gather and entries stay where the old library reads them."""
        path = tmp_path / "state.json"
        path.write_text(json.dumps({"last_gather": "2026-11-27T10:00:00Z", "entries": "{}"}))
        JsonFileStore(path, namespace="t1").update(Change(entries={"jobs": T0}))
        document = json.loads(path.read_text())
        assert document["last_gather"] == "2026-11-27T10:00:00Z"
        assert document["entries"] == "{}"
        assert document["namespaces"]["t1"]["entries"] == {"jobs": "2026-11-27T10:00:00+00:00"}
        assert "namespaces" not in JsonFileStore(path).load().extra

    def test_update_keeps_the_entries_form(self, tmp_path: Path) -> None:
        """Entries kept as a JSON string (AWX's form) stay a string after an update."""
        path = tmp_path / "state.json"
        path.write_text(json.dumps({"last_gather": None, "entries": '{"hosts": "x"}'}))
        JsonFileStore(path).update(Change(entries={"jobs": T0}))
        entries = json.loads(json.loads(path.read_text())["entries"])
        assert entries == {"hosts": "x", "jobs": "2026-11-27T10:00:00+00:00"}

    def test_the_reserved_name_is_refused(self, tmp_path: Path) -> None:
        """An extra named "namespaces" cannot be saved: that is where the tenants live."""
        with pytest.raises(StateError, match="namespaces"):
            JsonFileStore(tmp_path / "s.json").save(State(extra={"namespaces": {}}))

    def test_a_file_changed_by_another_writer_is_read_again(self, tmp_path: Path) -> None:
        """A store that wrote the file last notices another writer's save before its next one."""
        path = tmp_path / "state.json"
        mine = JsonFileStore(path)
        mine.update(Change(entries={"jobs": T0}))
        JsonFileStore(path).update(Change(entries={"hosts": T0}))
        mine.update(Change(entries={"jobs": T0 + HOUR}))
        assert dict(JsonFileStore(path).load().entries) == {"jobs": T0 + HOUR, "hosts": T0}


class TestTables:
    def test_a_tenants_rows_are_prefixed(self, tmp_path: Path) -> None:
        """In a table, a tenant's rows are the usual rows under ``ns:<namespace>:``."""
        path = tmp_path / "state.db"
        SqliteStore(path, namespace="t1").update(Change(entries={"jobs": T0}, last_gather=T0))
        SqliteStore(path).update(Change(entries={"jobs": T0}))
        with sqlite3.connect(path) as conn:
            keys = sorted(k for (k,) in conn.execute("SELECT key FROM pipeline_collector_state"))
        assert keys == ["entry:jobs", "ns:t1:entry:jobs", "ns:t1:last_gather"]

    def test_a_prefix_of_a_namespace_is_another_namespace(self, tmp_path: Path) -> None:
        """Namespace ``t1`` never reads the rows of ``t10``."""
        path = tmp_path / "state.db"
        SqliteStore(path, namespace="t10").save(State(entries={"jobs": T0}))
        assert SqliteStore(path, namespace="t1").load() == State(namespace="t1")


class TestSettings:
    def test_a_tenants_settings_are_its_own(self) -> None:
        """With a namespace, each setting's name ends ``:<namespace>``."""
        values: dict[str, Any] = {}
        store = SettingsStore(values.get, values.__setitem__, extra_key="X", namespace="eu")
        store.update(Change(entries={"jobs": T0}, last_gather=T0, extra={"runs": []}))
        assert sorted(values) == [
            "AUTOMATION_ANALYTICS_LAST_ENTRIES:eu",
            "AUTOMATION_ANALYTICS_LAST_GATHER:eu",
            "X:eu",
        ]

    def test_update_keeps_entries_it_does_not_know(self) -> None:
        """Entries another service wrote (a datetime, a stale value) are written back as they were."""
        values: dict[str, Any] = {
            "AUTOMATION_ANALYTICS_LAST_ENTRIES": {"hosts": T0, "config": {"a": 1}}
        }
        SettingsStore(values.get, values.__setitem__).update(Change(entries={"jobs": T0}))
        written = json.loads(values["AUTOMATION_ANALYTICS_LAST_ENTRIES"])
        assert written == {
            "hosts": "2026-11-27T10:00:00+00:00",
            "config": {"a": 1},
            "jobs": "2026-11-27T10:00:00+00:00",
        }


class TestNamespaceNames:
    @pytest.mark.parametrize("name", ["a", "A.b-c_d", "9" * 63])
    def test_good_names_are_taken(self, name: str) -> None:
        """Letters, digits, '.', '_' and '-', up to 63 of them."""
        assert check_namespace(name) == name

    @pytest.mark.parametrize("name", ["", "9" * 64, "a:b", "a/b", ".a", "-a", "é", "a b"])
    def test_bad_names_are_refused_by_every_store(self, name: str, tmp_path: Path) -> None:
        """An empty, too long or oddly spelled name is a ConfigurationError naming it."""
        for make in (
            lambda: JsonFileStore(tmp_path / "s.json", namespace=name),
            lambda: SqliteStore(tmp_path / "s.db", namespace=name),
            lambda: PostgresStore(lambda: None, namespace=name),
            lambda: SettingsStore(lambda k: None, lambda k, v: None, namespace=name),
        ):
            with pytest.raises(ConfigurationError, match="namespace"):
                make()

    def test_the_command_line_takes_a_namespace_after_a_hash(self, tmp_path: Path) -> None:
        """``--state FILE#NAME`` is the store at FILE, in namespace NAME; a bad name is bad usage."""
        store = build_store(f"{tmp_path}/s.json#eu-1")
        assert isinstance(store, JsonFileStore) and store.namespace == "eu-1"
        sqlite = build_store(f"sqlite:///{tmp_path}/s.db#eu-1")
        assert isinstance(sqlite, SqliteStore) and sqlite.namespace == "eu-1"
        with pytest.raises(UsageError, match="namespace"):
            build_store(f"{tmp_path}/s.json#a:b")


class TestPlan:
    def test_a_tenants_new_key_starts_at_the_horizon(self) -> None:
        """Without an entry, a key starts at last_gather in the store's own state, at the horizon in a tenant's."""
        config = Collector(key="config", version="1.0", func=dict, config=True)
        jobs = Collector(key="jobs", version="1.0", func=list)
        own = plan([config, jobs], State(last_gather=T0 - HOUR), now=T0)
        tenant = plan([config, jobs], State(last_gather=T0 - HOUR, namespace="a"), now=T0)
        assert own.tasks[0].window.since == T0 - HOUR
        assert tenant.tasks[0].window.since == T0 - timedelta(weeks=4)
