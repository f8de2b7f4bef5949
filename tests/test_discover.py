"""Discovery: registered functions found, validated, ordered."""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.tar import read_member

import pipeline_collector as pc
from pipeline_collector.testing import FakeTransport, MemoryStore


def make(key: str, version: str = "1.0", **options: Any) -> Callable[..., dict[str, int]]:
    @pc.register(key, version, **options)
    def f(**kwargs: Any) -> dict[str, int]:
        return {}

    f.__name__ = f"collect_{key}"
    return f


CONFIG = make("config", config=True)


class TestDiscover:
    def test_module_collectors_in_function_name_order_config_first(self) -> None:
        """A module's collectors come back config first, then by function name, as the old library ordered them."""
        module = types.ModuleType("service_collectors")
        vars(module).update(
            b_second=make("zeta"), a_first=make("alpha"), config=CONFIG, helper=lambda: None
        )
        keys = [c.key for c in pc.discover(module)]
        assert keys == ["config", "alpha", "zeta"]

    def test_subset_keeps_named_keys_and_config(self) -> None:
        """A subset keeps only the named keys, plus the config collector."""
        found = pc.discover([CONFIG, make("a"), make("b")], subset=["b"])
        assert [c.key for c in found] == ["config", "b"]

    def test_subset_with_unknown_key_is_refused(self) -> None:
        """Asking for a key that does not exist is an error naming it."""
        with pytest.raises(pc.ConfigurationError, match="nope"):
            pc.discover([CONFIG, make("a")], subset=["nope"])

    def test_functions_registered_by_the_old_decorator_are_found(self) -> None:
        """Functions carrying the old library's attributes are discovered too."""

        def legacy(**kwargs: Any) -> dict[str, int]:
            return {}

        for name, value in {
            "key": "legacy",
            "version": "1.0",
            "description": None,
            "type": "json",
            "config": False,
            "fnc_slicing": None,
            "shipping_group": "default",
            "full_sync_interval_days": None,
        }.items():
            setattr(legacy, f"__insights_analytics_{name}__", value)
        assert [c.key for c in pc.discover([CONFIG, legacy])] == ["config", "legacy"]


class TestValidation:
    @pytest.mark.parametrize("key", ["../x", "Jobs", "a b", "1abc", "", "a-b", "jobs\n"])
    def test_bad_keys_are_refused(self, key: str) -> None:
        """Keys outside ^[a-z][a-z0-9_]*$ are refused, naming the key."""
        with pytest.raises(pc.ConfigurationError, match="must match"):
            pc.discover([CONFIG, make(key)])

    @pytest.mark.parametrize("version", ["1", "1.0.0", "v1.0", "one"])
    def test_bad_versions_are_refused(self, version: str) -> None:
        """Versions must be MAJOR.MINOR."""
        with pytest.raises(pc.ConfigurationError, match=r"MAJOR\.MINOR"):
            pc.discover([CONFIG, make("a", version)])

    def test_unknown_format_is_refused(self) -> None:
        """Only json and csv formats exist."""
        with pytest.raises(pc.ConfigurationError, match="format 'xml'"):
            pc.discover([CONFIG, make("a", format="xml")])

    def test_duplicate_keys_are_refused(self) -> None:
        """Two collectors with one key are refused."""
        with pytest.raises(pc.ConfigurationError, match="'a' is registered twice"):
            pc.discover([CONFIG, make("a"), make("a")])

    def test_two_configs_none_keyed_config_are_refused(self) -> None:
        """Several config=True collectors, none keyed config: which one is meant is not
        known, so discovery refuses, naming them."""
        with pytest.raises(pc.ConfigurationError, match="found 'settings', 'other'"):
            pc.discover([make("settings", config=True), make("other", config=True)])

    def test_two_configs_besides_the_one_keyed_config_are_refused(self) -> None:
        """Two keyed config collectors cannot both be it: the key is registered twice."""
        with pytest.raises(pc.ConfigurationError, match="'config' is registered twice"):
            pc.discover([CONFIG, make("config", config=True), make("other", config=True)])

    def test_no_config_is_refused(self) -> None:
        """A collector set without config is refused."""
        with pytest.raises(pc.ConfigurationError, match="found none"):
            pc.discover([make("a")])

    def test_csv_config_is_refused(self) -> None:
        """The config collector must be JSON."""
        with pytest.raises(pc.ConfigurationError, match="must be json"):
            pc.discover([make("config", config=True, format="csv")])

    def test_unregistered_function_is_refused(self) -> None:
        """A plain function in the iterable is an error, not silently dropped."""
        with pytest.raises(pc.ConfigurationError, match="not a registered collector"):
            pc.discover([CONFIG, lambda: None])


class TestSeveralConfigCollectors:
    """galaxy_ng's Lightspeed module marks ``config`` and ``instance_info`` config=True."""

    def lightspeed(self) -> list[Callable[..., dict[str, str]]]:
        @pc.register("config", "1.0", description="General platform configuration.", config=True)
        def config(since: object, **kwargs: Any) -> dict[str, str]:
            return {"platform": "galaxy"}

        @pc.register("instance_info", "1.0", description="Node information", config=True)
        def instance_info(since: object, **kwargs: Any) -> dict[str, str]:
            return {"node": "n1"}

        return [config, instance_info]

    def test_the_one_keyed_config_is_the_config_the_other_a_json_collector(self) -> None:
        """The collector keyed config is the config; the other is kept as an ordinary JSON
        collector, and a warning names it."""
        with capture_logs() as logs:
            found = pc.discover(self.lightspeed())
        assert [(c.key, c.config, c.format) for c in found] == [
            ("config", True, "json"),
            ("instance_info", False, "json"),
        ]
        (event,) = [e for e in logs if e["event"] == "config.several"]
        assert event["others"] == ["instance_info"]

    def test_both_ship_config_json_and_instance_info_json(self, tmp_path: Path) -> None:
        """Nothing is dropped: the archive holds ./config.json from config and
        ./instance_info.json from the other (the old library sent only the last by name)."""
        transport = FakeTransport()
        run = pc.gather(
            self.lightspeed(),
            mode="manual",
            state=MemoryStore(),
            transport=transport,
            workdir=tmp_path,
        )
        assert run.status == "ok"
        with transport.open(0) as tar:
            assert json.loads(read_member(tar, "./config.json")) == {"platform": "galaxy"}
            assert json.loads(read_member(tar, "./instance_info.json")) == {"node": "n1"}
