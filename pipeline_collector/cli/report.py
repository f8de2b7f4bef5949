"""The report of a run: the table and summary on a terminal, ``--report-json``.

A terminal gets a table per collection key and a one-line summary; a
program gets the whole run as plain JSON values (``run_json``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..records import Collection, Plan, Run, State
from ..units import human_bytes, human_seconds

__all__ = ["iso", "plan_json", "report_table", "run_json", "state_json", "summary_line"]

_COLUMNS = ("collection", "windows", "rows", "bytes", "parts", "archives", "status", "seconds")


def _status_of(collections: Iterable[Collection]) -> str:
    counts: dict[str, int] = {}
    for c in collections:
        counts[c.status] = counts.get(c.status, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    order = ("ok", "empty", "failed", "skipped")
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts)


def report_table(run: Run) -> str:
    """A table of the run, one line per collection key, with a total line.

    Columns: windows collected, rows, uncompressed bytes, parts, archives
    holding a part of the key, status (or a count of each status) and the
    seconds spent collecting.
    """
    by_key: dict[str, list[Collection]] = {}
    for c in run.collections:
        by_key.setdefault(c.key, []).append(c)
    archives_of: dict[str, int] = {}
    for a in run.archives:
        for key in {p.key for p in a.batch.parts}:
            archives_of[key] = archives_of.get(key, 0) + 1
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for key, group in by_key.items():
        rows.append(
            (
                key,
                str(len(group)),
                f"{sum(c.rows for c in group):,}"
                if group[0].task.collector.format == "csv"
                else "-",
                human_bytes(sum(c.bytes for c in group)),
                str(sum(len(c.parts) for c in group)),
                str(archives_of.get(key, 0)),
                _status_of(group),
                f"{sum(c.elapsed for c in group):.2f}",
            )
        )
    everything = run.collections
    rows.append(
        (
            "total",
            str(len(everything)),
            f"{sum(c.rows for c in everything):,}",
            human_bytes(sum(c.bytes for c in everything)),
            str(sum(len(c.parts) for c in everything)),
            str(len(run.archives)),
            _status_of(everything) if everything else "-",
            f"{sum(c.elapsed for c in everything):.2f}",
        )
    )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    left = {0, 6}
    lines = []
    for n, r in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(r)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0 or n == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_line(run: Run, elapsed: float | None = None) -> str:
    """One sentence on how the run ended."""
    shipped = len(run.receipts)
    sent = sum(s.archive.size for s in run.shipments if s.ok)
    text = f"run {run.status} ({run.mode}): {len(run.archives)} archives written"
    if run.mode != "dry-run":
        text += f", {shipped} shipped ({human_bytes(sent)})"
        refused = len(run.shipments) - shipped
        if refused:
            text += f", {refused} not shipped"
    if elapsed is not None:
        text += f" in {human_seconds(elapsed)}"
    if run.reason:
        text += f"; {run.reason}"
    return text


def iso(value: datetime | None) -> str | None:
    """ISO-8601, or None for no value."""
    return None if value is None else value.isoformat()


def run_json(run: Run, exit_code: int | None = None) -> dict[str, Any]:
    """The run's report as plain JSON values."""
    p = run.plan
    return {
        "status": run.status,
        "mode": run.mode,
        "reason": run.reason,
        "exit_code": exit_code,
        "plan": None if p is None else plan_json(p),
        "collections": [
            {
                "key": c.key,
                "since": iso(c.task.window.since),
                "until": iso(c.task.window.until),
                "full_sync": c.task.full_sync,
                "status": c.status,
                "rows": c.rows,
                "bytes": c.bytes,
                "parts": len(c.parts),
                "seconds": round(c.elapsed, 3),
                "error": c.error,
            }
            for c in run.collections
        ],
        "archives": [
            {
                "name": a.name,
                "path": str(a.path),
                "bytes": a.size,
                "sha256": a.sha256,
                "group": a.group,
                "members": list(a.members),
                "kept": a.path.exists(),
            }
            for a in run.archives
        ],
        "shipments": [
            {
                "archive": s.archive.name,
                "ok": s.ok,
                "skipped": s.skipped,
                "error": s.error,
                "maybe_delivered": s.maybe_delivered,
                "destination": None if s.receipt is None else s.receipt.destination,
                "status": None if s.receipt is None else s.receipt.status,
                "attempts": None if s.receipt is None else s.receipt.attempts,
                "request_id": None if s.receipt is None else s.receipt.request_id,
                "location": None if s.receipt is None else s.receipt.location,
            }
            for s in run.shipments
        ],
        "state": None if run.state is None else state_json(run.state),
    }


def state_json(state: State) -> dict[str, Any]:
    """The bookkeeping as plain JSON values."""
    return {
        "last_gather": iso(state.last_gather),
        "entries": {k: v.isoformat() for k, v in sorted(state.entries.items())},
    }


def plan_json(p: Plan) -> dict[str, Any]:
    """What the plan says of the window and its tasks, as plain JSON values."""
    return {
        "now": iso(p.now),
        "since": iso(p.since),
        "until": iso(p.until),
        "last_gather": iso(p.last_gather),
        "horizon_seconds": p.horizon.total_seconds(),
        "tasks": len(p.tasks),
        "problems": [{"key": pr.key, "message": pr.message} for pr in p.problems],
    }
