"""Shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import structlog
from support import pgserver

from pipeline_collector.demo import grow

# Collector modules loaded by the migration tests with their imports rewritten,
# not test modules: their doctest collection would import them as they are; and
# the test Django project, which only runs as its own process.
collect_ignore = ["oldstyle", "djangoproject"]

# Default lock files live in a folder of this run's own (subprocesses inherit
# it), so two test runs on one machine never hold each other's default lock.
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="pipeline-collector-tests-")
atexit.register(shutil.rmtree, os.environ["XDG_RUNTIME_DIR"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _unconfigured_structlog() -> Iterator[None]:
    """Each test starts as a host that never configured structlog.

    ``structlog.testing.capture_logs`` restores the processors it replaced by
    calling ``configure``, which leaves structlog marked as configured; the
    library would then route every later test's events through structlog
    instead of the standard ``logging`` tree a plain host gets.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A libpq connection string to a throwaway PostgreSQL server (fails when none can start)."""
    try:
        server = pgserver.PostgresServer()
    except pgserver.PostgresNotFound as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:
        pytest.fail(missing, pytrace=False)
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="session")
def jobs_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database of ten days of job events, up to now."""
    path = tmp_path_factory.mktemp("jobs") / "jobs.sqlite3"
    grow(path, datetime.now(timezone.utc))
    return path
