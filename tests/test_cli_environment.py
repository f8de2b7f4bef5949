"""Settings from PIPELINE_COLLECTOR_* variables: parsed like flags, below flags, above the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.cli import run_cli

from pipeline_collector.cli.config import settings
from pipeline_collector.cli.declarations import (
    ENV_CONFIG,
    OPTIONS,
    SETTINGS_COMMANDS,
    env_names,
    options_of,
)
from pipeline_collector.cli.environment import BOOLEANS, from_env, parse_bool
from pipeline_collector.cli.exits import UsageError
from pipeline_collector.cli.parser import parse_args

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/jobs_collectors.py"


class TestGatherFromTheEnvironment:
    def test_environment_alone_ships_to_a_folder(self, tmp_path: Path, jobs_db: Path) -> None:
        """`gather` with no argument at all, set up by variables only, ships and saves state."""
        env = {
            "JOBS_DATABASE": str(jobs_db),
            "PIPELINE_COLLECTOR_MODULE": EXAMPLE,
            "PIPELINE_COLLECTOR_MODE": "manual",
            "PIPELINE_COLLECTOR_STATE": str(tmp_path / "state.json"),
            "PIPELINE_COLLECTOR_LOCK": str(tmp_path / "run.lock"),
            "PIPELINE_COLLECTOR_DIR": str(tmp_path / "shipped"),
            "PIPELINE_COLLECTOR_WORKDIR": str(tmp_path / "work"),
            "PIPELINE_COLLECTOR_MAX_DATA_SIZE": "64KiB",
            "PIPELINE_COLLECTOR_LOG_FORMAT": "json",
            "PIPELINE_COLLECTOR_PROGRESS": "off",
        }
        result = run_cli("gather", env=env)
        assert result.returncode == 0, result.stderr
        shipped = sorted((tmp_path / "shipped" / "data").rglob("*.tar.gz"))
        assert len(shipped) > 1  # 64 KiB parts: the events take several archives
        state = json.loads((tmp_path / "state.json").read_text())
        assert "job_events" in state["entries"]
        for line in result.stderr.splitlines():
            json.loads(line)  # JSON logs, as PIPELINE_COLLECTOR_LOG_FORMAT said

    def test_config_file_named_by_the_environment(self, tmp_path: Path, jobs_db: Path) -> None:
        """PIPELINE_COLLECTOR_CONFIG names the config file when --config is not given."""
        config = tmp_path / "collector.toml"
        config.write_text(f'module = "{EXAMPLE}"\nworkdir = "{tmp_path / "kept"}"\n')
        env = {"JOBS_DATABASE": str(jobs_db), ENV_CONFIG: str(config)}
        result = run_cli("gather", "--log-format", "json", env=env)
        assert result.returncode == 0, result.stderr
        assert list((tmp_path / "kept").glob("*.tar.gz"))  # a dry run keeps them there

    def test_bad_value_is_one_line_naming_the_variable(self, tmp_path: Path) -> None:
        """A variable that does not parse stops the command: exit 2, one line, name and value."""
        result = run_cli(
            "gather", EXAMPLE, env={"PIPELINE_COLLECTOR_MAX_DATA_SIZE": "lots", "LANG": "C"}
        )
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "PIPELINE_COLLECTOR_MAX_DATA_SIZE" in lines[0] and "'lots'" in lines[0]
        assert "Traceback" not in result.stderr

    def test_password_in_a_url_variable_is_not_echoed(self, tmp_path: Path) -> None:
        """A URL with a password in PIPELINE_COLLECTOR_URL is refused without showing it."""
        env = {
            "PIPELINE_COLLECTOR_URL": "https://me:sekrit-pass@x.example.com/u",
            "PIPELINE_COLLECTOR_CONTENT_TYPE": "application/vnd.redhat.tower.analytics+tgz",
        }
        result = run_cli("gather", EXAMPLE, "--log-format", "console", env=env)
        assert result.returncode == 2
        assert "carries a password" in result.stderr
        assert "sekrit-pass" not in result.stderr + result.stdout


def _settings(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    return settings(parse_args(["gather", *argv]), "gather", env)


class TestPrecedence:
    def test_flags_then_environment_then_file_then_defaults(self, tmp_path: Path) -> None:
        """Each layer wins over the ones below it, and an absent setting stays absent."""
        config = tmp_path / "c.toml"
        config.write_text('prefix = "from-file"\nhorizon = "2w"\nmode = "manual"\n')
        env = {"PIPELINE_COLLECTOR_PREFIX": "from-env", "PIPELINE_COLLECTOR_MODE": "scheduled"}
        flags = ["--config", str(config), "--prefix", "from-flag"]
        got = _settings(flags, env)
        assert got["prefix"] == "from-flag"  # flag over env and file
        assert got["mode"] == "scheduled"  # env over file
        assert str(got["horizon"]) == "14 days, 0:00:00"  # file over default
        assert "max_data_size" not in got  # default: the command's own
        assert _settings(["--config", str(config)], env)["prefix"] == "from-env"
        assert _settings(["--config", str(config)], {})["prefix"] == "from-file"

    def test_config_flag_wins_over_config_variable(self, tmp_path: Path) -> None:
        """--config names the file even when PIPELINE_COLLECTOR_CONFIG names another."""
        (tmp_path / "a.toml").write_text('prefix = "a"\n')
        (tmp_path / "b.toml").write_text('prefix = "b"\n')
        env = {ENV_CONFIG: str(tmp_path / "b.toml")}
        assert _settings(["--config", str(tmp_path / "a.toml")], env)["prefix"] == "a"
        assert _settings([], env)["prefix"] == "b"

    def test_empty_variable_is_unset(self) -> None:
        """A variable rendered empty by a template counts as not set."""
        assert _settings([], {"PIPELINE_COLLECTOR_MODE": "", ENV_CONFIG: " "}) == {}

    def test_inspect_and_bench_take_the_command_line_only(self) -> None:
        """The environment of a service never changes what inspect or bench report."""
        env = {"PIPELINE_COLLECTOR_MAX_UPLOAD_SIZE": "1KiB", "PIPELINE_COLLECTOR_JSON": "1"}
        assert from_env(env, "inspect") == {} and from_env(env, "bench") == {}
        assert from_env(env, "status") == {"json": True}


class TestValues:
    def test_values_use_the_flags_converters(self) -> None:
        """Sizes, durations, datetimes, lists, counts and booleans parse as their flags do."""
        env = {
            "PIPELINE_COLLECTOR_MAX_UPLOAD_SIZE": "50MiB",
            "PIPELINE_COLLECTOR_HORIZON": "12h",
            "PIPELINE_COLLECTOR_SINCE": "2026-11-01T00:00:00Z",
            "PIPELINE_COLLECTOR_SUBSET": "jobs, job_events",
            "PIPELINE_COLLECTOR_VERBOSE": "2",
            "PIPELINE_COLLECTOR_ALLOW_INSECURE": "yes",
            "PIPELINE_COLLECTOR_SEND_IDENTITY": "false",
            "PIPELINE_COLLECTOR_HEADER": "User-Agent=svc/1.0, like curl\nX-Version=2",
        }
        got = from_env(env, "gather")
        assert got["max_upload_size"] == 50 * 2**20
        assert got["horizon"].total_seconds() == 12 * 3600
        assert got["since"].isoformat() == "2026-11-01T00:00:00+00:00"
        assert got["subset"] == ["jobs", "job_events"]
        assert got["verbose"] == 2
        assert got["allow_insecure"] is True and got["identity"] is False
        assert got["headers"] == [("User-Agent", "svc/1.0, like curl"), ("X-Version", "2")]

    @pytest.mark.parametrize("text", [*sorted(BOOLEANS), "TRUE", " Yes "])
    def test_boolean_spellings(self, text: str) -> None:
        """1/0, true/false and yes/no, in any case, are the booleans."""
        assert parse_bool(text) is BOOLEANS[text.strip().lower()]

    @pytest.mark.parametrize(
        ("name", "value", "words"),
        [
            ("PIPELINE_COLLECTOR_ALLOW_INSECURE", "on", "not a boolean"),
            ("PIPELINE_COLLECTOR_MODE", "fast", "not one of dry-run, manual, scheduled"),
            ("PIPELINE_COLLECTOR_HORIZON", "forever", "not a duration"),
            ("PIPELINE_COLLECTOR_SINCE", "2026-11-01", "no timezone"),
            ("PIPELINE_COLLECTOR_VERBOSE", "lots", "not a whole number"),
            ("PIPELINE_COLLECTOR_HEADER", "Authorization=Bearer x", "credentials"),
        ],
    )
    def test_refused_values(self, name: str, value: str, words: str) -> None:
        """A value that does not parse is an error naming the variable and the problem."""
        with pytest.raises(UsageError) as caught:
            from_env({name: value}, "gather")
        message = str(caught.value)
        assert message.startswith(f"environment variable {name}: ") and words in message
        assert "\n" not in message
        assert "Bearer x" not in message  # a credentials header is never echoed


class TestDeclaredVariables:
    def test_every_setting_has_a_variable(self) -> None:
        """Each option of gather, plan and status has one, bar --proxy (its own is a secret)."""
        for command in SETTINGS_COMMANDS:
            missing = [
                o.name
                for o in options_of(command)
                if not o.secret and not o.reads_env(command) and o.name != "proxy"
            ]
            assert missing == [], command

    def test_variables_are_named_after_their_options(self) -> None:
        """PIPELINE_COLLECTOR_<OPTION>, upper case, dashes as underscores, but where taken."""
        renamed = {"identity": "PIPELINE_COLLECTOR_SEND_IDENTITY"}
        for option in OPTIONS:
            if option.secret or not option.env or not option.commands & SETTINGS_COMMANDS:
                continue
            expected = "PIPELINE_COLLECTOR_" + option.name.upper().replace("-", "_")
            assert option.env == renamed.get(option.name, expected), option.name

    def test_help_shows_each_variable(self) -> None:
        """Every command's --help names the variable of each option it reads from the environment."""
        for command in sorted(SETTINGS_COMMANDS):
            result = run_cli(command, "--help", env={})
            assert result.returncode == 0
            text = " ".join(result.stdout.split())
            for option in options_of(command):
                if option.reads_env(command):
                    assert f"[env {option.env}]" in text, (command, option.name)
            assert "The command line wins over the environment" in text
            assert ENV_CONFIG in text

    def test_known_variables_include_the_secrets(self) -> None:
        """The table of variables names the secrets too, and no variable twice."""
        names = env_names()
        assert names["PIPELINE_COLLECTOR_PASSWORD"].secret
        assert not names["PIPELINE_COLLECTOR_DIR"].secret
        assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names)
