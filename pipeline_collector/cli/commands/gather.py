"""``gather``: run the pipeline once, ship or keep the archives, report on the run."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...log import logger
from ...records import Run
from ...run.runner import gather
from ...stages.discover import discover
from ...tools.metrics import write_metrics_file
from ..console import Console, live
from ..effects import build_lock, build_store, build_transport, flag, missing_state
from ..exits import EXIT_PARTIAL, UsageError, exit_code
from ..loading import collector_module, load_callable
from ..report import report_table, run_json, summary_line
from . import preflight
from .common import run_command, run_config

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run the pipeline once and report on it."""
    return run_command(args, "gather", _gather, with_progress=True)


def _gather(o: Mapping[str, Any], console: Console, env: Mapping[str, str]) -> int:
    module, subset = collector_module(o)
    config = run_config(o, subset=subset)
    if console.progress is not None:
        console.progress.config_key = discover(module)[0].key
    transport, destination = build_transport(o, env, console.redact)
    store = build_store(o.get("state"))
    missing = missing_state(store)
    lock = build_lock(o.get("lock"), o.get("lock_name"), o.get("lock_scheme"))
    if (o.get("lock_name") or o.get("lock_scheme")) and not str(o.get("lock", "")).startswith(
        "postgres"
    ):
        raise UsageError("--lock-name and --lock-scheme go with --lock postgresql://...")
    if config.ships:
        if transport is None:
            raise UsageError(
                f"--mode {config.mode} ships archives: give a destination (--dir, --url or"
                " --s3-bucket)"
            )
        if store is None:
            raise UsageError(f"--mode {config.mode} keeps bookkeeping: give --state FILE")
    elif transport is not None:
        logger("cli").warning(
            "run.dry", reason=f"dry run: nothing is sent to {destination}; use --mode manual"
        )
    checks = {
        name: load_callable(o[name], flag(name))
        for name in ("is_licensed", "is_shipping_configured")
        if o.get(name)
    }
    if o.get("preflight"):  # before anything is collected: the destination takes an upload
        verdict = preflight.check(transport)
        if not verdict.ok:
            if transport is not None:
                transport.close()
            return console.error(f"preflight: {verdict}", preflight.exit_for(verdict))
        if console.terminal:
            console.line(f"preflight ok: {verdict}")
    if missing is not None and console.terminal:  # said before anything is collected
        days = config.horizon.total_seconds() / 86400
        console.line(
            f"state {missing} was not found: this run starts from scratch, {days:g} days"
            " back (check --state if it should be there)"
        )
    started = time.monotonic()
    try:
        with live(console):
            result = gather(
                module,
                config,
                state=store,
                transport=transport,
                lock=lock,
                is_licensed=checks.get("is_licensed"),
                is_shipping_configured=checks.get("is_shipping_configured"),
            )
    finally:
        if transport is not None:  # built here, so closed here
            transport.close()
    code = exit_code(result)
    _report(result, code, console, o.get("report_json"), time.monotonic() - started)
    if o.get("metrics_file"):
        try:
            write_metrics_file(o["metrics_file"], result)
        except OSError as e:
            return console.error(f"--metrics-file {o['metrics_file']}: {e.strerror}", EXIT_PARTIAL)
    return code


def _report(run: Run, code: int, console: Console, report: str | None, elapsed: float) -> None:
    """The table and summary on a terminal, the kept archives, ``--report-json``."""
    if console.screen is not None:
        console.screen.clear()
        console.screen = None
    if console.terminal and run.plan is not None:
        console.line(report_table(run))
    if console.terminal:
        console.line(summary_line(run, elapsed))
    if report != "-":  # else the report on stdout lists them
        for a in run.archives:
            if a.path.exists():
                console.out(str(a.path))
    if report:
        text = console.redact(json.dumps(run_json(run, code), indent=2)) + "\n"
        if report == "-":
            console.stdout.write(text)
            console.stdout.flush()
        else:
            Path(report).write_text(text, encoding="utf-8")
