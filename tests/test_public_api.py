"""The public surface is pinned: what users import must not drift by accident."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import types

import pytest

import pipeline_collector as pc
from pipeline_collector import testing


def test_every_public_non_module_attribute_is_in_all() -> None:
    """Each public name of the package that is not a submodule is listed in __all__."""
    # The adapters' names are imported on first use: count them as exported too.
    exported = {
        name
        for name, value in vars(pc).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    } | set(pc._LAZY)
    assert exported == set(pc.__all__) - {"slicers"}


def test_all_names_resolve() -> None:
    """Every name in __all__ can be imported from the package."""
    for name in pc.__all__:
        assert getattr(pc, name) is not None


def test_contract_names_are_exported() -> None:
    """The names the users' code relies on are importable from the package."""
    for name in [
        "register",
        "gather",
        "slicers",
        "JsonFileStore",
        "DirectoryTransport",
        "FileLock",
        "StateStore",
        "Transport",
        "Lock",
        "Clock",
        "Run",
        "Archive",
        "Collection",
    ]:
        assert name in pc.__all__, name
    for name in ["FakeTransport", "MemoryStore", "FrozenClock"]:
        assert hasattr(testing, name)


def test_daily_and_hourly_slicers_exist() -> None:
    """pc.slicers offers daily, hourly and every-N slicers."""
    assert callable(pc.slicers.daily) and callable(pc.slicers.hourly)
    assert pc.slicers.every(hours=6).step.total_seconds() == 6 * 3600


# fmt: off
# The names users import, pinned exactly: a removal or an addition is a decision, not drift.
SURFACE = {
    "pipeline_collector": [
        "Archive", "Auth", "BasicAuth", "Batch", "ClientCertAuth", "Clock", "Collection",
        "Collector", "CollectorError", "Compressor", "ConfigurationError", "Credentials",
        "DirectoryTransport", "FileLock", "HttpTransport", "IdentityAuth", "JsonFileStore", "Lock",
        "LockError", "MAX_DATA_SIZE", "MAX_UPLOAD_SIZE", "OAuth2ClientCredentials", "Part",
        "PipelineError", "Plan", "PostgresAdvisoryLock", "PostgresStore", "Problem", "Receipt",
        "RetryPolicy", "Run", "S3Transport", "ShipError", "Shipment", "SqliteStore", "State",
        "StateError", "StateStore", "Task", "Transport", "Window", "collect", "collection_window",
        "crc32_key", "csv_lines", "cut", "default_compressor", "discover", "gather",
        "get_compressor", "hashtext_key", "pack", "plan", "register", "run_task", "sha512_key",
        "ship", "slicers", "split", "write_archive",
        # the flow, the run's configuration and the stages alone
        "Collected", "Context", "Flow", "Limits", "Rows", "RunConfig", "Settings", "Step",
        "archive", "chunk", "default_flow", "filter_rows", "map_rows", "step",
        # stores several runs share, and a delivery the state could not record
        "Change", "SharedStateStore", "UnrecordedError",
        # a destination proven before anything is collected
        "Verdict", "preflight",
    ],
    "pipeline_collector.testing": [
        "Drop", "Fail", "FakeLock", "FakeTransport", "FrozenClock", "IngressServer", "MemoryStore",
        "MockSender",
        "Redirect",
        "Sent", "Stall",
    ],
    "pipeline_collector.compat": [
        "CsvFileSplitter", "MAX_DATA_SIZE", "positional_slicer", "register", "slicing",
    ],
    "pipeline_collector.copy": ["copy_rows", "copy_rows_psycopg2"],
    "pipeline_collector.slicers": ["Every", "daily", "every", "hourly"],
    "pipeline_collector.checks": [
        "ArchiveReport", "Member", "REQUIRED_MEMBERS", "STATUS_HEADER", "check_archive",
        "inspect_archive",
    ],
    "pipeline_collector.book.status": ["KeyStatus", "Report", "keys_of", "report_json", "status"],
    "pipeline_collector.tools.metrics": ["FAMILIES", "figures", "prometheus_text", "write_metrics_file"],
    "pipeline_collector.tools.otel": ["INSTRUMENTS", "SCOPE", "record"],
    "pipeline_collector.demo": ["Demo", "grow", "jobs_collectors", "run_demo"],
}

# Modules, importable as modules (never shadowed by a function of the same name).
MODULES = [
    "pipeline_collector.stages.discover", "pipeline_collector.stages.plan",
    "pipeline_collector.stages.collect", "pipeline_collector.stages.chunk",
    "pipeline_collector.stages.pack", "pipeline_collector.stages.archive",
    "pipeline_collector.stages.ship", "pipeline_collector.run.runner",
    "pipeline_collector.run.steps", "pipeline_collector.book.bookkeeper", "pipeline_collector.book.ledger",
    "pipeline_collector.records",
    "pipeline_collector.protocols", "pipeline_collector.errors", "pipeline_collector.log",
    "pipeline_collector.config", "pipeline_collector.compress", "pipeline_collector.transports",
    "pipeline_collector.stores", "pipeline_collector.locks", "pipeline_collector.ingress",
    "pipeline_collector.cli", "pipeline_collector.stages.guard", "pipeline_collector.book.status",
    "pipeline_collector.tools.metrics", "pipeline_collector.book.schemas", "pipeline_collector.book.health",
    "pipeline_collector.tools.otel", "pipeline_collector.run.relay",
    "pipeline_collector.demo", "pipeline_collector.demo.collectors",
    "pipeline_collector.demo.database", "pipeline_collector.demo.runner",
]
# fmt: on


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_surface_is_pinned(module: str) -> None:
    """Each public module's ``__all__`` is exactly the pinned list, and every name resolves."""
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SURFACE[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


@pytest.mark.parametrize("module", MODULES)
def test_modules_import_as_modules(module: str) -> None:
    """``import pipeline_collector.<path> as m`` gives a module, never a function."""
    assert isinstance(importlib.import_module(module), types.ModuleType)
    parent, _, name = module.rpartition(".")
    assert isinstance(getattr(importlib.import_module(parent), name), types.ModuleType)


def test_ingress_runs_as_a_module() -> None:
    """``python -m pipeline_collector.ingress --help`` works."""
    result = subprocess.run(
        [sys.executable, "-m", "pipeline_collector.ingress", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "usage" in result.stdout.lower()


def test_console_script_points_at_cli_main() -> None:
    """The ``pipeline-collector`` command is ``pipeline_collector.cli:main``."""
    (script,) = [
        ep
        for ep in importlib.metadata.entry_points(group="console_scripts")
        if ep.name == "pipeline-collector"
    ]
    assert script.value == "pipeline_collector.cli:main"
    assert callable(script.load())
