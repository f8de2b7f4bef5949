"""Runs over other keys that save to one settings row at once lose none of each other's keys.

``SettingsStore.update`` reads the entries setting and writes it back with its
keys changed.  Settings kept in a database are read and written at READ
COMMITTED, so two runs doing so at once would both read the old value, and
the second write would drop the first's keys.  ``from_django(using=...)``
takes a PostgreSQL advisory lock in the save's transaction, so they take
turns.  The settings here are rows of a real table on a real server, read and
written through Django's connection of each thread, as eda-server's
database-backed settings are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from support import django_env

from pipeline_collector.records import Change
from pipeline_collector.stores import SettingsStore

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
TABLE = "concurrent_settings"
THREADS, ROUNDS = 4, 8
READ_TAKES = 0.01  # seconds a settings read takes: a busy database


class DbSettings:
    """Settings as attributes, each a row of ``TABLE``, through Django's connection."""

    def __getattr__(self, key: str) -> Any:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT value FROM {TABLE} WHERE key = %s", [key])  # noqa: S608
            row = cursor.fetchone()
        time.sleep(READ_TAKES)
        return None if row is None else row[0]

    def __setattr__(self, key: str, value: Any) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (key, value) VALUES (%s, %s)"  # noqa: S608
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )


@pytest.fixture
def settings_table(postgres_dsn: str) -> Iterator[str]:
    django_env.use_server(postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (key text PRIMARY KEY, value text)")
    yield postgres_dsn
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def update_at_once(store: Callable[[], SettingsStore]) -> set[str]:
    """``THREADS`` threads, each on its own connection, update keys of their own at once."""
    from django.db import connection

    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            for r in range(ROUNDS):
                change = Change(entries={f"key{n}_{r}": T0 + timedelta(minutes=r)})
                store().update(change)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()  # this thread's connection, opened by Django

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    return set(store().load().entries)


EXPECTED = {f"key{n}_{r}" for n in range(THREADS) for r in range(ROUNDS)}


def test_updates_at_once_through_from_django_keep_every_key(settings_table: str) -> None:
    """With ``using=``, the save's transaction holds an advisory lock: no key is lost."""
    kept = update_at_once(lambda: SettingsStore.from_django(DbSettings(), using="default"))
    assert kept == EXPECTED


def test_updates_at_once_in_a_transaction_alone_lose_keys(settings_table: str) -> None:
    """What the lock prevents: a bare ``transaction.atomic`` lets one update drop another's keys.

    This is why a service passing its own ``atomic`` must make it exclusive.
    """
    from django.db import transaction

    settings = DbSettings()

    def store() -> SettingsStore:
        return SettingsStore(
            lambda key: getattr(settings, key),
            lambda key, value: setattr(settings, key, value),
            atomic=lambda: transaction.atomic(using="default"),
        )

    kept = update_at_once(store)
    assert kept < EXPECTED
