"""State stores against real files and real database servers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from pipeline_collector.book.codec import parse_at, state_from_document, state_to_document
from pipeline_collector.book.table import state_from_rows, state_to_rows
from pipeline_collector.database.db import describe_db_error
from pipeline_collector.errors import ConfigurationError, StateError
from pipeline_collector.protocols import StateStore
from pipeline_collector.records import State
from pipeline_collector.stores import (
    JsonFileStore,
    PostgresStore,
    SqliteStore,
    format_datetime,
    parse_datetime,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def sample_state() -> State:
    """A state with every part set: last_gather, entries (a _full key, an offset) and extra."""
    return State(
        last_gather=T0,
        entries={
            "jobs": T0 - timedelta(hours=1),
            "jobs_full": T0 - timedelta(days=6),
            "hosts": datetime(2026, 11, 27, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        },
        extra={"install_uuid": "b2c3", "settings": {"enabled": True, "n": [1, 2.5, None]}},
    )


def mode_of(path: Path) -> int:
    """The permission bits of a file."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pg_table() -> str:
    """A fresh table name, so that tests sharing one server never see each other's state."""
    return f"state_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["json", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    """Each store in turn, on a fresh file or table."""
    if request.param == "json":
        return JsonFileStore(tmp_path / "state.json")
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "state.db")
    dsn = request.getfixturevalue("postgres_dsn")
    return PostgresStore.from_dsn(dsn, table=f"state_{uuid.uuid4().hex[:12]}")


class TestRoundTrip:
    def test_fits_the_protocol(self, store: StateStore) -> None:
        """Every store is a StateStore."""
        assert isinstance(store, StateStore)

    def test_nothing_saved_is_an_empty_state(self, store: StateStore) -> None:
        """A store that never saved anything loads as an empty State."""
        assert store.load() == State()

    def test_saved_state_loads_back_equal(self, store: StateStore) -> None:
        """last_gather, entries (with _full keys) and extra come back as saved."""
        state = sample_state()
        store.save(state)
        loaded = store.load()
        assert loaded == state
        assert dict(loaded.extra) == dict(state.extra)
        assert all(at.utcoffset() is not None for at in loaded.entries.values())

    def test_save_replaces_the_whole_state(self, store: StateStore) -> None:
        """A second save drops keys that the new state no longer has."""
        store.save(sample_state())
        smaller = State(last_gather=T0 + timedelta(days=1), entries={"jobs": T0})
        store.save(smaller)
        assert store.load() == smaller
        assert dict(store.load().extra) == {}

    def test_advanced_state_round_trips(self, store: StateStore) -> None:
        """A state advanced after loading is saved and read back with the new entry."""
        store.save(sample_state())
        later = store.load().advance("jobs", T0 + timedelta(hours=3))
        store.save(later)
        assert store.load().entries["jobs"] == T0 + timedelta(hours=3)

    def test_naive_datetime_is_refused(self, store: StateStore) -> None:
        """Saving a naive datetime raises StateError and keeps what was stored."""
        store.save(sample_state())
        with pytest.raises(StateError, match="naive"):
            store.save(State(last_gather=datetime(2026, 1, 1)))
        assert store.load() == sample_state()


class TestDatetimes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-11-27T10:00:00+00:00", T0),
            ("2026-11-27T10:00:00Z", T0),
            ("2026-11-27T10:00:00.123Z", T0.replace(microsecond=123000)),
            ("2026-11-27T10:00:00.123456+00:00", T0.replace(microsecond=123456)),
            ("2026-11-27T12:00:00.5+02:00", T0.replace(microsecond=500000)),
            ("2026-11-27 05:00:00-05:00", T0),
            ("2026-11-27T10:00:00.123456789Z", T0.replace(microsecond=123456)),
            ("2026-11-27T10:00Z", T0),
            ("2026-11-27T15:30:00+0530", T0),
        ],
    )
    def test_formats_services_write_are_read(self, text: str, expected: datetime) -> None:
        """ISO-8601 with any offset, Z, and Django's millisecond form all parse to the instant."""
        parsed = parse_datetime(text)
        assert parsed == expected
        assert parsed.utcoffset() is not None

    @pytest.mark.parametrize(
        "text", ["2026-11-27T10:00:00", "yesterday", "2026-13-01T00:00:00Z", "", "2026-11-27"]
    )
    def test_naive_or_malformed_is_refused(self, text: str) -> None:
        """A datetime without an offset, or not a datetime at all, raises ValueError."""
        with pytest.raises(ValueError):
            parse_datetime(text)

    def test_written_in_utc_with_offset(self) -> None:
        """Datetimes are written as ISO-8601 in UTC with an explicit +00:00."""
        at = datetime(2026, 11, 27, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        assert format_datetime(at) == "2026-11-27T10:00:00+00:00"


# Aware datetimes with any whole-minute offset: the offsets ISO-8601 text can carry.
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=OFFSETS
)
HOSTILE = [
    "2026-11-27T10:00:00+05:99",  # offset minutes out of range: not read as +06:39
    "\u0662\u0660\u0662\u0666-\u0661\u0661-\u0662\u0667T10:00Z",  # Arabic-Indic digits
    "\uff12\uff10\uff12\uff16-11-27T10:00Z",  # full-width digits
    "2026-11-27T10:00:00+24:00",
    "2026-11-27T10:00:60Z",
    "2026-11-27T25:00:00Z",
    "2026-02-30T10:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-11-27T10:00:00+05:00:30",
    "2026-11-27T10:00:00Z trailing",
    "2026-11-27T10:00:00\x00Z",
    "2026-11-27T10:00:00+0",
    "T10:00:00Z",
    "9" * 10_000,
    "\x00",
    "null",
]


