"""One run as ``PIPELINE_COLLECTOR`` describes it: what the command and a periodic task call."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..config import RunConfig
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
    config = RunConfig.from_values(
        service.config, mode=mode, since=since, until=until, subset=subset
    )
    try:
        return gather(
            service.collectors,
            config,
            state=service.state,
            transport=transport,
            lock=service.lock,
            is_licensed=service.is_licensed,
            is_shipping_configured=gate,
            name=service.name,
            amend_config=service.amend_config,
        )
    finally:
        if transport is not None:  # built here, so closed here
            transport.close()
