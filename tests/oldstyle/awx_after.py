"""How AWX runs its in-tree analytics with pipeline_collector.

It replaces ``awx.main.analytics.core.gather`` and ``ship``; the collectors
module keeps its code, its import line becomes
``from pipeline_collector.compat import register``.  The bookkeeping stays
where AWX keeps it, in two rows of its settings table, because AWX's slicers
read ``AUTOMATION_ANALYTICS_LAST_ENTRIES`` from there themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any

from pipeline_collector import Run, State, gather
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.records import Mode
from pipeline_collector.stores import format_datetime, parse_datetime
from pipeline_collector.transports import BasicAuth, HttpTransport

LAST_GATHER = "AUTOMATION_ANALYTICS_LAST_GATHER"
LAST_ENTRIES = "AUTOMATION_ANALYTICS_LAST_ENTRIES"


class SettingTableStore:
    """AWX's two bookkeeping settings, read and written in its ``conf_setting`` table.

    They are system settings (no user), written as AWX's settings are: the
    setting's row updated, or created, with the ``created`` and ``modified``
    times AWX's model fills in (the table has no default for them).  Entries
    that are not datetimes are left out on load; AWX's own ``config`` entry is
    read like any other and dropped on the next save (nothing reads it).
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self.connect = connect

    def __repr__(self) -> str:  # how errors name the store
        return "SettingTableStore(conf_setting)"

    def load(self) -> State:
        with self.connect() as conn:
            rows = dict(
                conn.execute(
                    "SELECT key, value FROM conf_setting WHERE key IN (%s, %s) AND user_id IS NULL",
                    (LAST_GATHER, LAST_ENTRIES),
                ).fetchall()
            )
        entries = json.loads(rows.get(LAST_ENTRIES) or "{}")
        last = rows.get(LAST_GATHER)
        return State(
            last_gather=parse_datetime(last) if last else None,
            entries={
                key: parse_datetime(value)
                for key, value in entries.items()
                if isinstance(value, str) and key != "config"
            },
        )

    def save(self, state: State) -> None:
        from psycopg.types.json import Jsonb

        entries = {key: format_datetime(value) for key, value in state.entries.items()}
        values = {LAST_ENTRIES: json.dumps(entries)}
        if state.last_gather is not None:
            values[LAST_GATHER] = format_datetime(state.last_gather)
        with self.connect() as conn, conn.transaction():
            for key, value in values.items():
                updated = conn.execute(
                    "UPDATE conf_setting SET value = %s, modified = now()"
                    " WHERE key = %s AND user_id IS NULL",
                    (Jsonb(value), key),
                )
                if updated.rowcount == 0:
                    conn.execute(
                        "INSERT INTO conf_setting (created, modified, key, value, user_id)"
                        " VALUES (now(), now(), %s, %s, NULL)",
                        (key, Jsonb(value)),
                    )


def shipping_configured(settings: Any) -> bool:
    """What AWX's ``gather`` checks before shipping."""
    user = settings.REDHAT_USERNAME or settings.SUBSCRIPTIONS_USERNAME
    password = settings.REDHAT_PASSWORD or settings.SUBSCRIPTIONS_PASSWORD
    return bool(
        settings.INSIGHTS_TRACKING_STATE and settings.AUTOMATION_ANALYTICS_URL and user and password
    )


def transport(settings: Any) -> HttpTransport:
    """AWX's ``ship``: basic auth (Red Hat or subscription credentials), its CA bundle."""
    if settings.REDHAT_USERNAME and settings.REDHAT_PASSWORD:
        user, password = settings.REDHAT_USERNAME, settings.REDHAT_PASSWORD
    else:
        user, password = settings.SUBSCRIPTIONS_USERNAME, settings.SUBSCRIPTIONS_PASSWORD
    return HttpTransport(
        url=settings.AUTOMATION_ANALYTICS_URL,
        content_type=settings.INSIGHTS_AGENT_MIME,
        auth=BasicAuth(user=user, password=password),
        verify=settings.INSIGHTS_CERT_PATH,
        headers={"User-Agent": f"AWX {settings.VERSION}"},
    )


def run_analytics(
    settings: Any,
    collectors: ModuleType,
    connect: Callable[[], Any],
    *,
    mode: Mode = "scheduled",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Run:
    """AWX's ``gather(collection_type=mode, since=since, until=until)``, shipping included."""
    configured = shipping_configured(settings)
    return gather(
        collectors,
        mode=mode,
        since=since,
        until=until,
        state=SettingTableStore(connect),
        transport=transport(settings) if configured else None,
        # django-pglocks' key for AWX's lock name, so AWX and this exclude each other.
        lock=PostgresAdvisoryLock(connect, "gather_analytics_lock", scheme="crc32"),
        is_licensed=settings.valid_license,
        is_shipping_configured=lambda: configured,
        prefix=settings.SYSTEM_UUID,
    )
