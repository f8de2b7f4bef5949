"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import pgserver

from pipeline_collector.demo import grow

# Collector modules loaded by the migration tests with their imports rewritten,
# not test modules: their doctest collection would import them as they are.
collect_ignore = ["oldstyle"]


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