class TestDatetimeCodec:
    @given(AWARE)
    def test_format_then_parse_is_the_same_instant(self, at: datetime) -> None:
        """Any aware datetime written and read back is the same instant, in UTC."""
        text = format_datetime(at)
        assert text.endswith("+00:00")
        back = parse_datetime(text)
        assert back == at
        assert back.utcoffset() == timedelta(0)

    @given(AWARE)
    def test_isoformat_is_read_with_its_offset(self, at: datetime) -> None:
        """What datetime.isoformat writes, with any offset, is read back equal and with that offset."""
        back = parse_datetime(at.isoformat())
        assert back == at
        assert back.utcoffset() == at.utcoffset()

    @given(st.text())
    def test_any_text_parses_aware_or_raises_value_error(self, text: str) -> None:
        """Arbitrary text either parses to an aware datetime or raises ValueError, nothing else."""
        try:
            parsed = parse_datetime(text)
        except ValueError:
            return
        assert parsed.utcoffset() is not None

    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_text_is_refused(self, text: str) -> None:
        """Out-of-range fields, other scripts' digits, stray characters and junk raise ValueError."""
        with pytest.raises(ValueError):
            parse_datetime(text)

    def test_naive_datetime_is_not_written(self) -> None:
        """Writing a naive datetime raises StateError rather than guessing a zone."""
        with pytest.raises(StateError, match="naive"):
            format_datetime(datetime(2026, 11, 27, 10, 0))

    def test_zone_without_an_offset_is_not_written(self) -> None:
        """A tzinfo whose utcoffset is None counts as naive."""

        class NoOffset(tzinfo):
            """A zone that does not know its offset."""

            def utcoffset(self, dt: datetime | None) -> timedelta | None:
                return None

            def dst(self, dt: datetime | None) -> timedelta | None:
                return None

            def tzname(self, dt: datetime | None) -> str | None:
                return None

        with pytest.raises(StateError, match="naive"):
            format_datetime(datetime(2026, 11, 27, 10, 0, tzinfo=NoOffset()))

    def test_instant_outside_utc_range_is_a_state_error(self) -> None:
        """A datetime with no UTC equivalent (year 1 at +05:00) raises StateError, not OverflowError."""
        at = parse_datetime("0001-01-01T00:00:00+05:00")
        with pytest.raises(StateError, match="range"):
            format_datetime(at)

    @pytest.mark.parametrize("value", [None, 1764237600, 1.5, ["2026-11-27T10:00:00Z"], {}])
    def test_stored_non_string_names_where(self, value: object) -> None:
        """A stored value that is not a string raises StateError naming where it was found."""
        with pytest.raises(StateError, match=r"^state.json: entries\['jobs'\]: expected"):
            parse_at(value, "state.json: entries['jobs']")


