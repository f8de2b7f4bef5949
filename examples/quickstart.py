"""Run the pipeline over an embedded SQLite database of job events.

The first run builds ``examples/data/jobs.sqlite3`` with ten days of events
and ships every day to ``examples/out/data/YYYY/MM/DD/``; later runs add the
events that happened since and ship only what is new.  State is kept in
``examples/out/state.json``.  It is ``pipeline-collector demo`` (the
package's ``pipeline_collector.demo``) with the repository's folders:

    python examples/quickstart.py [--dry-run] [--ingress] [--dir DIR] [-v]
"""

from __future__ import annotations

import sys

from pipeline_collector.cli import main

# Options given on the command line come later, so they win.
DEFAULTS = ("--dir", "examples/out", "--database", "examples/data/jobs.sqlite3")

if __name__ == "__main__":
    raise SystemExit(main(["demo", *DEFAULTS, *sys.argv[1:]]))
