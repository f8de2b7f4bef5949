"""SettingsStore: the bookkeeping in a service's settings, read as the old library wrote it.

eda-server and AWX keep ``AUTOMATION_ANALYTICS_LAST_GATHER`` and
``AUTOMATION_ANALYTICS_LAST_ENTRIES`` in their settings; the entries were
written by ``json.dumps(..., cls=DjangoJSONEncoder)``.  The store reads that
as it is and writes what their code reads back, so no data migration is
needed.
"""

from __future__ import annotations

import json
import types
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.dateparse import parse_datetime
from support import django_env

from pipeline_collector.errors import ConfigurationError, StateError
from pipeline_collector.protocols import StateStore
from pipeline_collector.records import State
from pipeline_collector.stores import SettingsStore

UTC = timezone.utc
T0 = datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC)
ENTRIES = {"jobs": T0 - timedelta(hours=1), "jobs_full": T0 - timedelta(days=6)}


def old_settings(**values: Any) -> types.SimpleNamespace:
    """Settings as insights-analytics-collector's hooks left them in eda-server."""
    base = {
        "AUTOMATION_ANALYTICS_LAST_GATHER": T0.isoformat(),
        "AUTOMATION_ANALYTICS_LAST_ENTRIES": json.dumps(ENTRIES, cls=DjangoJSONEncoder),
    }
    return types.SimpleNamespace(**{**base, **values})


def eda_reads(settings: types.SimpleNamespace) -> tuple[datetime, dict[str, Any]]:
    """What eda-server's ``_last_gathering`` and ``_load_last_gathered_entries`` get back."""
    entries = json.loads(
        settings.AUTOMATION_ANALYTICS_LAST_ENTRIES.replace("'", '"'),
        object_hook=lambda d: {k: parse_datetime(v) or v for k, v in d.items()},
    )
    return datetime.fromisoformat(settings.AUTOMATION_ANALYTICS_LAST_GATHER), entries


class TestOldFormat:
    def test_fits_the_protocol(self) -> None:
        """A SettingsStore is a StateStore."""
        assert isinstance(SettingsStore.from_django(old_settings()), StateStore)

    def test_reads_what_the_old_library_wrote(self) -> None:
        """Django-encoder entries (``...00.123Z``) and an ISO last_gather load as datetimes."""
        settings = old_settings()
        assert "Z" in settings.AUTOMATION_ANALYTICS_LAST_ENTRIES
        state = SettingsStore.from_django(settings).load()
        assert state == State(last_gather=T0, entries=ENTRIES)

    def test_the_old_code_reads_what_it_writes(self) -> None:
        """After a save, eda-server's own reading code gets the same datetimes back."""
        settings = old_settings(
            AUTOMATION_ANALYTICS_LAST_GATHER=None, AUTOMATION_ANALYTICS_LAST_ENTRIES=""
        )
        SettingsStore.from_django(settings).save(State(last_gather=T0, entries=ENTRIES))
        assert eda_reads(settings) == (T0, ENTRIES)

    def test_round_trip_through_a_move(self) -> None:
        """Old data -> load -> advance -> save -> load: nothing lost, one entry moved."""
        settings = old_settings()
        store = SettingsStore.from_django(settings)
        later = T0 + timedelta(hours=2)
        store.save(store.load().advance("jobs", later))
        assert store.load() == State(last_gather=T0, entries={**ENTRIES, "jobs": later})

    def test_datetime_setting_is_read_and_written_as_one(self) -> None:
        """AWX keeps last_gather in a datetime setting: it is read as it is, and with
        last_gather_as='datetime' written back as a datetime."""
        settings = old_settings(AUTOMATION_ANALYTICS_LAST_GATHER=T0)
        store = SettingsStore.from_django(settings, last_gather_as="datetime")
        assert store.load().last_gather == T0
        store.save(State(last_gather=T0 + timedelta(days=1)))
        written = settings.AUTOMATION_ANALYTICS_LAST_GATHER
        assert written == T0 + timedelta(days=1)

    def test_single_quoted_entries_load_as_eda_reads_them(self) -> None:
        """A dict's repr stored once in the entries (eda-server replaces quotes) still loads."""
        settings = old_settings(
            AUTOMATION_ANALYTICS_LAST_ENTRIES="{'jobs': '2026-11-27T09:00:00Z'}"
        )
        assert SettingsStore.from_django(settings).load().entries == {
            "jobs": datetime(2026, 11, 27, 9, tzinfo=UTC)
        }

    def test_unset_settings_are_an_empty_state(self) -> None:
        """Unset or empty settings mean nothing was ever gathered."""
        assert SettingsStore.from_django(types.SimpleNamespace()).load() == State()
        empty = old_settings(
            AUTOMATION_ANALYTICS_LAST_GATHER="", AUTOMATION_ANALYTICS_LAST_ENTRIES=""
        )
        assert SettingsStore.from_django(empty).load() == State()