class TestStateCodec:
    @pytest.mark.parametrize("as_string", [False, True])
    def test_document_round_trip(self, as_string: bool) -> None:
        """A state written as a document reads back equal, and says which entries form it had."""
        document = state_to_document(sample_state(), entries_as_string=as_string)
        state, was_string = state_from_document(json.loads(json.dumps(document)), "doc")
        assert state == sample_state()
        assert dict(state.extra) == dict(sample_state().extra)
        assert was_string is as_string

    def test_rows_round_trip(self) -> None:
        """A state written as rows reads back equal, extra included."""
        state = state_from_rows(state_to_rows(sample_state()), "table")
        assert state == sample_state()
        assert dict(state.extra) == dict(sample_state().extra)

    def test_empty_state_is_no_rows(self) -> None:
        """An empty state is no rows at all, and no rows read as an empty state."""
        assert state_to_rows(State()) == []
        assert state_from_rows([], "table") == State()

    @pytest.mark.parametrize(
        ("rows", "reason"),
        [
            ([("colour", "blue")], "unknown row 'colour'"),
            ([("extra:n", "{n")], "extra:n: not valid JSON"),
            ([("entry:jobs", "2026-11-27T10:00:00")], "entry:jobs: datetime without a UTC offset"),
            ([("last_gather", "soon")], "last_gather: not an ISO-8601 datetime"),
        ],
    )
    def test_bad_rows_are_refused(self, rows: list[tuple[str, str]], reason: str) -> None:
        """An unknown row or a value that does not read raises StateError naming the table and row."""
        with pytest.raises(StateError, match=f"^table: .*{reason}"):
            state_from_rows(rows, "table")


class TestDescribeDbError:
    @pytest.mark.parametrize(
        "message",
        [
            "connection failed: host=db user=svc password=s3cr3t-pw",
            "connection failed: host=db password = 's3cr3t-pw with spaces' user=svc",
            "connection failed: PASSWORD=s3cr3t-pw",
            "could not connect to postgresql://svc:s3cr3t-pw@db:5432/analytics",
            "first line is fine\nsecond line: password=s3cr3t-pw",
        ],
    )
    def test_passwords_are_blanked(self, message: str) -> None:
        """A database error is named in one line without any password it carried."""
        text = describe_db_error(psycopg.OperationalError(message))
        assert "s3cr3t" not in text
        assert text.startswith("OperationalError: ")
        assert "\n" not in text


