"""``python -m pipeline_collector``: the same as the ``pipeline-collector`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
