"""The PostgreSQL store and lock on a service's own connection: Django's, psycopg2's, psycopg 3's.

Inside a transaction the service has open, a save is a savepoint of it: it
commits nothing, the service's rollback undoes it, and its own failure
undoes only itself.  On an idle connection it commits.  No connection lent
to the store or the lock is ever closed.  All against a real PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import psycopg2
import pytest
from support import django_env

from pipeline_collector.errors import StateError
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.records import State
from pipeline_collector.stores import PostgresStore

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
STATE = State(last_gather=T0, entries={"jobs": T0 - timedelta(hours=1)})
IDLE, INTRANS = 0, 2
OTHER_PROCESS = """
import sys
from pipeline_collector.locks import PostgresAdvisoryLock
with PostgresAdvisoryLock.from_dsn(sys.argv[1], sys.argv[2]).acquire() as got:
    print(got)
"""


class Rollback(Exception):
    """Raised to leave an atomic block by rolling it back."""


@pytest.fixture
def table() -> str:
    return f"state_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def name() -> str:
    return f"lock-{uuid.uuid4().hex}"


def elsewhere(dsn: str, table: str) -> State:
    """The state as another session sees it (committed rows only)."""
    return PostgresStore.from_dsn(dsn, table=table).load()


def other_process_gets(dsn: str, name: str) -> bool:
    """Whether a separate process can take the advisory lock ``name`` now."""
    out = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, dsn, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    return out == "True"


@pytest.fixture
def django_connection(postgres_dsn: str) -> Iterator[Any]:
    """``django.db.connection`` on the tests' server; the test process closes it at the end."""
    django_env.use_server(postgres_dsn)
    from django.db import connection

    yield connection
    connection.close()


