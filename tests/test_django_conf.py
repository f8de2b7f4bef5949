"""PIPELINE_COLLECTOR read into what gather takes, and one run from it in this process.

A bad setting is one line naming the key and the fix; the store and lock
default to the service's own Django connection; a settings-backed store
keeps the bookkeeping where the old hooks kept it.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import django_env

from pipeline_collector.config import RunConfig
from pipeline_collector.errors import ConfigurationError
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.stores import PostgresStore, SettingsStore
from pipeline_collector.transports import DirectoryTransport, HttpTransport

PROJECT = Path(__file__).resolve().parent / "djangoproject"

# A service's own settings object, as eda-server's application_settings.
SERVICE_SETTINGS = types.SimpleNamespace(
    AUTOMATION_ANALYTICS_LAST_GATHER=None, AUTOMATION_ANALYTICS_LAST_ENTRIES=""
)


@pytest.fixture
def django_db(postgres_dsn: str) -> Iterator[None]:
    """Django on the tests' server, the test project's collectors importable, a tasks table."""
    django_env.use_server(postgres_dsn)
    sys.path.insert(0, str(PROJECT))
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS testsite_tasks"
            " (id int, name text, state text, modified timestamptz)"
        )
    try:
        yield
    finally:
        sys.path.remove(str(PROJECT))
        from django.db import connection

        connection.close()


def minimal(**more: Any) -> dict[str, Any]:
    return {"COLLECTORS": "json", **more}  # any importable module will do for read()


class TestRead:
    def test_defaults_use_the_service_connection(self, django_db: None) -> None:
        """Without STORE and LOCK both run on Django's default connection, old lock key."""
        from pipeline_collector.django import conf

        service = conf.read(minimal())
        assert isinstance(service.state, PostgresStore)
        assert isinstance(service.lock, PostgresAdvisoryLock)
        assert (service.lock.name, service.lock.scheme) == ("gather_analytics_lock", "sha512")
        assert service.config.limits.max_data_size == 200 * 2**20
        assert service.config == RunConfig()  # every default is the record's own

    def test_values_are_read(self, django_db: None) -> None:
        """Sizes, horizon and gates take the forms the CLI takes."""
        from pipeline_collector.django import conf

        service = conf.read(
            minimal(MAX_DATA_SIZE="50MiB", HORIZON="2w", IS_LICENSED=False, LOCK=False)
        )
        assert service.config.limits.max_data_size == 50 * 2**20
        assert service.config.horizon.days == 14
        assert service.is_licensed is not None and service.is_licensed() is False
        assert service.lock is None

    def test_settings_store_from_a_dotted_path(self) -> None:
        """STORE SETTINGS names the service's settings object; AWX's keys by default."""
        from pipeline_collector.django import conf

        service = conf.read(minimal(STORE={"SETTINGS": f"{__name__}.SERVICE_SETTINGS"}, LOCK=False))
        assert isinstance(service.state, SettingsStore)
        assert service.state.entries_key == "AUTOMATION_ANALYTICS_LAST_ENTRIES"

    def test_transports(self, tmp_path: Path) -> None:
        """DIRECTORY or URL with CONTENT_TYPE build the library's transports."""
        from pipeline_collector.django import conf

        folder = conf.transport(minimal(TRANSPORT={"DIRECTORY": str(tmp_path)}))
        assert isinstance(folder, DirectoryTransport) and folder.root == tmp_path
        http = conf.transport(
            minimal(
                TRANSPORT={
                    "URL": "https://ingress.example/api/ingress/v1/upload",
                    "CONTENT_TYPE": "application/vnd.redhat.example.filename+tgz",
                    "TIMEOUT": 10,
                }
            )
        )
        assert isinstance(http, HttpTransport) and http.timeout == (10.0, 10.0)

    @pytest.mark.parametrize(
        ("raw", "match"),
        [
            (None, r"settings.PIPELINE_COLLECTOR must be a dict"),
            ({"COLLECTORS": "json", "STROE": {}}, r"unknown keys STROE"),
            ({}, r"\['COLLECTORS'\] must name the collector module"),
            ({"COLLECTORS": "no.such.module"}, r"\['COLLECTORS'\]: cannot import"),
            ({"COLLECTORS": "json", "MAX_DATA_SIZE": "lots"}, r"\['MAX_DATA_SIZE'\]: 'lots'"),
            (
                {"COLLECTORS": "json", "LOCK": {"NAME": "x", "KEY": 1}},
                r"\['LOCK'\]: unknown keys KEY",
            ),
            ({"COLLECTORS": "json", "STORE": 42}, r"\['STORE'\]: expected a state store, got int"),
            ({"COLLECTORS": "json", "LOCK": {"DATABASE": "other"}}, r"no database 'other'"),
        ],
        ids=["missing", "typo", "no module", "bad module", "size", "lock key", "store", "alias"],
    )
    def test_bad_settings_name_the_key(self, django_db: None, raw: Any, match: str) -> None:
        """Each bad setting is a ConfigurationError naming where it is."""
        from pipeline_collector.django import conf

        with pytest.raises(ConfigurationError, match=match):
            conf.read(raw)

    def test_http_transport_needs_a_content_type(self) -> None:
        """A URL without CONTENT_TYPE says what to add."""
        from pipeline_collector.django import conf

        with pytest.raises(ConfigurationError, match="CONTENT_TYPE"):
            conf.transport(minimal(TRANSPORT={"URL": "https://ingress.example/upload"}))


class TestRun:
    def test_ship_keeps_bookkeeping_in_the_service_settings(
        self, django_db: None, tmp_path: Path
    ) -> None:
        """A manual run with a settings store ships and leaves the entries where eda-server
        kept them, as a JSON string of ISO datetimes."""
        from pipeline_collector.django.run import gather_analytics

        run = gather_analytics(
            "manual",
            setting={
                "COLLECTORS": "testsite.collectors",
                "TRANSPORT": {"DIRECTORY": str(tmp_path)},
                "STORE": {"SETTINGS": f"{__name__}.SERVICE_SETTINGS"},
                "LOCK": {"NAME": "conf-test-lock"},
            },
        )
        assert run.status == "ok", run.reason
        assert len(list(tmp_path.glob("data/*/*/*/*.tar.gz"))) == 1
        entries = json.loads(SERVICE_SETTINGS.AUTOMATION_ANALYTICS_LAST_ENTRIES)
        assert set(entries) == {"task_counts", "tasks_table"}
        assert SERVICE_SETTINGS.AUTOMATION_ANALYTICS_LAST_GATHER is not None
