"""Shared fixtures."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import pgserver

# Collector modules loaded by the migration tests with their imports rewritten,
# not test modules: their doctest collection would import them as they are; and
# the test Django project, which only runs as its own process.
collect_ignore = ["oldstyle", "djangoproject"]


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


def _grow() -> Callable[[Path, datetime], object]:
    """The example's function that fills a jobs database."""
    spec = importlib.util.spec_from_file_location(
        "_cli_quickstart", Path(__file__).resolve().parents[1] / "examples/quickstart.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grow: Callable[[Path, datetime], object] = module.grow
    return grow


@pytest.fixture(scope="session")
def jobs_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database of ten days of job events, up to now."""
    path = tmp_path_factory.mktemp("jobs") / "jobs.sqlite3"
    _grow()(path, datetime.now(timezone.utc))
    return path
