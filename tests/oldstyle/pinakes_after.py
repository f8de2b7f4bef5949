"""How pinakes runs its analytics with pipeline_collector.

It replaces ``pinakes/main/analytics`` ``AnalyticsCollector`` and
``Package``.  The bookkeeping stays in the rq job's ``meta``, where the old
hooks kept it.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from types import ModuleType
from typing import Any

from pipeline_collector import Run, State, gather
from pipeline_collector.locks import PostgresAdvisoryLock
from pipeline_collector.records import Mode
from pipeline_collector.stores import format_datetime, parse_datetime
from pipeline_collector.transports import BasicAuth, HttpTransport

CONTENT_TYPE = "application/vnd.redhat.pinakes.filename+tgz"


class JobMetaStore:
    """``last_gather`` and ``last_gathered_entries`` in the job's meta, saved with ``save_meta``."""

    def __init__(self, meta: MutableMapping[str, Any], save_meta: Callable[[], None]) -> None:
        self.meta = meta
        self.save_meta = save_meta

    def load(self) -> State:
        last = self.meta.get("last_gather")
        entries = self.meta.get("last_gathered_entries", {})
        return State(
            last_gather=parse_datetime(last) if last else None,
            entries={k: parse_datetime(v) for k, v in entries.items()},
        )

    def save(self, state: State) -> None:
        if state.last_gather is not None:
            self.meta["last_gather"] = format_datetime(state.last_gather)
        self.meta["last_gathered_entries"] = {
            k: format_datetime(v) for k, v in state.entries.items()
        }
        self.save_meta()


def run_analytics(
    settings: Any,
    collectors: ModuleType,
    connect: Callable[[], Any],
    job: Any,
    *,
    mode: Mode = "scheduled",
) -> Run:
    """The rq task that gathered with ``AnalyticsCollector``."""
    return gather(
        collectors,
        mode=mode,
        state=JobMetaStore(job.meta, job.save_meta),
        transport=HttpTransport(
            url=settings.PINAKES_INSIGHTS_URL,
            content_type=CONTENT_TYPE,
            auth=BasicAuth(
                user=settings.PINAKES_INSIGHTS_USERNAME, password=settings.PINAKES_INSIGHTS_PASSWORD
            ),
            verify=settings.CA_BUNDLE,  # Package.CERT_PATH
        ),
        lock=PostgresAdvisoryLock(connect, "gather_analytics_lock"),
        is_shipping_configured=lambda: bool(
            settings.PINAKES_INSIGHTS_TRACKING_STATE and settings.PINAKES_INSIGHTS_URL
        ),
        prefix="pinake",
    )
