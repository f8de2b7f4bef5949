"""How galaxy_ng sends its Automation Analytics data with pipeline_collector.

It replaces ``metrics_collection/automation_analytics`` ``Collector`` and
``Package``.  galaxy_ng kept no bookkeeping (every run went four weeks
back); a table in its database now keeps it, so a run sends what is new.
The archive names keep galaxy_ng's minute stamp.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from pipeline_collector import PostgresStore, Run, gather
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.naming import ArchiveInfo
from pipeline_collector.records import Mode
from pipeline_collector.transports import Auth, BasicAuth, HttpTransport, IdentityAuth

CONTENT_TYPE = "application/vnd.redhat.automation-hub.hub_payload+tgz"


def archive_name(a: ArchiveInfo) -> str:
    """``Package._tarname_base``: ``galaxy-hub-analytics-<until:%Y-%m-%d-%H%M>``."""
    return f"galaxy-hub-analytics-{a.until:%Y-%m-%d-%H%M}-{a.index}.tar.gz"


def auth(settings: Any) -> Auth:
    """User and password, or an x-rh-identity header for the org (inside the cloud)."""
    if settings.GALAXY_METRICS_COLLECTION_AUTOMATION_ANALYTICS_AUTH_TYPE == "identity":
        org = f"{int(settings.GALAXY_METRICS_COLLECTION_ORG_ID):07d}"
        return IdentityAuth.from_ids(org_id=org, account_number=org)
    return BasicAuth(
        user=settings.GALAXY_METRICS_COLLECTION_REDHAT_USERNAME,
        password=settings.GALAXY_METRICS_COLLECTION_REDHAT_PASSWORD,
    )


def run_metrics(
    settings: Any, collectors: ModuleType, connect: Callable[[], Any], *, mode: Mode = "manual"
) -> Run:
    """``metrics-collection-automation-analytics --ship``."""
    return gather(
        collectors,
        mode=mode,
        state=PostgresStore(connect, table="galaxy_metrics_collection_state"),
        transport=HttpTransport(
            url=settings.GALAXY_METRICS_COLLECTION_C_RH_C_UPLOAD_URL,
            content_type=CONTENT_TYPE,
            auth=auth(settings),
            verify=settings.CA_BUNDLE,  # Package.CERT_PATH
            headers={
                "User-Agent": f"GalaxyNG | Red Hat Ansible Automation Platform ({settings.VERSION})"
            },
        ),
        lock=PostgresAdvisoryLock(connect, "gather_analytics_lock"),
        is_shipping_configured=lambda: bool(
            settings.GALAXY_METRICS_COLLECTION_AUTOMATION_ANALYTICS_ENABLED
        ),
        name=archive_name,
    )
