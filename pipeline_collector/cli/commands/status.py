"""``status``: where each key stands, from the state alone; the exit code says if any is behind."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ...book.status import Report, report_json, status
from ...units import human_bytes
from ..console import Console
from ..effects import build_store
from ..exits import EXIT_OK, EXIT_PARTIAL, UsageError
from .common import run_command

__all__ = ["lag_text", "render_status", "run"]

SHOWN_RUNS = 10  # runs a terminal shows; --json gives every one the state keeps


def run(args: argparse.Namespace) -> int:
    """Show the state's view of each key and of the recent runs."""
    return run_command(args, "status", _status, quiet=True)


def _status(o: Mapping[str, Any], console: Console, env: Mapping[str, str]) -> int:
    store = build_store(o.get("state"))
    if store is None:
        raise UsageError("status reads the bookkeeping: give --state FILE|URL")
    report = status(store, max_lag=o.get("max_lag"), retired=o.get("retired") or ())
    if o.get("json") or not console.stdout.isatty():
        console.out(json.dumps(report_json(report), indent=2))
    else:
        console.out(render_status(report))
    return EXIT_PARTIAL if report.behind else EXIT_OK


def lag_text(lag: timedelta | None) -> str:
    """A lag for people: ``2d 3h``, ``5h 20m``, ``42m``.

    >>> lag_text(timedelta(days=2, hours=3, minutes=5)), lag_text(timedelta(minutes=42))
    ('2d 3h', '42m')
    """
    if lag is None:
        return "-"
    minutes = int(lag.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def _table(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return lines


def render_status(report: Report) -> str:
    """The report as text: the keys, their last failures, the recent runs."""
    limit = "" if report.max_lag is None else f"  (max lag {lag_text(report.max_lag)})"
    last = report.last_gather.isoformat() if report.last_gather else "-"
    lines = [f"now          {report.now.isoformat()}{limit}", f"last_gather  {last}", ""]
    if report.keys:
        rows: list[tuple[str, ...]] = [("key", "shipped until", "lag", "full sync", "")]
        for k in report.keys:
            rows.append(
                (
                    k.key,
                    k.shipped_until.isoformat() if k.shipped_until else "never",
                    lag_text(k.lag),
                    k.full_sync.isoformat() if k.full_sync else "-",
                    "BEHIND" if k.behind else "retired" if k.retired else "",
                )
            )
        lines += _table(rows, right={2})
    else:
        lines.append("(no keys: nothing has shipped yet)")
    failed = [k for k in report.keys if k.last_failure is not None]
    if failed:
        lines += ["", "last failures"]
        for k in failed:
            f = k.last_failure
            assert f is not None
            window = f" {f.window}" if f.window is not None else ""
            lines.append(f"  {k.key}  {f.at.isoformat()}{window}: {f.error}")
    if report.runs:
        shown = report.runs[-SHOWN_RUNS:]
        lines += ["", f"recent runs ({len(shown)} of {len(report.runs)} kept)"]
        rows = [("at", "mode", "status", "archives", "shipped", "bytes", "rows", "fail", "secs")]
        for r in reversed(shown):
            rows.append(
                (
                    r.at.isoformat(),
                    r.mode,
                    r.status,
                    str(r.archives),
                    str(r.shipped),
                    human_bytes(r.bytes),
                    f"{r.rows:,}",
                    str(r.failures),
                    f"{r.seconds:.1f}",
                )
            )
        lines += _table(rows, right={3, 4, 5, 6, 7, 8})
    lines += [f"problem      {p}" for p in report.problems]
    return "\n".join(lines)
