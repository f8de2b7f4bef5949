"""``python -m pipeline_collector.ingress``: run the local ingress."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
