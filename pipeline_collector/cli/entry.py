"""The entry point: parse the command line, run the command, return its exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .commands import bench, demo, gather, ingress, init, inspect, plan, preflight, status
from .exits import EXIT_INTERRUPTED
from .parser import parse_args

__all__ = ["main"]

_RUN: dict[str, Callable[[argparse.Namespace], int]] = {
    "gather": gather.run,
    "plan": plan.run,
    "inspect": inspect.run,
    "bench": bench.run,
    "status": status.run,
    "preflight": preflight.run,
}
# Commands whose options are their own: the rest of the command line is handed over unparsed.
_OWN_OPTIONS: dict[str, Callable[[Sequence[str]], int]] = {
    "ingress": ingress.run,
    "demo": demo.run,
    "init": init.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] and args_list[0] in _OWN_OPTIONS:
            return _OWN_OPTIONS[args_list[0]](args_list[1:])
        args = parse_args(args_list)
        return _RUN[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("pipeline-collector: interrupted\n")
        return EXIT_INTERRUPTED
