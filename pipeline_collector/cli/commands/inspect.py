"""``inspect``: list archives' members and check them against the contract."""

from __future__ import annotations

import argparse
import json
import sys

import attrs

from ...tools.checks import ArchiveReport, inspect_archive
from ...units import human_bytes
from ..exits import EXIT_OK, EXIT_PARTIAL

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """List and check archives."""
    reports = [
        inspect_archive(
            path, max_upload_size=args.max_upload_size, max_data_size=args.max_data_size
        )
        for path in args.archives
    ]
    out = sys.stdout
    if args.json:
        document = [
            {
                "path": str(r.path),
                "bytes": r.size,
                "sha256": r.sha256,
                "ok": r.ok,
                "members": [attrs.asdict(m) for m in r.members],
                "problems": list(r.problems),
            }
            for r in reports
        ]
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        for n, r in enumerate(reports):
            if n:
                out.write("\n")
            out.write(_render_report(r) + "\n")
    out.flush()
    return EXIT_OK if all(r.ok for r in reports) else EXIT_PARTIAL


def _render_report(r: ArchiveReport) -> str:
    """One archive's report as text: size, sha256, members, then OK or each problem."""
    lines = [str(r.path)]
    if r.size is not None:
        lines.append(f"  size    {r.size:,} bytes ({human_bytes(r.size)})")
    if r.sha256 is not None:
        lines.append(f"  sha256  {r.sha256}")
    if r.members:
        width = max(len(m.name) for m in r.members)
        lines.append(f"  members ({len(r.members)})")
        for m in r.members:
            kind = "" if m.kind == "file" else f"  ({m.kind})"
            lines.append(f"    {m.name.ljust(width)}  {m.size:>14,}{kind}")
    if r.ok:
        lines.append("  OK      meets the archive contract")
    else:
        lines += [f"  PROBLEM {p}" for p in r.problems]
    return "\n".join(lines)
