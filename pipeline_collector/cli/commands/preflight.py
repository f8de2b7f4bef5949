"""``preflight``: prove the destination takes an upload, before anything is collected.

The destination's options are gather's (a folder, an ingress, a bucket), read
from the command line, the environment and the config file alike; the
verdict is one line.  ``gather --preflight`` runs the same check first.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...protocols import Transport
from ..console import Console
from ..effects import build_transport
from ..exits import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError
from .common import run_command

if TYPE_CHECKING:  # the transports import only when a command uses one
    from ...transports.probe import Verdict

__all__ = ["check", "exit_for", "run"]


def run(args: argparse.Namespace) -> int:
    """Ask the destination whether it takes an upload; say so in one line."""
    return run_command(args, "preflight", _preflight, quiet=True)


def exit_for(verdict: Verdict) -> int:
    """0 when the destination takes uploads, 1 when a later try may pass, else 2."""
    if verdict.ok:
        return EXIT_OK
    return EXIT_PARTIAL if verdict.retryable else EXIT_USAGE


def check(transport: Transport | None) -> Verdict:
    """The verdict on ``transport``; a command without a destination is bad usage."""
    if transport is None:
        raise UsageError("a preflight needs a destination: --dir, --url or --s3-bucket")
    from ...transports.probe import preflight

    return preflight(transport)


def _preflight(o: Mapping[str, Any], console: Console, env: Mapping[str, str]) -> int:
    transport, _ = build_transport(o, env, console.redact)
    try:
        verdict = check(transport)
    finally:
        if transport is not None:
            transport.close()
    code = exit_for(verdict)
    if o.get("json"):
        document = {
            "ok": verdict.ok,
            "destination": verdict.destination,
            "message": verdict.message,
            "retryable": verdict.retryable,
            "request_id": verdict.request_id,
            "exit_code": code,
        }
        console.out(json.dumps(document, indent=2))
        return code
    if verdict.ok:
        request = f" (request id {verdict.request_id})" if verdict.request_id else ""
        console.out(f"preflight ok: {verdict}{request}")
        return code
    return console.error(f"preflight: {verdict}", code)
