"""Corrupt state in every store is a ``StateError`` naming the store, with credentials blanked.

Each store reads what others may have written: bytes that are not UTF-8,
JSON nested 100,000 deep, numbers thousands of digits long, a text larger
than any state, a key that is not valid Unicode, a getter that fails with a
connection string in its message.  Bounds (``jsontext.MAX_DEPTH``,
``MAX_NUMBER``, ``codec.MAX_STATE_SIZE``) are tried at and past their limit.
"""

from __future__ import annotations

import json
import sqlite3
import types
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

from pipeline_collector.book.codec import MAX_STATE_SIZE
from pipeline_collector.errors import StateError
from pipeline_collector.jsontext import MAX_DEPTH, MAX_NUMBER
from pipeline_collector.records import State
from pipeline_collector.stores import JsonFileStore, PostgresStore, SettingsStore, SqliteStore

T0 = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
PASSWORD = "Pw-s3cret-7731"  # noqa: S105 - a test value


def nested(levels: int) -> str:
    """A JSON array nested ``levels`` deep."""
    return "[" * levels + "]" * levels


def extra_with(value_json: str) -> str:
    """A JSON object (one level) holding ``value_json``."""
    return '{"x": ' + value_json + "}"


class Unreadable(Exception):
    def __str__(self) -> str:
        raise KeyError("no message")


# --------------------------------------------------------------------------- SettingsStore


def settings_store(**values: Any) -> SettingsStore:
    return SettingsStore(
        lambda key: values.get(key),
        lambda key, value: values.__setitem__(key, value),
        extra_key="EXTRA",
    )


ENTRIES = "AUTOMATION_ANALYTICS_LAST_ENTRIES"

SETTINGS_CORRUPTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "entries not utf-8": ({ENTRIES: b'{"jobs": "caf\xe9"}'}, f"{ENTRIES}: not UTF-8"),
    "entries 100000 deep": ({ENTRIES: nested(100_000)}, f"{ENTRIES}: nested deeper than 64"),
    "entries 5000-digit number": (
        {ENTRIES: '{"jobs": ' + "9" * 5000 + "}"},
        f"{ENTRIES}: a number of 5,000 characters",
    ),
    "extra past the depth bound": (
        {"EXTRA": extra_with(nested(MAX_DEPTH))},
        "EXTRA: nested deeper than 64",
    ),
    "extra past the number bound": (
        {"EXTRA": extra_with("1" * (MAX_NUMBER + 1))},
        "EXTRA: a number of 101 characters",
    ),
    "extra larger than a state": (
        {"EXTRA": extra_with('"' + "a" * MAX_STATE_SIZE + '"')},
        f"EXTRA: longer than {MAX_STATE_SIZE:,} bytes",
    ),
    "entries key a lone surrogate": (
        {ENTRIES: '{"old\\ud800key": "2026-11-27T10:00:00Z"}'},
        r"entries key 'old\\ud800key' is not valid Unicode",
    ),
    "entries key not a string": (
        {ENTRIES: {("a", "tuple"): "2026-11-27T10:00:00Z"}},
        "entries key of type tuple",
    ),
    "entries a mapping with an unreadable key": (
        {ENTRIES: {Unreadable(): T0}},
        "entries key of type Unreadable",
    ),
}


