"""How a small service runs its analytics with pipeline_collector.

It replaces a ``Collector`` subclass and a ``Package`` subclass of
insights-analytics-collector: each overridden hook became an argument of
``gather`` or a field of the transport (see docs/migration.md).  The
collector module itself is unchanged apart from its import line.
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

CONTENT_TYPE = "application/vnd.redhat.example-service.filename+tgz"


class SettingsStore:
    """Bookkeeping kept in the service's settings, where the old hooks kept it.

    ``load`` replaces ``_last_gathering`` and ``_load_last_gathered_entries``;
    ``save`` replaces ``_save_last_gather`` and ``_save_last_gathered_entries``.
    """

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def load(self) -> State:
        last = self.settings.ANALYTICS_LAST_GATHER
        entries = json.loads(self.settings.ANALYTICS_LAST_ENTRIES or "{}")
        return State(
            last_gather=parse_datetime(last) if last else None,
            entries={key: parse_datetime(value) for key, value in entries.items()},
        )

    def save(self, state: State) -> None:
        if state.last_gather is not None:
            self.settings.ANALYTICS_LAST_GATHER = format_datetime(state.last_gather)
        self.settings.ANALYTICS_LAST_ENTRIES = json.dumps(
            {key: format_datetime(value) for key, value in state.entries.items()}
        )


def shipping_configured(settings: Any) -> bool:
    """The old ``_is_shipping_configured``: analytics on, URL and credentials set."""
    return bool(
        settings.INSIGHTS_TRACKING_STATE
        and settings.ANALYTICS_URL
        and settings.REDHAT_USERNAME
        and settings.REDHAT_PASSWORD
    )


def transport(settings: Any) -> HttpTransport:
    """The old ``Package`` subclass, as one value."""
    return HttpTransport(
        url=settings.ANALYTICS_URL,
        content_type=CONTENT_TYPE,
        auth=BasicAuth(user=settings.REDHAT_USERNAME, password=settings.REDHAT_PASSWORD),
        verify=settings.CA_BUNDLE,
        headers={"User-Agent": f"example-service/{settings.VERSION}"},
    )


def run_analytics(
    settings: Any,
    collectors: ModuleType,
    connection: Callable[[], Any],
    *,
    mode: Mode = "scheduled",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Run:
    """Gather, pack and ship the service's analytics; return the run's report."""
    configured = shipping_configured(settings)
    return gather(
        collectors,
        mode=mode,
        since=since,
        until=until,
        state=SettingsStore(settings),
        transport=transport(settings) if configured else None,
        lock=PostgresAdvisoryLock(connection, "gather_analytics_lock"),
        is_licensed=lambda: bool(settings.LICENSE_VALID),
        is_shipping_configured=lambda: configured,
        max_data_size=settings.ANALYTICS_MAX_DATA_SIZE,
        workdir=settings.ANALYTICS_WORKDIR,
        prefix="example-service",
    )