class TestErrors:
    @pytest.mark.parametrize(
        ("values", "match"),
        [
            ({"AUTOMATION_ANALYTICS_LAST_ENTRIES": "{not json"}, "LAST_ENTRIES: not valid JSON"),
            ({"AUTOMATION_ANALYTICS_LAST_ENTRIES": "[1]"}, "expected a JSON object"),
            ({"AUTOMATION_ANALYTICS_LAST_GATHER": "2026-11-27T10:00:00"}, "without a UTC offset"),
            ({"AUTOMATION_ANALYTICS_LAST_GATHER": datetime(2026, 11, 27)}, "without a timezone"),
        ],
        ids=["bad json", "not an object", "naive string", "naive datetime"],
    )
    def test_unreadable_settings_raise(self, values: dict[str, Any], match: str) -> None:
        """What cannot be read is a StateError naming the setting, never an empty state."""
        with pytest.raises(StateError, match=match):
            SettingsStore.from_django(old_settings(**values)).load()

    def test_failing_setter_raises_state_error(self) -> None:
        """A setter that raises becomes a StateError naming the key."""

        def refuse(key: str, value: Any) -> None:
            raise PermissionError("read-only")

        store = SettingsStore(lambda key: None, refuse)
        with pytest.raises(StateError, match="AUTOMATION_ANALYTICS_LAST_ENTRIES: cannot write"):
            store.save(State(entries=ENTRIES))

    def test_bad_last_gather_as(self) -> None:
        """An unknown last_gather_as is a configuration error."""
        with pytest.raises(ConfigurationError, match="last_gather_as"):
            SettingsStore(lambda k: None, lambda k, v: None, last_gather_as="epoch")  # type: ignore[arg-type]


class TestKeys:
    def test_own_keys_and_extra(self) -> None:
        """Other setting names work, and extra_key keeps the rest of the bookkeeping."""
        values: dict[str, Any] = {}
        store = SettingsStore(
            values.get,
            values.__setitem__,
            last_gather_key="LAST",
            entries_key="ENTRIES",
            extra_key="EXTRA",
        )
        state = State(last_gather=T0, entries=ENTRIES, extra={"runs": [{"status": "ok"}]})
        store.save(state)
        assert set(values) == {"LAST", "ENTRIES", "EXTRA"}
        assert store.load() == state

    def test_entries_are_written_before_last_gather(self) -> None:
        """A save writes last_gather last, so one cut short leaves the entries ahead."""
        order: list[str] = []
        store = SettingsStore(lambda key: None, lambda key, value: order.append(key))
        store.save(State(last_gather=T0, entries=ENTRIES))
        assert order == ["AUTOMATION_ANALYTICS_LAST_ENTRIES", "AUTOMATION_ANALYTICS_LAST_GATHER"]

    def test_django_settings_by_default(self) -> None:
        """from_django() with no argument reads and writes django.conf.settings."""
        django_env.configure()
        from django.conf import settings

        store = SettingsStore.from_django(last_gather_key="TEST_LAST", entries_key="TEST_ENTRIES")
        try:
            store.save(State(last_gather=T0, entries=ENTRIES))
            assert json.loads(settings.TEST_ENTRIES)["jobs"] == "2026-11-27T09:00:00.123000+00:00"
            assert store.load() == State(last_gather=T0, entries=ENTRIES)
        finally:
            del settings.TEST_LAST, settings.TEST_ENTRIES