class TestSettingsStore:
    @pytest.mark.parametrize(
        ("values", "words"), SETTINGS_CORRUPTIONS.values(), ids=SETTINGS_CORRUPTIONS.keys()
    )
    def test_corrupt_settings_are_a_state_error_naming_the_setting(
        self, values: dict[str, Any], words: str
    ) -> None:
        with pytest.raises(StateError, match=words) as caught:
            settings_store(**values).load()
        assert "\n" not in str(caught.value)

    def test_at_the_depth_and_number_bounds_it_loads(self) -> None:
        deepest = extra_with(nested(MAX_DEPTH - 1))  # the object is a level of its own
        longest = "1" * MAX_NUMBER
        store = settings_store(EXTRA=deepest)
        assert json.dumps(store.load().extra["x"]) == nested(MAX_DEPTH - 1).replace("][", "], [")
        assert settings_store(EXTRA=extra_with(longest)).load().extra == {"x": int(longest)}

    @pytest.mark.parametrize(
        "message",
        [
            f"could not reach postgresql://awx:{PASSWORD}@db:5432/awx",
            f"could not reach postgresql://awx:{PASSWORD}@with-an-at@db/awx",
            f"connection to host=db user=awx password={PASSWORD} failed",
            f"connection failed\nDETAIL: password={PASSWORD}",
        ],
    )
    def test_a_getter_failing_with_a_dsn_has_its_password_blanked(self, message: str) -> None:
        def get(key: str) -> NoReturn:
            raise RuntimeError(message)

        with pytest.raises(StateError) as caught:
            SettingsStore(get, lambda k, v: None).load()
        text = str(caught.value)
        assert text.startswith("setting AUTOMATION_ANALYTICS_LAST_GATHER: cannot read it: ")
        assert PASSWORD not in text and "\n" not in text

    def test_a_setter_failing_with_a_dsn_has_its_password_blanked(self) -> None:
        def put(key: str, value: Any) -> NoReturn:
            raise RuntimeError(f"cannot write to postgresql://awx:{PASSWORD}@db/awx")

        with pytest.raises(StateError) as caught:
            SettingsStore(lambda key: None, put).save(State(entries={"jobs": T0}))
        assert "cannot write it" in str(caught.value) and PASSWORD not in str(caught.value)

    @pytest.mark.parametrize(
        "get",
        [
            lambda key: (_ for _ in ()).throw(Unreadable()),
            lambda key: (_ for _ in ()).throw(RecursionError("deep")),
        ],
        ids=["unreadable message", "recursion"],
    )
    def test_any_getter_exception_is_a_state_error(self, get: Callable[[str], Any]) -> None:
        with pytest.raises(StateError, match="LAST_GATHER: cannot read it"):
            SettingsStore(get, lambda k, v: None).load()

    def test_a_value_of_a_hostile_kind_is_a_state_error(self) -> None:
        class Hostile:
            def __eq__(self, other: object) -> bool:
                raise RuntimeError(f"postgresql://awx:{PASSWORD}@db")

            __hash__ = object.__hash__

        settings = types.SimpleNamespace(AUTOMATION_ANALYTICS_LAST_GATHER=Hostile())
        with pytest.raises(StateError, match="LAST_GATHER") as caught:
            SettingsStore.from_django(settings).load()
        assert PASSWORD not in str(caught.value)


# --------------------------------------------------------------------------- JSON file


def document(entries: str = '{"jobs": "2026-11-27T10:00:00Z"}', extra: str = "1") -> str:
    return '{"last_gather": null, "entries": ' + entries + ', "extra": ' + extra + "}"


FILE_CORRUPTIONS: dict[str, tuple[bytes, str]] = {
    "100000 deep": (nested(100_000).encode(), "state file: nested deeper than 64"),
    "past the depth bound": (document(extra=nested(MAX_DEPTH)).encode(), "nested deeper"),
    "5000-digit number": (document(extra="9" * 5000).encode(), "a number of 5,000"),
    "past the number bound": (document(extra="1" * (MAX_NUMBER + 1)).encode(), "a number of 101"),
    "huge float": (document(extra="1." + "0" * 5000).encode(), "a number of 5,002"),
    "entries string 100000 deep": (
        document(entries=json.dumps(nested(100_000))).encode(),
        "entries is a string but nested deeper",
    ),
    "lone surrogate key": (
        document(entries='{"old\\ud800key": "2026-11-27T10:00:00Z"}').encode(),
        r"'old\\ud800key' is not valid Unicode",
    ),
    "not utf-8": (document(extra='"caf\xe9"').encode("latin-1"), "not UTF-8"),
}


