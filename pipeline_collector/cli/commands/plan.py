"""``plan``: show what a run would collect, without calling any collector.

Slicers are called (they make the windows); collectors are not.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...protocols import StateStore
from ...records import Collector, Plan, State
from ...stages.discover import discover
from ...stages.plan import plan
from ..console import Console
from ..effects import build_store, missing_state
from ..exits import EXIT_OK, EXIT_PARTIAL
from ..loading import collector_module
from ..report import iso, plan_json, state_json
from .common import run_command, run_config

__all__ = ["render_plan", "run"]


def run(args: argparse.Namespace) -> int:
    """Show what a run would collect, without collecting."""
    return run_command(args, "plan", _plan, quiet=True)


def _plan(o: Mapping[str, Any], console: Console, env: Mapping[str, str]) -> int:
    module, subset = collector_module(o)
    config = run_config(o, subset=subset)
    collectors = discover(module, config.subset)
    store = build_store(o.get("state"))
    missing = missing_state(store)
    state = store.load() if store is not None else State()
    p = plan(
        collectors,
        state,
        now=datetime.now(timezone.utc),
        since=config.since,
        until=config.until,
        horizon=config.horizon,
    )
    if o.get("json"):
        planned = {t.key for t in p.tasks}
        document = {
            **plan_json(p),
            "state": {
                "store": None if store is None else repr(store),
                "found": store is not None and missing is None,
                **state_json(state),
            },
            "config": {"key": p.config.key, "version": p.config.version},
            "tasks": [
                {
                    "key": t.key,
                    "format": t.collector.format,
                    "since": t.window.since.isoformat(),
                    "until": t.window.until.isoformat(),
                    "full_sync": t.full_sync,
                    "sliced": t.collector.sliced,
                    "shipping_group": t.collector.shipping_group,
                }
                for t in p.tasks
            ],
            "idle": [c.key for c in collectors if not c.config and c.key not in planned],
        }
        console.out(json.dumps(document, indent=2))
    else:
        console.out(render_plan(p, state, collectors, store, missing=missing))
    return EXIT_PARTIAL if p.problems else EXIT_OK


def render_plan(
    p: Plan,
    state: State,
    collectors: Sequence[Collector],
    store: StateStore | None,
    *,
    missing: Path | None = None,
) -> str:
    """The plan as text: window, state (and whether its file was found), tasks, problems."""
    days = p.horizon.total_seconds() / 86400
    lines = [
        f"now          {p.now.isoformat()}",
        f"since        {p.since.isoformat() if p.since else '(each collector from its entry)'}",
        f"until        {p.until.isoformat()}",
        f"last_gather  {p.last_gather.isoformat()}  (horizon {days:g} days)",
        f"state        {repr(store) if store is not None else '(none: a first run)'}",
        *(
            [
                f"  not found: {missing} does not exist, so a run starts from scratch,"
                f" {days:g} days back (check the path if it should be there)"
            ]
            if missing is not None
            else []
        ),
        f"  stored last_gather  {iso(state.last_gather) or '-'}",
    ]
    if state.entries:
        width = max(len(k) for k in state.entries)
        lines += [f"  {k.ljust(width)}  {v.isoformat()}" for k, v in sorted(state.entries.items())]
    else:
        lines.append("  (no entries)")
    lines.append(f"config       {p.config.key} {p.config.version} (in every archive)")
    lines.append(f"tasks        {len(p.tasks)}")
    if p.tasks:
        width = max(len(t.key) for t in p.tasks)
        for t in p.tasks:
            flags: list[str] = [t.collector.format]
            if t.collector.sliced:
                flags.append("sliced")
            if t.full_sync:
                flags.append("FULL SYNC")
            if t.collector.shipping_group != "default":
                flags.append(f"group={t.collector.shipping_group}")
            lines.append(f"  {t.seq:>4}  {t.key.ljust(width)}  {t.window}  {' '.join(flags)}")
    planned = {t.key for t in p.tasks}
    idle = [c.key for c in collectors if not c.config and c.key not in planned]
    if idle:
        lines.append(f"nothing new  {', '.join(idle)}")
    for pr in p.problems:
        lines.append(f"problem      {pr.key}: {pr.message}")
    return "\n".join(lines)
