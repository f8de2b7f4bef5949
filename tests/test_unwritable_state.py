"""A state that cannot be written is found before anything ships; one that fails later stops the run.

``Bookkeeper.check_writable`` saves, changing nothing, through the store's
own write path: a JSON file whose folder cannot be written, a read-only
SQLite database, a settings table or a PostgreSQL table the connection may
not write are each found then, with a ``StateError`` naming the store.  A
save that fails after an archive arrived raises ``UnrecordedError`` naming
the archive, marks its shipment, and the command ends with its own code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.readonly import CannotProtect, protect, read_only, writable
from support.tenants import PgSettings

import pipeline_collector as pc
from pipeline_collector.book.bookkeeper import Bookkeeper
from pipeline_collector.cli.exits import EXIT_UNRECORDED
from pipeline_collector.errors import StateError, UnrecordedError
from pipeline_collector.protocols import StateStore
from pipeline_collector.records import (
    Archive,
    Batch,
    Collection,
    Collector,
    Part,
    Receipt,
    Shipment,
    State,
)
from pipeline_collector.stages.plan import plan
from pipeline_collector.stores import JsonFileStore, PostgresStore, SettingsStore, SqliteStore
from pipeline_collector.testing import MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
CONFIG = Collector(key="config", version="1.0", func=dict, config=True)
JOBS = Collector(key="jobs", version="1.0", func=list)


def bookkeeper(store: StateStore) -> Bookkeeper:
    """The bookkeeper of a shipping run over ``jobs``, after loading the store."""
    state = store.load()
    return Bookkeeper(plan([CONFIG, JOBS], state, now=NOW), state, store)


@pytest.fixture
def locked_folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder, made read-only by the test (and writable again afterwards)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    yield folder
    writable(folder)


def protected(folder: Path) -> None:
    try:
        protect(folder)
    except CannotProtect as e:
        pytest.skip(f"cannot make a folder read-only here: {e}")


class TestFoundBeforeAnythingShips:
    def test_a_missing_json_file_whose_folder_cannot_be_written(self, locked_folder: Path) -> None:
        """No state file yet, and its folder is read-only: the check says so, naming the file."""
        store = JsonFileStore(locked_folder / "state.json")
        book = bookkeeper(store)
        protected(locked_folder)
        with pytest.raises(StateError, match=str(locked_folder / "state.json")):
            book.check_writable()
        assert list(locked_folder.iterdir()) == []

    def test_a_read_only_sqlite_database(self, locked_folder: Path) -> None:
        """A database whose file and folder are read-only: the check fails and changes nothing."""
        path = locked_folder / "state.db"
        SqliteStore(path).save(State(entries={"jobs": NOW - timedelta(days=1)}))
        before = path.read_bytes()
        book = bookkeeper(SqliteStore(path))
        protected(locked_folder)
        with pytest.raises(StateError, match=str(path)):
            book.check_writable()
        assert path.read_bytes() == before

    def test_a_settings_store_whose_setter_fails(self, postgres_dsn: str) -> None:
        """Settings in a table the connection may only read: the setter fails, the check says which."""
        table = f"settings_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (key text PRIMARY KEY, value text)")
        settings = PgSettings(postgres_dsn, table)
        settings.conn.execute("SET default_transaction_read_only = on")
        try:
            book = bookkeeper(SettingsStore(settings.get, settings.set))
            with pytest.raises(StateError, match=r"AUTOMATION_ANALYTICS_LAST_ENTRIES.*read-only"):
                book.check_writable()
        finally:
            settings.conn.close()

    def test_a_postgres_table_on_a_read_only_connection(self, postgres_dsn: str) -> None:
        """A PostgreSQL store whose session may not write fails the check, naming its table."""
        table = f"state_{uuid.uuid4().hex[:10]}"
        PostgresStore.from_dsn(postgres_dsn, table=table).save(State())

        def connect() -> Any:
            conn = psycopg.connect(postgres_dsn, autocommit=True)
            conn.execute("SET default_transaction_read_only = on")
            return conn

        with pytest.raises(StateError, match=f"PostgreSQL table {table}.*read-only"):
            bookkeeper(PostgresStore(connect, table=table)).check_writable()

    @pytest.mark.parametrize("kind", ["json", "sqlite"])
    def test_a_writable_store_passes_and_keeps_its_state(self, tmp_path: Path, kind: str) -> None:
        """The check of a store that can be written leaves the same state behind."""
        state = State(last_gather=NOW, entries={"jobs": NOW}, extra={"runs": []})
        store: StateStore = (
            JsonFileStore(tmp_path / "s.json") if kind == "json" else SqliteStore(tmp_path / "s.db")
        )
        store.save(state)
        bookkeeper(store).check_writable()
        assert store.load() == state

    def test_a_store_with_only_load_and_save_gets_what_it_loaded(self) -> None:
        """A host's own store is checked through ``save``, with the state it loaded."""
        loaded = State(last_gather=NOW, entries={"jobs": NOW})
        store = MemoryStore(state=loaded)
        bookkeeper(store).check_writable()
        assert store.history == [loaded]

    def test_any_error_of_a_hosts_store_is_a_state_error(self) -> None:
        """A store raising something else (a database error, say) is reported as a StateError."""

        class Refusing(MemoryStore):
            def save(self, state: State) -> None:
                raise PermissionError("password=hunter2 not allowed")

        with pytest.raises(StateError, match="PermissionError") as caught:
            bookkeeper(Refusing()).check_writable()
        assert "hunter2" not in str(caught.value)


