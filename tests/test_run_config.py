"""One run configuration: every default stated once, and every front-end building the record.

The CLI (flags, environment, config file), Django's ``PIPELINE_COLLECTOR``
dict and ``gather``'s keywords each build a ``RunConfig``; given nothing,
each gives the record's own defaults, so a default changed in
``pipeline_collector.config`` changes everywhere.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

import pipeline_collector as pc
from pipeline_collector.cli.commands.common import run_config
from pipeline_collector.cli.config import settings
from pipeline_collector.cli.exits import UsageError
from pipeline_collector.cli.parser import parse_args
from pipeline_collector.config import DEFAULT_PREFIX, HORIZON, MAX_DATA_SIZE, MAX_UPLOAD_SIZE
from pipeline_collector.testing import FrozenClock

UNTIL = datetime(2026, 11, 27, tzinfo=timezone.utc)


class TestDefaultsOnce:
    """The record's defaults are the CLI's, Django's and gather's."""

    def test_the_record_holds_the_documented_defaults(self) -> None:
        """RunConfig() is a dry run over 4 weeks, 200 MiB parts, 100 MiB uploads, 'analytics'."""
        config = pc.RunConfig()
        assert (config.mode, config.horizon, config.prefix) == ("dry-run", HORIZON, DEFAULT_PREFIX)
        assert config.limits == pc.Limits(
            max_data_size=MAX_DATA_SIZE, max_upload_size=MAX_UPLOAD_SIZE
        )
        assert (
            200 * 2**20,
            100 * 2**20,
            timedelta(weeks=4),
        ) == (MAX_DATA_SIZE, MAX_UPLOAD_SIZE, HORIZON)

    @pytest.mark.parametrize("command", ["gather", "plan"])
    def test_the_cli_given_nothing_builds_the_default_record(self, command: str) -> None:
        """No flag, no variable, no file: the CLI's RunConfig equals RunConfig()."""
        o = settings(parse_args([command, "json"]), command, {})
        assert run_config(o) == pc.RunConfig()

    def test_the_cli_passes_on_what_it_was_given(self) -> None:
        """Flags and variables reach the record; what was not given keeps its default."""
        env = {"PIPELINE_COLLECTOR_PREFIX": "hub", "PIPELINE_COLLECTOR_HORIZON": "2w"}
        o = settings(parse_args(["gather", "json", "--max-data-size", "50MiB"]), "gather", env)
        expected = pc.RunConfig.from_values(
            prefix="hub", horizon=timedelta(weeks=2), max_data_size=50 * 2**20
        )
        assert run_config(o) == expected

    def test_gather_states_no_default_of_its_own(self) -> None:
        """Every setting keyword of gather defaults to None: the record decides."""
        parameters = inspect.signature(pc.gather).parameters
        for name in pc.RunConfig.setting_names():
            assert parameters[name].default is None, name

    def test_gather_keywords_and_the_record_are_one(self, tmp_path: Path) -> None:
        """A run given keywords reports the same plan as one given the record they build."""
        from pipeline_collector.demo import grow, jobs_collectors

        grow(tmp_path / "db", UNTIL)
        by_keywords = pc.gather(
            jobs_collectors(tmp_path / "db"),
            until=UNTIL,
            horizon=timedelta(days=2),
            clock=FrozenClock(UNTIL),
        )
        by_record = pc.gather(
            jobs_collectors(tmp_path / "db"),
            pc.RunConfig(until=UNTIL, horizon=timedelta(days=2)),
            clock=FrozenClock(UNTIL),
        )
        assert by_keywords.plan is not None and by_record.plan is not None
        assert by_keywords.plan.tasks == by_record.plan.tasks
        assert [a.sha256 for a in by_keywords.archives] == [a.sha256 for a in by_record.archives]

    def test_a_keyword_replaces_the_records_value(self, tmp_path: Path) -> None:
        """gather(config, prefix=...) runs with the keyword's prefix and the record's rest."""
        from pipeline_collector.demo import grow, jobs_collectors

        grow(tmp_path / "db", UNTIL)
        run = pc.gather(
            jobs_collectors(tmp_path / "db"),
            pc.RunConfig(until=UNTIL, prefix="first", workdir=tmp_path / "w"),
            prefix="second",
        )
        assert run.archives and all(a.name.startswith("second-") for a in run.archives)