class TestJsonFileStore:
    @pytest.mark.parametrize(
        ("content", "words"), FILE_CORRUPTIONS.values(), ids=FILE_CORRUPTIONS.keys()
    )
    def test_corrupt_file_is_a_state_error_naming_it(
        self, tmp_path: Path, content: bytes, words: str
    ) -> None:
        path = tmp_path / "state.json"
        path.write_bytes(content)
        with pytest.raises(StateError, match=words) as caught:
            JsonFileStore(path).load()
        assert str(caught.value).startswith(str(path))
        assert path.read_bytes() == content

    def test_at_the_bounds_it_loads(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"
        path.write_text(document(extra=nested(MAX_DEPTH - 1)))
        assert "extra" in JsonFileStore(path).load().extra
        path.write_text(document(extra="1" * MAX_NUMBER))
        assert JsonFileStore(path).load().extra["extra"] == int("1" * MAX_NUMBER)

    def test_size_at_and_past_the_bound(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"
        head = '{"entries": {}, "extra": "'
        filler = MAX_STATE_SIZE - len(head) - 2  # the closing quote and brace
        path.write_text(head + "a" * filler + '"}')
        assert path.stat().st_size == MAX_STATE_SIZE
        assert len(JsonFileStore(path).load().extra["extra"]) == filler
        path.write_text(head + "a" * (filler + 1) + '"}')
        with pytest.raises(StateError, match=f"longer than {MAX_STATE_SIZE:,} bytes"):
            JsonFileStore(path).load()


# --------------------------------------------------------------------------- SQLite


def sqlite_with(path: Path, rows: list[tuple[Any, Any]]) -> SqliteStore:
    store = SqliteStore(path)
    store.save(State(entries={"jobs": T0}))
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO pipeline_collector_state VALUES (?, ?)", rows)
    return store


SQLITE_CORRUPTIONS: dict[str, tuple[list[tuple[Any, Any]], str]] = {
    "value not utf-8": ([("extra:x", b'"caf\xe9"')], "extra:x: not UTF-8"),
    "key not utf-8": ([(b"entry:old\xed\xa0\x80key", "2026-11-27T10:00:00Z")], "key: not UTF-8"),
    "extra 100000 deep": ([("extra:x", nested(100_000))], "extra:x: nested deeper"),
    "extra past the depth bound": ([("extra:x", nested(MAX_DEPTH + 1))], "nested deeper"),
    "extra 5000-digit number": ([("extra:x", "9" * 5000)], "extra:x: a number of 5,000"),
}


class TestSqliteStore:
    @pytest.mark.parametrize(
        ("rows", "words"), SQLITE_CORRUPTIONS.values(), ids=SQLITE_CORRUPTIONS.keys()
    )
    def test_corrupt_rows_are_a_state_error_naming_the_table(
        self, tmp_path: Path, rows: list[tuple[Any, Any]], words: str
    ) -> None:
        store = sqlite_with(tmp_path / "state.db", rows)
        with pytest.raises(StateError, match=words) as caught:
            store.load()
        assert "pipeline_collector_state" in str(caught.value)

    def test_at_the_depth_bound_it_loads(self, tmp_path: Path) -> None:
        store = sqlite_with(tmp_path / "state.db", [("extra:x", nested(MAX_DEPTH))])
        assert "x" in store.load().extra


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_table() -> str:
    return f"state_{uuid.uuid4().hex[:12]}"


class TestPostgresStore:
    @pytest.mark.parametrize(
        ("value", "words"),
        [
            (nested(100_000), "nested deeper than 64"),
            (nested(MAX_DEPTH + 1), "nested deeper than 64"),
            ("9" * 5000, "a number of 5,000"),
        ],
        ids=["100000 deep", "past the depth bound", "5000-digit number"],
    )
    def test_corrupt_rows_are_a_state_error_naming_the_table(
        self, postgres_dsn: str, pg_table: str, value: str, words: str
    ) -> None:
        store = PostgresStore.from_dsn(postgres_dsn, table=pg_table)
        store.save(State(entries={"jobs": T0}))
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {pg_table} VALUES ('extra:x', %s)", (value,))
        with pytest.raises(StateError, match=f"PostgreSQL table {pg_table}: extra:x: {words}"):
            store.load()

    def test_bytes_of_a_sql_ascii_database_must_be_utf8(self, postgres_dsn: str) -> None:
        """A SQL_ASCII database hands text back as bytes: read as UTF-8, or refused by row."""
        name = f"ascii_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
                " TEMPLATE template0"
            )
        dsn = postgres_dsn.replace("dbname=postgres", f"dbname={name}")
        store = PostgresStore.from_dsn(dsn, table="state")
        store.save(State(entries={"jobs": T0}))
        assert store.load() == State(entries={"jobs": T0})
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO state VALUES ('extra:x', convert_from('\\xff'::bytea, 'SQL_ASCII'))"
            )
        with pytest.raises(StateError, match="PostgreSQL table state: extra:x: not UTF-8"):
            store.load()