class TestJsonFile:
    def test_file_is_written_as_documented(self, tmp_path: Path) -> None:
        """The file is an object with last_gather, entries and extra keys, datetimes in UTC."""
        path = tmp_path / "state.json"
        JsonFileStore(path).save(sample_state())
        document = json.loads(path.read_text())
        assert document["last_gather"] == "2026-11-27T10:00:00+00:00"
        assert document["entries"]["hosts"] == "2026-11-27T10:30:00.123456+00:00"
        assert document["entries"]["jobs_full"] == "2026-11-21T10:00:00+00:00"
        assert document["install_uuid"] == "b2c3"
        assert document["settings"] == {"enabled": True, "n": [1, 2.5, None]}

    def test_file_mode_is_0600(self, tmp_path: Path) -> None:
        """A saved state file is readable by its owner only, even if it was wider before."""
        path = tmp_path / "state.json"
        path.write_text("{}")
        path.chmod(0o644)
        JsonFileStore(path).save(sample_state())
        assert mode_of(path) == 0o600

    def test_no_temporary_files_left(self, tmp_path: Path) -> None:
        """After saves only the state file remains in its folder."""
        store = JsonFileStore(tmp_path / "state.json")
        store.save(sample_state())
        store.save(State())
        assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]

    def test_missing_folder_is_created(self, tmp_path: Path) -> None:
        """Saving into a folder that does not exist yet creates it."""
        path = tmp_path / "var" / "lib" / "state.json"
        JsonFileStore(path).save(sample_state())
        assert JsonFileStore(path).load() == sample_state()

    def test_unwritable_location_raises(self, tmp_path: Path) -> None:
        """A path under a regular file cannot be written: StateError names the file."""
        blocker = tmp_path / "file"
        blocker.write_text("x")
        path = blocker / "state.json"
        with pytest.raises(StateError, match=str(path)):
            JsonFileStore(path).save(sample_state())

    def test_load_creates_nothing(self, tmp_path: Path) -> None:
        """Loading a missing file leaves nothing behind."""
        JsonFileStore(tmp_path / "state.json").load()
        assert os.listdir(tmp_path) == []

    def test_unserialisable_extra_is_refused(self, tmp_path: Path) -> None:
        """An extra value JSON cannot hold raises StateError and keeps the saved file."""
        path = tmp_path / "state.json"
        store = JsonFileStore(path)
        store.save(sample_state())
        before = path.read_bytes()
        with pytest.raises(StateError, match="JSON"):
            store.save(State(extra={"when": object()}))
        assert path.read_bytes() == before

    def test_repr_names_the_file(self, tmp_path: Path) -> None:
        """The repr says which file the store uses."""
        assert str(tmp_path) in repr(JsonFileStore(tmp_path / "s.json"))

    def test_bad_entries_form_is_refused(self, tmp_path: Path) -> None:
        """An unknown entries_form is a configuration error."""
        with pytest.raises(ConfigurationError):
            JsonFileStore(tmp_path / "s.json", entries_form="yaml")  # type: ignore[arg-type]


# What services hold today: ISO strings with offset or Z, Django's encoder
# output (milliseconds, Z), entries as an object or as a JSON string.
ISO_OBJECT = {
    "last_gather": "2026-11-27T10:00:00+00:00",
    "entries": {
        "jobs": "2026-11-27T09:00:00+00:00",
        "jobs_full": "2026-11-21T10:00:00+00:00",
        "hosts": "2026-11-27T11:30:00.123456+02:00",
    },
    "install_uuid": "b2c3",
    "subscription": {"sku": "MCT", "seats": 100, "ok": True, "note": None},
}
DJANGO_STRING = {
    "last_gather": "2026-11-27T10:00:00.123Z",
    "entries": json.dumps(
        {
            "jobs": "2026-11-27T09:00:00Z",
            "jobs_full": "2026-11-21T10:00:00.500Z",
            "hosts": "2026-11-27T09:30:00.123Z",
        }
    ),
    "AUTOMATION_ANALYTICS_LAST_GATHER_TRIGGER": "scheduled",
    "counters": [1, 2, 3],
}


