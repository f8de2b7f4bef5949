"""A demo that runs from the installed package alone: ``pipeline-collector demo``.

It builds an embedded SQLite database of job events (``database.grow``),
gathers it with a small service's collectors (``collectors.jobs_collectors``)
and ships the archives to a folder, or to a local ingress it starts for the
run (``runner.run_demo``).  ``examples/quickstart.py`` in the repository
runs the same demo.
"""

from __future__ import annotations

from .collectors import jobs_collectors
from .database import grow
from .runner import Demo, run_demo

__all__ = ["Demo", "grow", "jobs_collectors", "run_demo"]
