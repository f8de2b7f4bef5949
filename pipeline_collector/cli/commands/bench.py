"""``bench``: chunking and packing measured on the user's own data, per compressor."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...tools.bench import bench_chunking, render_table
from ..console import Console
from ..exits import EXIT_OK, UsageError
from ..loading import load_module
from .common import run_command

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Measure chunking on a CSV file or a collector over a window."""
    return run_command(args, "bench", _bench, quiet=True)


def _bench(o: Mapping[str, Any], console: Console, env: Mapping[str, str]) -> int:
    csv, module = o.get("csv"), o.get("module")
    if bool(csv) == bool(module):
        raise UsageError("bench needs either --csv FILE or a collector MODULE with --key KEY")
    if module and not o.get("key"):
        raise UsageError(f"bench over {module}: name the collector with --key")
    if csv and (o.get("since") or o.get("until")):
        raise UsageError("--since and --until apply to a collector module, not to --csv")
    if csv and str(csv).endswith(".py"):
        raise UsageError(
            f"--csv {csv} is Python source: give a collector module as MODULE,"
            f" pipeline-collector bench {csv} --key KEY"
        )
    results = bench_chunking(
        Path(csv) if csv else load_module(str(module)),
        key=o.get("key"),
        since=o.get("since"),
        until=o.get("until"),
        max_data_size=o["max_data_size"],
        max_upload_size=o["max_upload_size"],
        compressors=o.get("compressors") or (),
    )
    if o.get("json"):
        console.out(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        console.out(render_table(results))
    return EXIT_OK
