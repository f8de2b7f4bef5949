"""``ingress``: the local ingress, with the rest of the command line as its own."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["run"]


def run(argv: Sequence[str]) -> int:
    """Run ``python -m pipeline_collector.ingress`` with ``argv``."""
    from ...ingress import main  # a server: loaded only when asked for

    return main(list(argv))
