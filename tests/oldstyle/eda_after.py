"""How eda-server runs its analytics with pipeline_collector.

It replaces ``AnalyticsCollector`` and ``Package`` in ``aap_eda/analytics``:
the bookkeeping stays in its application settings, the lock keeps the old
library's key, a service account gets its token from the SSO URL.  The
collectors module changes only its import line.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

from pipeline_collector import Run, gather
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.records import Mode
from pipeline_collector.stores import SettingsStore
from pipeline_collector.transports import (
    Auth,
    BasicAuth,
    HttpTransport,
    OAuth2ClientCredentials,
)

CONTENT_TYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"


def auth(settings: Any) -> Auth:
    """``Package.shipping_auth_mode``: a service account, or user and password."""
    if settings.INSIGHTS_AUTH_MODE == "service-account":
        return OAuth2ClientCredentials(
            token_url=settings.INSIGHTS_SSO_URL,
            client_id=settings.INSIGHTS_CLIENT_ID,
            client_secret=settings.INSIGHTS_CLIENT_SECRET,
        )
    return BasicAuth(user=settings.INSIGHTS_USERNAME, password=settings.INSIGHTS_PASSWORD)


def run_analytics(
    settings: Any,
    collectors: ModuleType,
    connection: Any,
    *,
    mode: Mode = "scheduled",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Run:
    """``aap_eda.analytics.collector.gather``; ``connection`` is ``django.db.connection``."""
    return gather(
        collectors,
        mode=mode,
        since=since,
        until=until,
        # AUTOMATION_ANALYTICS_LAST_GATHER and ..._LAST_ENTRIES, read as the old library wrote them.
        state=SettingsStore.from_django(settings),
        transport=HttpTransport(
            url=settings.INSIGHTS_URL,
            content_type=CONTENT_TYPE,
            auth=auth(settings),
            verify=settings.INSIGHTS_CERT_PATH,
            headers={"User-Agent": "EDA-metrics-agent"},
        ),
        lock=PostgresAdvisoryLock(connection, "gather_analytics_lock"),
        is_shipping_configured=lambda: bool(
            settings.ANALYTICS and settings.INSIGHTS_TRACKING_STATE
        ),
        prefix="eda-analytics",
    )
