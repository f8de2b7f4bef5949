"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import pgserver


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