class TestLegacyFiles:
    @pytest.mark.parametrize("document", [ISO_OBJECT, DJANGO_STRING], ids=["iso", "django"])
    def test_legacy_file_is_read(self, tmp_path: Path, document: dict[str, Any]) -> None:
        """Entries (object or JSON string, with _full keys) parse to aware datetimes; extra is kept."""
        path = tmp_path / "state.json"
        path.write_text(json.dumps(document))
        state = JsonFileStore(path).load()
        assert set(state.entries) == {"jobs", "jobs_full", "hosts"}
        assert state.entries["jobs"] == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        assert state.last_gather is not None
        assert state.last_gather.replace(microsecond=0) == T0
        assert state.entries["hosts"].replace(microsecond=0) == datetime(
            2026, 11, 27, 9, 30, tzinfo=UTC
        )
        extra = {k: v for k, v in document.items() if k not in ("last_gather", "entries")}
        assert dict(state.extra) == extra

    @pytest.mark.parametrize("document", [ISO_OBJECT, DJANGO_STRING], ids=["iso", "django"])
    def test_round_trip_changes_only_updated_keys(
        self, tmp_path: Path, document: dict[str, Any]
    ) -> None:
        """Load, advance one key, save: extra is byte-for-byte the same, other instants unchanged."""
        path = tmp_path / "state.json"
        path.write_text(json.dumps(document))
        store = JsonFileStore(path)
        before = store.load()
        new_until = datetime(2026, 11, 28, tzinfo=UTC)
        store.save(before.advance("jobs", new_until))

        after_doc = json.loads(path.read_text())
        for key, value in document.items():
            if key not in ("last_gather", "entries"):
                assert after_doc[key] == value
        # The entries keep the form they were read in.
        assert isinstance(after_doc["entries"], type(document["entries"]))

        after = JsonFileStore(path).load()
        assert after.last_gather == before.last_gather
        assert after.entries["jobs"] == new_until
        assert {k: v for k, v in after.entries.items() if k != "jobs"} == {
            k: v for k, v in before.entries.items() if k != "jobs"
        }

    def test_entries_form_can_be_forced(self, tmp_path: Path) -> None:
        """entries_form='object' writes an object even when the file held a string."""
        path = tmp_path / "state.json"
        path.write_text(json.dumps(DJANGO_STRING))
        store = JsonFileStore(path, entries_form="object")
        store.save(store.load())
        assert isinstance(json.loads(path.read_text())["entries"], dict)

    def test_null_last_gather_and_missing_entries(self, tmp_path: Path) -> None:
        """A null last_gather and no entries read as an empty state."""
        path = tmp_path / "state.json"
        path.write_text('{"last_gather": null}')
        assert JsonFileStore(path).load() == State()


BAD_FILES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty"),
    ("blank", b"  \n", "empty"),
    ("corrupt", b'{"last_gather": "2026-11-27T10:00:00Z", "entr', "not valid JSON"),
    ("not-utf8", b'{"last_gather": "\xff\xfe"}', "not UTF-8"),
    ("list", b"[1, 2]", "must be a JSON object"),
    ("string", b'"state"', "must be a JSON object"),
    ("bad-date", b'{"last_gather": "last tuesday"}', "last_gather"),
    ("naive", b'{"entries": {"jobs": "2026-11-27T10:00:00"}}', "without a UTC offset"),
    ("number-date", b'{"entries": {"jobs": 1764237600}}', "entries\\['jobs'\\]"),
    ("entries-list", b'{"entries": ["jobs"]}', "entries must be an object"),
    ("entries-bad-string", b'{"entries": "{jobs"}', "entries is a string but not valid JSON"),
]