class TestHostileSettings:
    """Absurd or dangerous values are refused before anything runs, naming the setting."""

    @pytest.mark.parametrize(
        ("values", "words"),
        [
            ({"prefix": "../escaped"}, "the archive prefix gave '../escaped'"),
            ({"prefix": "/abs/path"}, "the archive prefix gave '/abs/path'"),
            ({"prefix": "a\x00b"}, "the archive prefix gave 'a\\x00b'"),
            ({"prefix": ""}, "prefix='' must be a non-empty string"),
            ({"mode": "ship"}, "mode 'ship' must be one of"),
            ({"since": datetime(2026, 1, 1)}, "since=2026-01-01T00:00:00 has no timezone"),
            ({"since": "2026-01-01"}, "since='2026-01-01' must be a datetime, not str"),
            ({"horizon": timedelta(0)}, "horizon=datetime.timedelta(0) must be a timedelta"),
            ({"horizon": timedelta(days=99_999)}, "from 1 second to 3650 days"),
            ({"max_data_size": 0}, "max_data_size=0 must be positive"),
            ({"max_data_size": 10**400}, "max_data_size of 1329 bits is out of range"),
            ({"max_upload_size": float("nan")}, "max_upload_size=nan must be a whole number"),
            ({"max_in_flight": 0}, "must be a whole number from 1 to"),
            ({"max_in_flight": True}, "must be a whole number from 1 to"),
            ({"subset": "jobs"}, "subset='jobs' is one string; give a list"),
            ({"colour": "red"}, "unknown run setting 'colour'"),
        ],
    )
    def test_refused_with_the_setting_named(self, values: dict[str, Any], words: str) -> None:
        """Each hostile value gets a ConfigurationError whose message names it."""
        with pytest.raises(pc.ConfigurationError) as caught:
            pc.RunConfig.from_values(**values)
        assert words in str(caught.value)

    def test_a_bad_prefix_stops_gather_before_any_collector_runs(self, tmp_path: Path) -> None:
        """prefix='../x' is refused at the call: no collector is called, nothing is written."""
        called: list[str] = []

        @pc.register("config", "1.0", config=True)
        def config(**kwargs: Any) -> dict[str, str]:
            called.append("config")
            return {}

        with pytest.raises(pc.ConfigurationError, match="archive prefix"):
            pc.gather([config], prefix="../x", workdir=tmp_path / "w")
        assert called == [] and not (tmp_path / "w").exists()

    def test_the_cli_names_the_setting(self) -> None:
        """A bad --prefix is a usage error that names the archive prefix."""
        o = settings(parse_args(["gather", "json", "--prefix", "a/b"]), "gather", {})
        with pytest.raises(UsageError, match=r"archive prefix gave 'a/b'"):
            run_config(o)

    def test_the_cli_refuses_a_bad_prefix_with_exit_2(self, tmp_path: Path) -> None:
        """From the environment too: exit 2, one line, nothing written."""
        module = tmp_path / "mine.py"
        module.write_text(
            "import pipeline_collector as pc\n"
            "@pc.register('config', '1.0', config=True)\n"
            "def config(**kw):\n    return {}\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "pipeline_collector", "gather", str(module)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"PIPELINE_COLLECTOR_PREFIX": "../up", "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert "the archive prefix gave '../up'" in result.stderr
        assert list(tmp_path.parent.glob("up-*")) == []

    def test_limits_are_a_value_of_their_own(self) -> None:
        """Limits evolve like any record and check themselves."""
        limits = attrs.evolve(pc.Limits(), max_data_size=1024)
        assert limits.max_data_size == 1024
        with pytest.raises(pc.ConfigurationError, match="too small"):
            pc.Limits(max_upload_size=1000)
