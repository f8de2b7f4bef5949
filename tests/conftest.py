"""Shared fixtures."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _load_pgserver():  # type: ignore[no-untyped-def]
    # Tests are imported with --import-mode=importlib: load the helper by path.
    spec = importlib.util.spec_from_file_location("_pcollect_pgserver", _HERE / "pgserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A libpq connection string to a throwaway PostgreSQL server (fails when none can start)."""
    pgserver = _load_pgserver()
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