class TestUnreadableFiles:
    @pytest.mark.parametrize(
        ("content", "reason"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
    )
    def test_raises_naming_the_file_and_keeps_it(
        self, tmp_path: Path, content: bytes, reason: str
    ) -> None:
        """An unreadable state file raises StateError naming it and why; the file is untouched."""
        path = tmp_path / "state.json"
        path.write_bytes(content)
        with pytest.raises(StateError, match=reason) as info:
            JsonFileStore(path).load()
        assert str(path) in str(info.value)
        assert path.read_bytes() == content

    def test_folder_instead_of_file(self, tmp_path: Path) -> None:
        """A folder at the state path is an error, not an empty state."""
        path = tmp_path / "state.json"
        path.mkdir()
        with pytest.raises(StateError, match=str(path)):
            JsonFileStore(path).load()


class TestSqlite:
    def test_load_of_missing_file_creates_nothing(self, tmp_path: Path) -> None:
        """Loading from a database file that does not exist returns an empty state, no file."""
        path = tmp_path / "state.db"
        assert SqliteStore(path).load() == State()
        assert not path.exists()

    def test_database_file_mode_is_0600(self, tmp_path: Path) -> None:
        """A database file created by save is readable by its owner only."""
        path = tmp_path / "state.db"
        SqliteStore(path).save(sample_state())
        assert mode_of(path) == 0o600

    def test_one_row_per_item(self, tmp_path: Path) -> None:
        """The table holds one key/value row per last_gather, entry and extra item."""
        import sqlite3

        path = tmp_path / "state.db"
        SqliteStore(path, table="analytics_state").save(sample_state())
        with sqlite3.connect(path) as conn:
            rows = dict(conn.execute("SELECT key, value FROM analytics_state"))
        assert rows["last_gather"] == "2026-11-27T10:00:00+00:00"
        assert rows["entry:jobs_full"] == "2026-11-21T10:00:00+00:00"
        assert json.loads(rows["extra:settings"]) == {"enabled": True, "n": [1, 2.5, None]}
        assert len(rows) == 6

    def test_tables_are_independent(self, tmp_path: Path) -> None:
        """Two tables in one file hold two separate states."""
        path = tmp_path / "state.db"
        SqliteStore(path, table="a").save(sample_state())
        assert SqliteStore(path, table="b").load() == State()
        assert SqliteStore(path, table="a").load() == sample_state()

    @pytest.mark.parametrize("table", ["x; DROP TABLE y", 'a"b', "", "1abc", "a.b", "a" * 64])
    def test_table_name_is_checked(self, tmp_path: Path, table: str) -> None:
        """A table name that is not a plain identifier is refused before any SQL runs."""
        with pytest.raises(ConfigurationError):
            SqliteStore(tmp_path / "state.db", table=table)

    def test_corrupt_database_raises_and_is_kept(self, tmp_path: Path) -> None:
        """A file that is not a SQLite database raises StateError naming it and stays as it was."""
        path = tmp_path / "state.db"
        content = b"this is not a database" * 100
        path.write_bytes(content)
        with pytest.raises(StateError, match=str(path)):
            SqliteStore(path).load()
        assert path.read_bytes() == content

    def test_bad_row_raises_naming_the_key(self, tmp_path: Path) -> None:
        """A row whose value is not an aware datetime raises StateError naming the row."""
        import sqlite3

        path = tmp_path / "state.db"
        SqliteStore(path).save(sample_state())
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE pipeline_collector_state SET value = '2026-01-01T00:00:00' "
                "WHERE key = 'entry:jobs'"
            )
        with pytest.raises(StateError, match="entry:jobs"):
            SqliteStore(path).load()


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime, timedelta, timezone
    from pipeline_collector.records import State
    from pipeline_collector.stores import {store_expr_import}

    writer, rounds, target, gate = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    store = {store_expr}
    base = datetime(2020 + writer, 1, 1, tzinfo=timezone.utc)
    keys = ["key_%02d" % i for i in range(20)]
    open(os.path.join(gate, "ready-%d" % writer), "w").close()
    while not os.path.exists(os.path.join(gate, "go")):
        time.sleep(0.005)
    for n in range(rounds):
        at = base + timedelta(minutes=n)
        store.save(State(last_gather=at, entries={{k: at for k in keys}}, extra={{"writer": writer, "n": n}}))
    """
)


def whole_state(writer: int, n: int) -> State:
    """The n-th state a writer saves: 20 entries and last_gather at one instant."""
    at = datetime(2020 + writer, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    entries = {f"key_{i:02d}": at for i in range(20)}
    return State(last_gather=at, entries=entries, extra={"writer": writer, "n": n})


def assert_whole(state: State) -> None:
    """A state written by one save: every entry and last_gather share one instant."""
    assert len(state.entries) == 20
    assert set(state.entries.values()) == {state.last_gather}
    assert state.last_gather is not None
    assert state.extra["writer"] == state.last_gather.year - 2020
    base = datetime(state.last_gather.year, 1, 1, tzinfo=UTC)
    assert state.extra["n"] == int((state.last_gather - base).total_seconds() // 60)


def run_concurrent_writers(
    store: StateStore, import_name: str, expr: str, target: str, gate: Path
) -> int:
    """Two writer processes save repeatedly while this process loads; return the loads checked."""
    code = WRITER.format(store_expr_import=import_name, store_expr=expr)
    store.save(whole_state(0, 0))  # from here on, an empty load is a torn one
    gate.mkdir()
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(w), "150", target, str(gate)])
        for w in (1, 2)
    ]
    # Start both writers together, once they are ready, so that their saves overlap.
    while not all((gate / f"ready-{w}").exists() for w in (1, 2)):
        assert all(p.poll() is None for p in writers), "a writer process died while starting"
        store.load()
    (gate / "go").touch()
    loads = 0
    while any(p.poll() is None for p in writers) or loads == 0:
        assert_whole(store.load())
        loads += 1
    for p in writers:
        assert p.wait() == 0
    final = store.load()
    assert_whole(final)
    assert final.extra["n"] == 149
    return loads


class TestConcurrentWriters:
    def test_sqlite_processes_never_mix_states(self, tmp_path: Path) -> None:
        """Two processes saving at once leave, at every load, one whole state of one of them."""
        path = tmp_path / "state.db"
        store = SqliteStore(path)
        loads = run_concurrent_writers(
            store, "SqliteStore", "SqliteStore(target)", str(path), tmp_path / "gate"
        )
        assert loads > 0

    def test_sqlite_threads_never_mix_states(self, tmp_path: Path) -> None:
        """Threads saving through their own stores on one file never leave a mixed state."""
        path = tmp_path / "state.db"
        errors: list[BaseException] = []

        def write(writer: int) -> None:
            store = SqliteStore(path)
            try:
                for n in range(40):
                    store.save(whole_state(writer, n))
            except BaseException as exc:
                errors.append(exc)

        reader = SqliteStore(path)
        reader.save(whole_state(0, 0))
        threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            assert_whole(reader.load())
        for t in threads:
            t.join()
        assert errors == []
        assert reader.load().extra["n"] == 39

    def test_json_processes_never_tear_the_file(self, tmp_path: Path) -> None:
        """Atomic replacement: concurrent JSON saves never leave a partial or mixed file."""
        path = tmp_path / "state.json"
        store = JsonFileStore(path)
        loads = run_concurrent_writers(
            store, "JsonFileStore", "JsonFileStore(target)", str(path), tmp_path / "gate"
        )
        assert loads > 0

    def test_postgres_processes_never_mix_states(
        self, postgres_dsn: str, pg_table: str, tmp_path: Path
    ) -> None:
        """Two processes saving to one table at once never leave a mixed state."""
        store = PostgresStore.from_dsn(postgres_dsn, table=pg_table)
        expr = f"PostgresStore.from_dsn(target, table={pg_table!r})"
        loads = run_concurrent_writers(
            store, "PostgresStore", expr, postgres_dsn, tmp_path / "gate"
        )
        assert loads > 0


class TestPostgres:
    def test_first_saves_at_once_both_succeed(self, postgres_dsn: str) -> None:
        """Writers racing to create a new table all succeed and leave one whole state."""
        for _ in range(5):
            table = f"state_{uuid.uuid4().hex[:12]}"
            barrier = threading.Barrier(3)
            errors: list[BaseException] = []

            def write(
                writer: int, table: str = table, barrier: threading.Barrier = barrier
            ) -> None:
                store = PostgresStore.from_dsn(postgres_dsn, table=table)
                barrier.wait()
                try:
                    store.save(whole_state(writer, 0))
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2, 3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            assert_whole(PostgresStore.from_dsn(postgres_dsn, table=table).load())

    def test_open_connection_is_used_and_committed(self, postgres_dsn: str, pg_table: str) -> None:
        """With a caller's connection (not autocommit) a save is committed and visible elsewhere."""
        with psycopg.connect(postgres_dsn) as conn:
            PostgresStore(conn, table=pg_table).save(sample_state())
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert not conn.closed
        assert PostgresStore.from_dsn(postgres_dsn, table=pg_table).load() == sample_state()

    def test_factory_connections_are_closed(self, postgres_dsn: str, pg_table: str) -> None:
        """Connections made by a factory are closed after each load and save."""
        made: list[psycopg.Connection[Any]] = []

        def factory() -> psycopg.Connection[Any]:
            conn = psycopg.connect(postgres_dsn)
            made.append(conn)
            return conn

        store = PostgresStore(factory, table=pg_table)
        store.save(sample_state())
        assert store.load() == sample_state()
        assert len(made) == 2
        assert all(c.closed for c in made)

    def test_rows_are_readable_with_sql(self, postgres_dsn: str, pg_table: str) -> None:
        """The table has one key/value row per item."""
        PostgresStore.from_dsn(postgres_dsn, table=pg_table).save(sample_state())
        with psycopg.connect(postgres_dsn) as conn:
            rows: dict[str, str] = dict(
                conn.execute(f"SELECT key, value FROM {pg_table}").fetchall()
            )
        assert rows["last_gather"] == "2026-11-27T10:00:00+00:00"
        assert rows["entry:jobs"] == "2026-11-27T09:00:00+00:00"
        assert len(rows) == 6

    def test_schema_qualified_table(self, postgres_dsn: str, pg_table: str) -> None:
        """A schema.table name is honoured."""
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        store = PostgresStore.from_dsn(postgres_dsn, table=f"analytics.{pg_table}")
        store.save(sample_state())
        assert store.load() == sample_state()
        assert PostgresStore.from_dsn(postgres_dsn, table=pg_table).load() == State()

    @pytest.mark.parametrize("table", ["x; DROP TABLE y", 'a"b', "a.b.c", "", "sch ema.t"])
    def test_table_name_is_checked(self, postgres_dsn: str, table: str) -> None:
        """A table name that is not a plain [schema.]identifier is refused."""
        with pytest.raises(ConfigurationError):
            PostgresStore.from_dsn(postgres_dsn, table=table)

    def test_bad_row_raises_naming_the_table(self, postgres_dsn: str, pg_table: str) -> None:
        """A stored value that does not parse raises StateError naming table and row."""
        store = PostgresStore.from_dsn(postgres_dsn, table=pg_table)
        store.save(sample_state())
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"UPDATE {pg_table} SET value = 'soon' WHERE key = 'last_gather'")
        with pytest.raises(StateError, match=f"{pg_table}.*last_gather"):
            store.load()

    def test_secrets_stay_out_of_errors_and_repr(self) -> None:
        """An unreachable server raises StateError without the connection string's password."""
        with __import__("socket").socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        dsn = f"host=127.0.0.1 port={port} user=svc password=s3cr3t-pw connect_timeout=5"
        store = PostgresStore.from_dsn(dsn)
        assert "s3cr3t" not in repr(store)
        with capture_logs() as logs, pytest.raises(StateError) as info:
            store.load()
        assert "s3cr3t" not in str(info.value)
        assert "PostgreSQL table pipeline_collector_state" in str(info.value)
        assert "s3cr3t" not in repr(logs)
        with pytest.raises(StateError) as info:
            store.save(sample_state())
        assert "s3cr3t" not in str(info.value)

    def test_concurrent_threads_never_mix_states(self, postgres_dsn: str, pg_table: str) -> None:
        """Two threads saving through their own connections never leave a mixed state."""
        errors: list[BaseException] = []

        def write(writer: int) -> None:
            store = PostgresStore.from_dsn(postgres_dsn, table=pg_table)
            try:
                for n in range(30):
                    store.save(whole_state(writer, n))
            except BaseException as exc:
                errors.append(exc)

        reader = PostgresStore.from_dsn(postgres_dsn, table=pg_table)
        reader.save(whole_state(0, 0))
        threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            assert_whole(reader.load())
        for t in threads:
            t.join()
        assert errors == []
        assert reader.load().extra["n"] == 29
