"""The demo's collectors as a module the command line can load.

Two JSON summaries and a job-events table sliced by day, read from SQLite;
they are written in ``pipeline_collector/demo/collectors.py`` and made here
for the file named by ``JOBS_DATABASE`` (by default the one
``examples/quickstart.py`` builds), so that

    pipeline-collector gather examples/jobs_collectors.py --workdir /tmp/out

runs them.  A service's own module defines its collectors at module level.
"""

from __future__ import annotations

import os

from pipeline_collector.demo import jobs_collectors

DATABASE = os.environ.get("JOBS_DATABASE", "examples/data/jobs.sqlite3")

config, job_summary, host_counts, job_events = jobs_collectors(DATABASE)
