"""A run's figures as OpenTelemetry metrics, on the host's meter provider.

``record(run)`` adds the figures of ``metrics.figures(run)`` to counters
(rows, bytes, parts, archives, shipped, failures: per run and per key), a
histogram of durations and gauges of each key's lag, through ``meter`` or,
by default, a meter of the global provider the host set up.  The library
never sets a provider, reader or exporter: without the host's SDK the API's
no-op meter records nothing.  ``opentelemetry-api`` is optional
(``pip install 'pipeline-collector[otel]'``) and imported only when used.

Counters add each run's figures, so a service that gathers every hour gets
running totals its backend can rate; gauges hold the last run's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..records import Run
from .metrics import KEY_COUNTED, RUN_COUNTED, figures

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["INSTRUMENTS", "SCOPE", "record"]

SCOPE = "pipeline_collector"

# name -> (kind, unit, description); the figure each reads is the name's last word.
INSTRUMENTS: Mapping[str, tuple[str, str, str]] = {
    "pipeline_collector.runs": ("counter", "{run}", "Runs, by mode and status."),
    "pipeline_collector.run.duration": ("histogram", "s", "Seconds a run took."),
    "pipeline_collector.run.started": ("gauge", "s", "When the last run started (Unix time)."),
    "pipeline_collector.run.rows": ("counter", "{row}", "CSV rows collected."),
    "pipeline_collector.run.bytes": ("counter", "By", "Uncompressed bytes collected."),
    "pipeline_collector.run.parts": ("counter", "{part}", "Parts cut."),
    "pipeline_collector.run.archives": ("counter", "{archive}", "Archives written."),
    "pipeline_collector.run.shipped_archives": (
        "counter",
        "{archive}",
        "Archives the destination confirmed.",
    ),
    "pipeline_collector.run.shipped_bytes": (
        "counter",
        "By",
        "Compressed bytes the destination confirmed.",
    ),
    "pipeline_collector.run.failures": (
        "counter",
        "{failure}",
        "Failed collections, uploads, archives and plan problems.",
    ),
    "pipeline_collector.key.rows": ("counter", "{row}", "CSV rows collected for the key."),
    "pipeline_collector.key.bytes": ("counter", "By", "Uncompressed bytes collected for the key."),
    "pipeline_collector.key.parts": ("counter", "{part}", "Parts cut for the key."),
    "pipeline_collector.key.archives": (
        "counter",
        "{archive}",
        "Archives holding a part of the key.",
    ),
    "pipeline_collector.key.shipped_archives": (
        "counter",
        "{archive}",
        "Confirmed archives holding a part of the key.",
    ),
    "pipeline_collector.key.failures": (
        "counter",
        "{failure}",
        "Failed windows and refused uploads of the key.",
    ),
    "pipeline_collector.key.duration": (
        "histogram",
        "s",
        "Seconds a run spent collecting the key.",
    ),
    "pipeline_collector.key.shipped_until": (
        "gauge",
        "s",
        "End of the key's last window that reached the destination (Unix time).",
    ),
    "pipeline_collector.key.lag": (
        "gauge",
        "s",
        "How far the key's shipped data was behind the last run's clock.",
    ),
}


def _global_meter() -> Meter:
    try:
        from opentelemetry import metrics  # optional dependency: imported only when used
    except ImportError:
        raise ConfigurationError(
            "OpenTelemetry metrics need opentelemetry-api: pip install 'pipeline-collector[otel]'"
        ) from None
    return metrics.get_meter(SCOPE)


def _instrument(meter: Meter, name: str) -> Any:
    """The instrument ``name`` of ``meter`` (the SDK hands back the same one on each call)."""
    kind, unit, description = INSTRUMENTS[name]
    if kind == "counter":
        return meter.create_counter(name, unit=unit, description=description)
    if kind == "histogram":
        return meter.create_histogram(name, unit=unit, description=description)
    return meter.create_gauge(name, unit=unit, description=description)


def record(run: Run, *, meter: Meter | None = None, now: datetime | None = None) -> None:
    """Record the run's figures on ``meter`` (default: the host's global meter provider's).

    Run figures carry ``mode`` (and ``status`` on ``runs`` and
    ``run.duration``); key figures carry ``key`` and ``mode``.  Lag is
    measured at ``now``, as in ``metrics.figures``.  Call it once per run.
    """
    chosen = meter if meter is not None else _global_meter()
    figs = figures(run, now=now)
    total = figs["run"]
    mode = {"mode": total["mode"]}
    done = {**mode, "status": total["status"]}
    _instrument(chosen, "pipeline_collector.runs").add(1, done)
    _instrument(chosen, "pipeline_collector.run.duration").record(total["seconds"], done)
    if total["timestamp"] is not None:
        _instrument(chosen, "pipeline_collector.run.started").set(total["timestamp"], mode)
    for name in RUN_COUNTED:
        _instrument(chosen, f"pipeline_collector.run.{name}").add(total[name], mode)
    for key, k in figs["keys"].items():
        where = {"key": key, **mode}
        for name in KEY_COUNTED:
            _instrument(chosen, f"pipeline_collector.key.{name}").add(k[name], where)
        _instrument(chosen, "pipeline_collector.key.duration").record(k["seconds"], where)
        if k["shipped_until"] is not None:
            _instrument(chosen, "pipeline_collector.key.shipped_until").set(
                k["shipped_until"], where
            )
            _instrument(chosen, "pipeline_collector.key.lag").set(k["lag_seconds"], where)
