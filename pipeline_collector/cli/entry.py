"""The entry point: parse the command line, run the command, return its exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .commands import bench, gather, ingress, inspect, plan, status
from .exits import EXIT_INTERRUPTED
from .parser import parse_args

__all__ = ["main"]

_RUN: dict[str, Callable[[argparse.Namespace], int]] = {
    "gather": gather.run,
    "plan": plan.run,
    "inspect": inspect.run,
    "bench": bench.run,
    "status": status.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["ingress"]:  # its options are its own: hand them over unparsed
        return ingress.run(args_list[1:])
    args = parse_args(args_list)
    try:
        return _RUN[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("pipeline-collector: interrupted\n")
        return EXIT_INTERRUPTED