def usable(connection: Any) -> bool:
    """The Django connection is still open and answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,)) and connection.connection is not None


class TestDjango:
    def test_outer_rollback_undoes_the_save(
        self, django_connection: Any, postgres_dsn: str, table: str
    ) -> None:
        """A save inside transaction.atomic() is seen inside, by nobody else, and is gone after
        the block rolls back."""
        from django.db import transaction

        store = PostgresStore(django_connection, table=table)
        with pytest.raises(Rollback), transaction.atomic():
            store.save(STATE)
            assert store.load() == STATE
            assert elsewhere(postgres_dsn, table) == State()
            raise Rollback
        assert store.load() == State()
        assert elsewhere(postgres_dsn, table) == State()
        assert usable(django_connection)

    def test_djangos_driver_connection_joins_the_block(
        self, django_connection: Any, postgres_dsn: str, table: str, name: str
    ) -> None:
        """connection.connection (Django's psycopg connection) inside atomic() is Django's:
        the save is undone by the block's rollback, though nothing ran in it before."""
        from django.db import transaction

        django_connection.ensure_connection()
        with pytest.raises(Rollback), transaction.atomic():
            raw = django_connection.connection
            PostgresStore(raw, table=table).save(STATE)
            with PostgresAdvisoryLock(raw, name).acquire() as got:
                assert got
            assert elsewhere(postgres_dsn, table) == State()
            raise Rollback
        assert elsewhere(postgres_dsn, table) == State()
        assert usable(django_connection)

    def test_outer_commit_keeps_the_save(
        self, django_connection: Any, postgres_dsn: str, table: str
    ) -> None:
        """Inside atomic() the save waits for the service's commit, then is there for everyone."""
        from django.db import transaction

        store = PostgresStore(django_connection, table=table)
        with transaction.atomic():
            store.save(STATE)
            assert elsewhere(postgres_dsn, table) == State()
        assert elsewhere(postgres_dsn, table) == STATE

    def test_autocommit_save_commits(
        self, django_connection: Any, postgres_dsn: str, table: str
    ) -> None:
        """Outside any atomic block a save is committed at once; the connection stays open."""
        PostgresStore(django_connection, table=table).save(STATE)
        assert not django_connection.in_atomic_block
        assert elsewhere(postgres_dsn, table) == STATE
        assert usable(django_connection)

    def test_failed_save_undoes_only_itself(self, django_connection: Any, table: str) -> None:
        """A save that fails inside atomic() raises StateError; the service's own work in the
        block survives and commits."""
        from django.db import transaction

        with django_connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {table} (key int)")
        mine = f"mine_{table}"
        with transaction.atomic():
            with django_connection.cursor() as cursor:
                cursor.execute(f"CREATE TABLE {mine} (n int)")
                cursor.execute(f"INSERT INTO {mine} VALUES (1)")
            with pytest.raises(StateError, match=table):
                PostgresStore(django_connection, table=table).save(STATE)
        with django_connection.cursor() as cursor:
            cursor.execute(f"SELECT n FROM {mine}")
            assert cursor.fetchall() == [(1,)]

    def test_lock_excludes_a_second_process(
        self, django_connection: Any, postgres_dsn: str, name: str
    ) -> None:
        """While held on Django's connection another process cannot take the lock; after
        release it can, and the connection is still open."""
        lock = PostgresAdvisoryLock(django_connection, name)
        with lock.acquire() as got:
            assert got is True
            assert other_process_gets(postgres_dsn, name) is False
        assert other_process_gets(postgres_dsn, name) is True
        assert usable(django_connection)

    def test_lock_inside_atomic_commits_nothing(self, django_connection: Any, name: str) -> None:
        """Taking and releasing the lock inside atomic() leaves the block's rollback whole."""
        from django.db import transaction

        mine = f"mine_{uuid.uuid4().hex[:12]}"
        with pytest.raises(Rollback), transaction.atomic():
            with django_connection.cursor() as cursor:
                cursor.execute(f"CREATE TABLE {mine} (n int)")
            with PostgresAdvisoryLock(django_connection, name).acquire() as got:
                assert got
            raise Rollback
        with django_connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", (mine,))
            assert cursor.fetchone() == (None,)

    def test_factory_returning_djangos_connection_leaves_it_open(
        self, django_connection: Any, name: str, table: str
    ) -> None:
        """A callable that hands back Django's connection (the guide's old lock form) never
        gets it closed, by the lock or by the store."""
        with PostgresAdvisoryLock(lambda: django_connection, name).acquire() as got:
            assert got
        PostgresStore(lambda: django_connection, table=table).save(STATE)
        assert django_connection.connection is not None
        assert usable(django_connection)

    def test_django_proxy_and_wrapper_are_both_taken(
        self, django_connection: Any, table: str
    ) -> None:
        """connections['default'] works as django.db.connection does."""
        from django.db import connections

        PostgresStore(connections["default"], table=table).save(STATE)
        assert PostgresStore(django_connection, table=table).load() == STATE


def psycopg2_connect(dsn: str, autocommit: bool) -> Any:
    conn = psycopg2.connect(dsn)
    conn.autocommit = autocommit
    return conn


def psycopg3_connect(dsn: str, autocommit: bool) -> Any:
    return psycopg.connect(dsn, autocommit=autocommit)


DRIVERS: dict[str, Callable[[str, bool], Any]] = {
    "psycopg2": psycopg2_connect,
    "psycopg": psycopg3_connect,
}


@pytest.fixture(params=list(DRIVERS))
def connect(request: pytest.FixtureRequest, postgres_dsn: str) -> Iterator[Callable[[bool], Any]]:
    """Connections of each driver; the test closes them, never the library."""
    opened: list[Any] = []

    def open_one(autocommit: bool) -> Any:
        conn = DRIVERS[request.param](postgres_dsn, autocommit)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        assert not conn.closed, "the library closed a connection it was lent"
        conn.close()


def run(conn: Any, sql: str) -> list[Any]:
    cursor = conn.cursor()
    cursor.execute(sql)
    rows = cursor.fetchall() if cursor.description is not None else []
    cursor.close()
    return list(rows)


class TestDrivers:
    def test_open_transaction_rollback_undoes_the_save(
        self, connect: Callable[[bool], Any], postgres_dsn: str, table: str
    ) -> None:
        """In a transaction the service has open, the save commits nothing and its rollback
        undoes it."""
        conn = connect(False)
        run(conn, "SELECT 1")  # the service's transaction is open
        store = PostgresStore(conn, table=table)
        store.save(STATE)
        assert conn.info.transaction_status == INTRANS
        assert store.load() == STATE
        assert elsewhere(postgres_dsn, table) == State()
        conn.rollback()
        assert store.load() == State()
        assert elsewhere(postgres_dsn, table) == State()

    def test_open_transaction_commit_keeps_the_save(
        self, connect: Callable[[bool], Any], postgres_dsn: str, table: str
    ) -> None:
        """The save becomes visible when the service commits its transaction."""
        conn = connect(False)
        run(conn, "SELECT 1")
        PostgresStore(conn, table=table).save(STATE)
        assert elsewhere(postgres_dsn, table) == State()
        conn.commit()
        assert elsewhere(postgres_dsn, table) == STATE

    @pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "idle"])
    def test_idle_connection_commits(
        self, connect: Callable[[bool], Any], postgres_dsn: str, table: str, autocommit: bool
    ) -> None:
        """On an idle connection the store opens its own transaction and commits it."""
        conn = connect(autocommit)
        PostgresStore(conn, table=table).save(STATE)
        assert conn.info.transaction_status == IDLE
        assert elsewhere(postgres_dsn, table) == STATE
        assert PostgresStore(conn, table=table).load() == STATE

    def test_failed_save_keeps_the_open_transaction(
        self, connect: Callable[[bool], Any], table: str
    ) -> None:
        """A failing save raises StateError; the service's own statements in the transaction
        survive and commit."""
        conn = connect(False)
        mine = f"mine_{table}"
        run(conn, f"CREATE TABLE {table} (key int)")
        run(conn, f"CREATE TABLE {mine} (n int)")
        run(conn, f"INSERT INTO {mine} VALUES (1)")
        with pytest.raises(StateError, match=table):
            PostgresStore(conn, table=table).save(STATE)
        assert conn.info.transaction_status == INTRANS
        conn.commit()
        assert run(conn, f"SELECT n FROM {mine}") == [(1,)]

    def test_lock_joins_the_open_transaction(
        self, connect: Callable[[bool], Any], postgres_dsn: str, name: str, table: str
    ) -> None:
        """The lock excludes another process, commits nothing of the service's transaction,
        and is released afterwards."""
        conn = connect(False)
        run(conn, f"CREATE TABLE {table} (n int)")
        with PostgresAdvisoryLock(conn, name).acquire() as got:
            assert got
            assert other_process_gets(postgres_dsn, name) is False
            assert conn.info.transaction_status == INTRANS
        conn.rollback()
        assert run(conn, f"SELECT to_regclass('{table}')") == [(None,)]
        assert other_process_gets(postgres_dsn, name) is True


class TestUnsupported:
    @pytest.mark.parametrize(
        "thing",
        [object(), sqlite3.connect(":memory:").cursor(), "postgresql://db/x"],
        ids=["object", "a cursor", "a DSN"],
    )
    def test_store_names_the_type(self, thing: object) -> None:
        """Anything but Django's, psycopg2's or psycopg 3's connection is a TypeError that names
        its type and the kinds taken."""
        with pytest.raises(TypeError) as info:
            PostgresStore(thing)
        text = str(info.value)
        assert type(thing).__name__ in text
        assert "Django connection" in text and "psycopg2" in text and "psycopg 3" in text

    def test_lock_names_the_type(self) -> None:
        """A lock over an object with no cursor() is a TypeError naming its type."""
        with pytest.raises(TypeError, match=r"PostgresAdvisoryLock takes .*; got object"):
            PostgresAdvisoryLock(object(), "x")  # type: ignore[arg-type]

    def test_factory_of_the_wrong_kind(self, table: str) -> None:
        """A factory returning something unsupported fails at use with the same TypeError."""
        store = PostgresStore(lambda: sqlite3.connect(":memory:"), table=table)
        with pytest.raises(TypeError, match=r"got sqlite3\.Connection"):
            store.load()
