"""How eda-server runs its analytics with pipeline_collector.

It replaces ``AnalyticsCollector`` and ``Package`` in ``aap_eda/analytics``:
the bookkeeping stays in its application settings, the lock keeps the old
library's key, a service account gets its token from the SSO URL.  The
collectors module changes only its import line.
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
from pipeline_collector.transports import (
    Auth,
    BasicAuth,
    HttpTransport,
    OAuth2ClientCredentials,
)

CONTENT_TYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"


class ApplicationSettingsStore:
    """``AUTOMATION_ANALYTICS_LAST_GATHER`` and ``..._LAST_ENTRIES`` in eda's settings."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def load(self) -> State:
        last = self.settings.AUTOMATION_ANALYTICS_LAST_GATHER
        entries = json.loads(self.settings.AUTOMATION_ANALYTICS_LAST_ENTRIES or "{}")
        return State(
            last_gather=parse_datetime(last) if last else None,
            entries={k: parse_datetime(v) for k, v in entries.items()},
        )

    def save(self, state: State) -> None:
        if state.last_gather is not None:
            self.settings.AUTOMATION_ANALYTICS_LAST_GATHER = format_datetime(state.last_gather)
        self.settings.AUTOMATION_ANALYTICS_LAST_ENTRIES = json.dumps(
            {k: format_datetime(v) for k, v in state.entries.items()}
        )


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
    connect: Callable[[], Any],
    *,
    mode: Mode = "scheduled",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Run:
    """``aap_eda.analytics.collector.gather``."""
    return gather(
        collectors,
        mode=mode,
        since=since,
        until=until,
        state=ApplicationSettingsStore(settings),
        transport=HttpTransport(
            url=settings.INSIGHTS_URL,
            content_type=CONTENT_TYPE,
            auth=auth(settings),
            verify=settings.INSIGHTS_CERT_PATH,
            headers={"User-Agent": "EDA-metrics-agent"},
        ),
        lock=PostgresAdvisoryLock(connect, "gather_analytics_lock"),
        is_shipping_configured=lambda: bool(
            settings.ANALYTICS and settings.INSIGHTS_TRACKING_STATE
        ),
        prefix="eda-analytics",
    )
