"""How a small service runs its analytics with pipeline_collector.

It replaces a ``Collector`` subclass and a ``Package`` subclass of
insights-analytics-collector: each overridden hook became an argument of
``gather`` or a field of the transport (see docs/migration.md).  The
collector module itself is unchanged apart from its import line.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

from pipeline_collector import Run, gather
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.records import Mode
from pipeline_collector.stores import SettingsStore
from pipeline_collector.transports import BasicAuth, HttpTransport

CONTENT_TYPE = "application/vnd.redhat.example-service.filename+tgz"


def store(settings: Any) -> SettingsStore:
    """The four bookkeeping hooks, where they kept it: two of the service's settings."""
    return SettingsStore.from_django(
        settings, last_gather_key="ANALYTICS_LAST_GATHER", entries_key="ANALYTICS_LAST_ENTRIES"
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
    connection: Any,
    *,
    mode: Mode = "scheduled",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Run:
    """Gather, pack and ship the service's analytics; return the run's report.

    ``connection`` is the service's own (``django.db.connection``), which the
    lock uses and leaves open, or a callable that opens a new one.
    """
    configured = shipping_configured(settings)
    return gather(
        collectors,
        mode=mode,
        since=since,
        until=until,
        state=store(settings),
        transport=transport(settings) if configured else None,
        lock=PostgresAdvisoryLock(connection, "gather_analytics_lock"),
        is_licensed=lambda: bool(settings.LICENSE_VALID),
        is_shipping_configured=lambda: configured,
        max_data_size=settings.ANALYTICS_MAX_DATA_SIZE,
        workdir=settings.ANALYTICS_WORKDIR,
        prefix="example-service",
    )
