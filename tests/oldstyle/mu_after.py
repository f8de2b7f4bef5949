"""How metrics-utility gathers billing data with pipeline_collector.

It replaces its ``Collector`` subclass (the ``gather`` override that adds
``billing_provider_params`` to the config, the entries shared with AWX) and
its ``PackageDirectory``/``PackageS3`` (archive names and per-day folders).
Its collectors module changes only the import line of ``register``, its
``csv_file_splitter.py`` only the import of the base class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline_collector import DirectoryTransport, Run, State, StateError, gather
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.naming import STAMP, ArchiveInfo
from pipeline_collector.records import Mode
from pipeline_collector.stores import format_datetime, parse_datetime

LAST_ENTRIES = "AUTOMATION_ANALYTICS_LAST_ENTRIES"


class SharedEntriesStore:
    """The entries metrics-utility shares with AWX's analytics, in AWX's settings table.

    Like metrics-utility it keeps no ``last_gather`` of its own (each run
    starts from the entries, at most four weeks back).  A save takes AWX's
    analytics lock, reads the entries again and moves each one forward only,
    so neither service sets the other's keys back.  The entries are AWX's
    system setting (no user), written as AWX writes its settings: the row
    updated, or created with the ``created`` and ``modified`` times AWX's
    model fills in (the table has no default for them).
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self.connect = connect
        self.awx_lock = PostgresAdvisoryLock(
            connect, "gather_analytics_lock", scheme="crc32", timeout=60
        )

    def __repr__(self) -> str:  # how errors name the store
        return "SharedEntriesStore(conf_setting)"

    def _read(self, conn: Any) -> dict[str, datetime]:
        row = conn.execute(
            "SELECT value FROM conf_setting WHERE key = %s AND user_id IS NULL ORDER BY id",
            (LAST_ENTRIES,),
        )
        found = row.fetchone()
        stored = json.loads((found[0] if found else "") or "{}")
        return {k: parse_datetime(v) for k, v in stored.items() if isinstance(v, str)}

    def load(self) -> State:
        with self.connect() as conn:
            return State(entries=self._read(conn))

    def save(self, state: State) -> None:
        with self.awx_lock.acquire() as held:
            if not held:
                raise StateError("AWX's analytics lock stayed taken; the entries were not saved")
            self._merge(state)

    def _merge(self, state: State) -> None:
        from psycopg.types.json import Jsonb

        with self.connect() as conn, conn.transaction():
            merged = self._read(conn)
            for key, value in state.entries.items():
                merged[key] = max(merged.get(key, value), value)
            text = json.dumps({k: format_datetime(v) for k, v in merged.items()})
            updated = conn.execute(
                "UPDATE conf_setting SET value = %s, modified = now()"
                " WHERE key = %s AND user_id IS NULL",
                (Jsonb(text), LAST_ENTRIES),
            )
            if updated.rowcount == 0:
                conn.execute(
                    "INSERT INTO conf_setting (created, modified, key, value, user_id)"
                    " VALUES (now(), now(), %s, %s, NULL)",
                    (LAST_ENTRIES, Jsonb(text)),
                )


def archive_name(install_uuid: str) -> Callable[[ArchiveInfo], str]:
    """``PackageDirectory._tarname_base``: the install and the first window, then the index."""
    return lambda a: (
        f"{install_uuid}-{a.window.since:{STAMP}}-{a.window.until:{STAMP}}-{a.index}.tar.gz"
    )


def per_day(a: ArchiveInfo) -> str:
    """``PackageDirectory._destination_path``: one folder per day of the first window."""
    return f"data/{a.window.since:%Y/%m/%d}/{a.name}"


def run_billing(
    collectors: ModuleType,
    connect: Callable[[], Any],
    *,
    install_uuid: str,
    billing_provider_params: dict[str, Any],
    mode: Mode = "manual",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Run:
    """``gather_automation_controller_billing_data --ship`` with ``ship_target=directory``."""
    return gather(
        collectors,
        mode=mode,
        since=since,
        until=until,
        state=SharedEntriesStore(connect),
        transport=DirectoryTransport(Path(billing_provider_params["ship_path"]), layout=per_day),
        lock=PostgresAdvisoryLock(
            connect, "gather_automation_controller_billing_lock", scheme="hashtext"
        ),
        name=archive_name(install_uuid),
        amend_config=lambda doc: {**doc, "billing_provider_params": billing_provider_params},
    )
