"""The demo's collectors as a module the command line can load.

Two JSON summaries and a job-events table sliced by day, read from SQLite;
they are written in ``pipeline_collector/demo/collectors.py`` and made here
for the file named by ``JOBS_DATABASE`` (by default the one
``examples/quickstart.py`` builds, made here when it is not there yet), so
that

    pipeline-collector gather examples/jobs_collectors.py --workdir /tmp/out

runs them, from a fresh clone too.  A service's own module defines its
collectors at module level (``pipeline-collector init`` writes one).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from pipeline_collector.demo import grow, jobs_collectors

DATABASE = os.environ.get("JOBS_DATABASE", "examples/data/jobs.sqlite3")
if not Path(DATABASE).exists():  # a fresh clone: the database the quickstart would build
    grow(DATABASE, datetime.now(timezone.utc))

config, job_summary, host_counts, job_events = jobs_collectors(DATABASE)