def delivered(tmp_path: Path, book: Bookkeeper) -> Shipment:
    """A real one-part archive of the plan's first task, confirmed by a destination."""
    task = book.plan.tasks[0]
    part = Part(
        key="jobs", seq=task.seq, index=0, filename="jobs.json", path=tmp_path / "part",
        raw_size=2, deflated_size=4, crc32=0,
    )  # fmt: skip
    collection = Collection(task=task, status="ok", started_at=NOW, elapsed=0.0, parts=(part,))
    book.collected(collection)
    path = tmp_path / "analytics-2026-11-27-120000+0000-0.tar.gz"
    path.write_bytes(b"archive")
    digest = hashlib.sha256(b"archive").hexdigest()
    archive = Archive(
        path=path, size=7, sha256=digest, members=("./jobs.json",), until=NOW,
        batch=Batch(group="default", number=0, parts=(part,), collections=(collection,)),
    )  # fmt: skip
    receipt = Receipt(archive=path.name, sha256=digest, destination="dir")
    return Shipment(archive=archive, receipt=receipt)


class TestFailingAfterAnUpload:
    def test_the_archive_delivered_but_not_recorded_is_named(
        self, tmp_path: Path, locked_folder: Path
    ) -> None:
        """A save that fails after a confirmed upload raises UnrecordedError naming the archive and the store."""
        store = SqliteStore(locked_folder / "state.db")
        store.save(State())
        book = bookkeeper(store)
        book.check_writable()
        shipment = delivered(tmp_path, book)
        protected(locked_folder)
        with pytest.raises(UnrecordedError) as caught:
            book.shipped(shipment)
        error = caught.value
        assert isinstance(error, StateError)
        assert error.archive == shipment.archive.name
        assert error.store == repr(store)
        assert shipment.archive.name in str(error) and str(store.path) in str(error)
        assert book.shipments[-1].unrecorded
        assert "could not record" in str(book.shipments[-1].duplicate_risk)
        writable(locked_folder)
        assert store.load() == State()  # nothing was recorded: the next run sends it again

    def test_the_command_stops_with_its_own_exit_code(self, tmp_path: Path) -> None:
        """``gather`` whose state folder turns read-only mid-run ships, fails to record, exits 5."""
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        (tmp_path / "collectors_locking.py").write_text(
            textwrap.dedent(
                f"""
                from pathlib import Path
                from pipeline_collector import register
                from support.readonly import protect

                @register("config", "1.0", config=True)
                def config(**kwargs):
                    return {{}}

                @register("jobs", "1.0")
                def jobs(since, until, **kwargs):
                    protect(Path({str(state_dir)!r}))  # the volume turns read-only
                    return [{{"id": 1}}]
                """
            )
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
        argv = [sys.executable, "-m", "pipeline_collector", "gather", "collectors_locking"]
        argv += ["--mode", "manual", "--state", str(state_dir / "state.json")]
        argv += ["--dir", str(tmp_path / "dest"), "--lock", str(tmp_path / "run.lock")]
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        finally:
            writable(state_dir)
        if done.returncode != EXIT_UNRECORDED and "CannotProtect" in done.stderr:
            pytest.skip(f"cannot make a folder read-only here: {done.stderr[-300:]}")
        assert done.returncode == EXIT_UNRECORDED, done.stderr[-2000:]
        shipped = sorted((tmp_path / "dest").rglob("*.tar.gz"))
        assert len(shipped) == 1
        assert shipped[0].name in done.stderr
        assert "delivered but not recorded" in done.stderr
        # Nothing was recorded: the start's writability probe wrote the state as loaded.
        assert pc.JsonFileStore(state_dir / "state.json").load().entries == {}


def test_read_only_really_refuses_writes(tmp_path: Path) -> None:
    """The helper's read-only folder refuses a new file, for root as for anyone."""
    folder = tmp_path / "ro"
    folder.mkdir()
    try:
        with read_only(folder), pytest.raises(OSError):
            (folder / "x").write_text(json.dumps({}))
    except CannotProtect as e:
        pytest.skip(f"cannot make a folder read-only here: {e}")
    (folder / "x").write_text("{}")  # writable again
