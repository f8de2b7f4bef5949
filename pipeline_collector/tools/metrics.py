"""A run's figures: as plain data, and as Prometheus text for node_exporter.

``figures(run)`` counts what the ``Run`` says (collections come back from
worker processes with their figures, so an executor's work counts too):
per run and per key, rows, bytes, parts, archives, archives shipped,
failures and seconds, and each key's lag.  ``prometheus_text`` writes them
in the Prometheus text format; ``write_metrics_file`` replaces a file with
it atomically, as node_exporter's textfile collector needs (it may read the
file at any moment, and reads only names ending in ``.prom``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..book.status import keys_of
from ..records import Run
from ..units import valid_text

__all__ = ["FAMILIES", "figures", "prometheus_text", "write_metrics_file"]

PREFIX = "pipeline_collector"

# name (after the prefix) -> help; every family is a gauge: the figures of the last run.
FAMILIES: Mapping[str, str] = {
    "run_timestamp_seconds": "When the last run started (Unix time).",
    "run_status": "1 for the last run's status (ok, partial, failed, lock-held, gated).",
    "run_duration_seconds": "Seconds the last run took.",
    "run_rows": "CSV rows collected by the last run.",
    "run_bytes": "Uncompressed bytes collected by the last run.",
    "run_parts": "Parts cut by the last run.",
    "run_archives": "Archives written by the last run.",
    "run_shipped_archives": "Archives the destination confirmed in the last run.",
    "run_shipped_bytes": "Compressed bytes the destination confirmed in the last run.",
    "run_failures": "Failed collections, uploads, archives and plan problems in the last run.",
    "key_rows": "CSV rows the last run collected for the key.",
    "key_bytes": "Uncompressed bytes the last run collected for the key.",
    "key_parts": "Parts the last run cut for the key.",
    "key_archives": "Archives of the last run holding a part of the key.",
    "key_shipped_archives": "Confirmed archives of the last run holding a part of the key.",
    "key_failures": "Failed windows and refused uploads of the key in the last run.",
    "key_duration_seconds": "Seconds the last run spent collecting the key.",
    "key_shipped_until_timestamp_seconds": "End of the key's last window that reached the"
    " destination (Unix time); time() minus this is its lag now.",
    "key_lag_seconds": "How far the key's shipped data was behind the last run's clock.",
}

_RUN_STATUSES = ("ok", "partial", "failed", "lock-held", "gated")


def _epoch(value: datetime) -> float:
    return value.timestamp()


def figures(run: Run, *, now: datetime | None = None) -> dict[str, Any]:
    """The run's figures as plain data: ``{"run": {...}, "keys": {key: {...}}}``.

    Lag is measured at ``now`` (the run's clock when it planned, by default).
    """
    moment = now or (run.plan.now if run.plan is not None else datetime.now(timezone.utc))
    keys: dict[str, dict[str, Any]] = {}

    def of(key: str) -> dict[str, Any]:
        return keys.setdefault(
            key,
            {
                "rows": 0,
                "bytes": 0,
                "parts": 0,
                "archives": 0,
                "shipped_archives": 0,
                "failures": 0,
                "seconds": 0.0,
                "shipped_until": None,
                "lag_seconds": None,
            },
        )

    for c in run.collections:
        k = of(c.key)
        k["rows"] += c.rows
        k["bytes"] += c.bytes
        k["parts"] += len(c.parts)
        k["failures"] += c.status == "failed"
        k["seconds"] += c.elapsed
    for a in run.archives:
        for key in {p.key for p in a.parts}:
            of(key)["archives"] += 1
    for s in run.shipments:
        for key in {p.key for p in s.archive.parts}:
            if s.ok:
                of(key)["shipped_archives"] += 1
            elif not s.skipped:
                of(key)["failures"] += 1  # its upload was refused
    if run.state is not None:
        for key in keys_of(run.state):
            until = run.state.entries.get(key)
            if until is not None:
                k = of(key)
                k["shipped_until"] = _epoch(until)
                k["lag_seconds"] = max((moment - until).total_seconds(), 0.0)
    refused = sum(1 for s in run.shipments if not s.ok and not s.skipped)
    problems = len(run.plan.problems) if run.plan is not None else 0
    return {
        "run": {
            "status": run.status,
            "mode": run.mode,
            "timestamp": _epoch(run.plan.now) if run.plan is not None else None,
            "seconds": run.elapsed,
            "rows": sum(c.rows for c in run.collections),
            "bytes": sum(c.bytes for c in run.collections),
            "parts": sum(len(c.parts) for c in run.collections),
            "archives": len(run.archives),
            "shipped_archives": len(run.receipts),
            "shipped_bytes": sum(s.archive.size for s in run.shipments if s.ok),
            "failures": len(run.failures) + refused + problems,
        },
        "keys": {key: keys[key] for key in sorted(keys)},
    }


def _escape(value: str) -> str:
    r"""A label value as the text format writes it, valid UTF-8 whatever it held.

    >>> _escape('a"b\\c\nd'), _escape("old\ud800key")
    ('a\\"b\\\\c\\nd', 'old\\\\ud800key')
    """
    return valid_text(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


# The figures that only grow, per run and per key (``otel`` records them as counters).
RUN_COUNTED = (
    "rows",
    "bytes",
    "parts",
    "archives",
    "shipped_archives",
    "shipped_bytes",
    "failures",
)
KEY_COUNTED = ("rows", "bytes", "parts", "archives", "shipped_archives", "failures")


def _samples(figs: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, str], float]]:
    run = figs["run"]
    base = {"mode": run["mode"]}
    if run["timestamp"] is not None:
        yield "run_timestamp_seconds", base, run["timestamp"]
    for status in _RUN_STATUSES:
        yield "run_status", {**base, "status": status}, float(run["status"] == status)
    yield "run_duration_seconds", base, run["seconds"]
    for name in RUN_COUNTED:
        yield f"run_{name}", base, run[name]
    for key, k in figs["keys"].items():
        label = {"key": key}
        for name in KEY_COUNTED:
            yield f"key_{name}", label, k[name]
        yield "key_duration_seconds", label, k["seconds"]
        if k["shipped_until"] is not None:
            yield "key_shipped_until_timestamp_seconds", label, k["shipped_until"]
            yield "key_lag_seconds", label, k["lag_seconds"]


def prometheus_text(figs: Mapping[str, Any]) -> str:
    """The figures in the Prometheus text exposition format (version 0.0.4)."""
    by_family: dict[str, list[str]] = {}
    for name, labels, value in _samples(figs):
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        by_family.setdefault(name, []).append(f"{PREFIX}_{name}{{{text}}} {_number(value)}")
    lines: list[str] = []
    for name, samples in by_family.items():
        lines += [f"# HELP {PREFIX}_{name} {FAMILIES[name]}", f"# TYPE {PREFIX}_{name} gauge"]
        lines += samples
    return "\n".join(lines) + "\n"


def write_metrics_file(path: str | os.PathLike[str], run: Run) -> Path:
    """Replace ``path`` with the run's figures, atomically; return the path.

    The text goes to a hidden temporary file in the same folder (a name the
    textfile collector ignores), is synced, and is renamed over ``path``:
    a reader sees the old file or the new one, never half of one.
    """
    target = Path(path)
    data = valid_text(prometheus_text(figures(run))).encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # node_exporter runs as another user
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
