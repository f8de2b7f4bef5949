"""The public surface is pinned: what users import must not drift by accident."""

from __future__ import annotations

import types

import pipeline_collector as pc
from pipeline_collector import testing


def test_every_public_non_module_attribute_is_in_all() -> None:
    """Each public name of the package that is not a submodule is listed in __all__."""
    exported = {
        name
        for name, value in vars(pc).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
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
