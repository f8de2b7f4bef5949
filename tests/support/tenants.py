"""Tenants sharing one state store: their collectors, one run of one tenant, what arrived.

Every tenant collects the same keys over rows of its own, known to the test
from the time alone: ``events`` (CSV, sliced by day) has one row an hour,
``hosts`` (JSON) one row every six hours, from ``START`` on; each row's id
names its tenant, its key and its hour.  ``python -m support.tenants KIND
TARGET TENANT NOW DEST WORK [GO]`` runs one tenant's ``gather`` in a process
of its own (after ``GO`` appears, when given) against a shared store of
``KIND`` (``json``, ``sqlite``, ``postgres`` or ``settings``) at ``TARGET``,
shipping into the shared folder ``DEST``, and prints its run as JSON.
``shipped`` reads back every archive member by member.  ``TENANTS_TABLE``
names the table of the PostgreSQL and settings stores; ``TENANTS_KEYS``
names the one key the run collects (a module of its own, beside the config).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pipeline_collector import FileLock, csv_lines, gather, register, slicers
from pipeline_collector.locks.keys import STORE_WRITERS, WRITERS_LOCK
from pipeline_collector.protocols import StateStore
from pipeline_collector.stores import JsonFileStore, PostgresStore, SettingsStore, SqliteStore
from pipeline_collector.transports import DirectoryTransport

START = datetime(2026, 11, 20, tzinfo=timezone.utc)
KINDS = ("json", "sqlite", "postgres", "settings")
EVERY = {"events": timedelta(hours=1), "hosts": timedelta(hours=6)}
SETTINGS_TABLE = "service_settings"


def row_ids(tenant: str, key: str, since: datetime, until: datetime) -> list[str]:
    """The ids of ``tenant``'s ``key`` rows created in ``[since, until)``."""
    step = EVERY[key]
    first = max(0, -((START - since) // step))  # the first row at or after since
    ids: list[str] = []
    n = first
    while START + n * step < until:
        ids.append(f"{tenant}:{key}:{n}")
        n += 1
    return ids


def collectors(tenant: str) -> list[Any]:
    """The collectors of one tenant: the same keys as every other tenant, rows of its own."""

    @register("config", "1.0", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"tenant": tenant}

    @register("events", "1.0", format="csv", fnc_slicing=slicers.daily)
    def events(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
        yield from csv_lines(("id",), [(i,) for i in row_ids(tenant, "events", since, until)])

    @register("hosts", "1.0")
    def hosts(since: datetime, until: datetime, **kwargs: Any) -> list[str]:
        return row_ids(tenant, "hosts", since, until)

    return [config, events, hosts]


class PgSettings:
    """A service's settings as key -> text rows of a PostgreSQL table, on one connection."""

    def __init__(self, dsn: str, table: str = SETTINGS_TABLE) -> None:
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True)
        self.table = table

    def get(self, key: str) -> Any:
        row = self.conn.execute(
            f"SELECT value FROM {self.table} WHERE key = %s",  # noqa: S608
            (key,),
        ).fetchone()
        return None if row is None else row[0]

    def set(self, key: str, value: Any) -> None:
        self.conn.execute(
            f"INSERT INTO {self.table} (key, value) VALUES (%s, %s)"  # noqa: S608
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction in which saves take turns, as ``SettingsStore`` asks of ``atomic``
        (and ``from_django(using=...)`` does): runs over other keys save at once here."""
        with self.conn.transaction():
            self.conn.execute(WRITERS_LOCK, (STORE_WRITERS, self.table))
            yield


def store_for(kind: str, target: str, tenant: str, table: str | None = None) -> StateStore:
    """Tenant ``tenant``'s view of the shared store of ``kind`` at ``target`` (``table``: its table)."""
    if kind == "json":
        return JsonFileStore(target, namespace=tenant)
    if kind == "sqlite":
        return SqliteStore(target, namespace=tenant)
    table = table or SETTINGS_TABLE
    if kind == "postgres":
        return PostgresStore.from_dsn(target, table=table, namespace=tenant)
    settings = PgSettings(target, table)
    return SettingsStore(
        settings.get,
        settings.set,
        extra_key="ANALYTICS_BOOKKEEPING",  # the run history and failures
        atomic=settings.atomic,
        namespace=tenant,
    )


def shipped(dest: Path) -> Counter[str]:
    """How many times each row id arrived in ``dest``, read member by member."""
    counts: Counter[str] = Counter()
    for path in sorted(dest.glob("data/*/*/*/*.tar.gz")):
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                member = tar.extractfile(info)
                assert member is not None, info.name
                blob = member.read()
                if info.name == "./events.csv":
                    reader = csv.reader(io.StringIO(blob.decode(), newline=""))
                    assert next(reader) == ["id"]
                    counts.update(row[0] for row in reader)
                elif info.name == "./hosts.json":
                    counts.update(json.loads(blob))
    return counts


def main() -> None:
    kind, target, tenant, now, dest, work, *go = sys.argv[1:]
    clock = datetime.fromisoformat(now)
    if go:
        while not Path(go[0]).exists():
            time.sleep(0.002)
    keys = os.environ.get("TENANTS_KEYS")
    chosen = [f for f in collectors(tenant) if keys is None or f.__name__ in ("config", keys)]
    run = gather(
        chosen,
        state=store_for(kind, target, tenant, os.environ.get("TENANTS_TABLE")),
        transport=DirectoryTransport(dest),
        lock=FileLock(Path(work) / "run.lock"),  # one lock per tenant
        mode="scheduled",
        clock=lambda: clock,
        workdir=work,
    )
    print(json.dumps({"tenant": tenant, "status": run.status, "reason": run.reason}))


if __name__ == "__main__":
    main()
