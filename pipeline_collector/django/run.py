"""One run as ``PIPELINE_COLLECTOR`` describes it: what the command and a periodic task call."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..records import Mode, Run
from ..run.runner import gather
from . import conf

__all__ = ["gather_analytics"]


def gather_analytics(
    mode: Mode = "scheduled",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    subset: Iterable[str] | None = None,
    setting: Any = None,
) -> Run:
    """Gather (and unless a dry run, ship) once; return the run's report.

    ``setting`` stands for ``settings.PIPELINE_COLLECTOR`` when given.  The
    shipping gate is asked once, before the transport is built, so a service
    whose shipping is not configured gets a ``gated`` run, not an error
    about a missing URL.
    """
    service = conf.read(setting)
    transport = None
    gate = service.is_shipping_configured
    if mode != "dry-run":
        shipping_configured = gate() if gate is not None else True
        gate = lambda: shipping_configured  # noqa: E731  # asked once, answered twice
        if shipping_configured:
            transport = conf.transport(setting)
    try:
        return gather(
            service.collectors,
            mode=mode,
            since=since,
            until=until,
            subset=None if subset is None else list(subset),
            state=service.state,
            transport=transport,
            lock=service.lock,
            max_data_size=service.max_data_size,
            max_upload_size=service.max_upload_size,
            horizon=service.horizon,
            workdir=service.workdir,
            prefix=service.prefix,
            is_licensed=service.is_licensed,
            is_shipping_configured=gate,
            name=service.name,
            amend_config=service.amend_config,
        )
    finally:
        close = getattr(transport, "close", None)
        if callable(close):
            close()
