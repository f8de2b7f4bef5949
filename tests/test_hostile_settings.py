"""Hostile settings from every front-end: overflow, NaN, wrong types, destinations from two layers.

Every converter (flags, environment, config file, Django's dict) refuses an
out-of-range, non-finite or absurd value with one line naming the setting
and what it accepts; a flag beats the environment for the destination as
for everything else, and a message names where a value came from.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli

import pipeline_collector as pc
from pipeline_collector.cli.config import settings
from pipeline_collector.cli.effects import build_transport
from pipeline_collector.cli.exits import UsageError
from pipeline_collector.cli.options import count, parse_duration, parse_size, positive_float
from pipeline_collector.cli.parser import parse_args
from pipeline_collector.cli.secrets import Redactor
from pipeline_collector.config import MOST_BYTES
from pipeline_collector.django import destination

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/jobs_collectors.py"
SECRET = "s3cr3t-t0ken-value"
URL_ENV = {
    "PIPELINE_COLLECTOR_URL": "https://ingress.example/api/upload",
    "PIPELINE_COLLECTOR_CONTENT_TYPE": "application/vnd.redhat.tower.analytics+tgz",
    "PIPELINE_COLLECTOR_TIMEOUT": "5",
}
HTTP = {"URL": "https://ingress.example/api", "CONTENT_TYPE": "application/x+tgz"}


class TestConverters:
    """Each parser refuses overflow and non-finite text with ArgumentTypeError, never another."""

    @pytest.mark.parametrize(
        ("parse", "text", "words"),
        [
            (parse_size, "9" * 400, "a size of 400 digits is out of range"),
            (parse_size, "5000000T", f"at most {MOST_BYTES} bytes"),
            (parse_size, str(MOST_BYTES + 1), "out of range"),
            (parse_size, "0.0000001", "a size must be positive"),
            (parse_duration, "9999999999", "out of range: at most 36500 days"),
            (parse_duration, "9" * 400 + "w", "out of range"),
            (parse_duration, "36501d", "out of range"),
            (positive_float, "nan", "'nan' is not a finite number"),
            (positive_float, "inf", "is not a finite number"),
            (positive_float, "-inf", "is not a finite number"),
            (positive_float, "1e309", "is not a finite number"),
            (positive_float, "1e7", "out of range: at most 1e6"),
            (count, "9" * 5000, "a number of 5000 digits is out of range"),
            (count, str(10**6 + 1), "out of range"),
        ],
    )
    def test_refused_in_one_line(self, parse: Callable[[str], Any], text: str, words: str) -> None:
        """The error is an ArgumentTypeError naming the range, short whatever the input."""
        with pytest.raises(argparse.ArgumentTypeError) as caught:
            parse(text)
        assert words in str(caught.value) and len(str(caught.value)) < 200

    @pytest.mark.parametrize(
        ("parse", "text", "value"),
        [
            (parse_size, str(MOST_BYTES), MOST_BYTES),
            (parse_duration, "36500d", 36500),
            (positive_float, "1e6", 1e6),
            (count, str(10**6), 10**6),
        ],
    )
    def test_the_bound_itself_is_taken(
        self, parse: Callable[[str], Any], text: str, value: Any
    ) -> None:
        """At the bound a value is accepted; only past it is it refused."""
        got = parse(text)
        assert (got.days if hasattr(got, "days") else got) == value


class TestFromEveryFrontEnd:
    """The command line, the environment and the config file end in exit 2 and one line."""

    @pytest.mark.parametrize(
        ("variable", "value", "words"),
        [
            ("PIPELINE_COLLECTOR_HORIZON", "9999999999", "out of range: at most 36500 days"),
            ("PIPELINE_COLLECTOR_MAX_DATA_SIZE", "9" * 400, "400 digits is out of range"),
            ("PIPELINE_COLLECTOR_TIMEOUT", "nan", "'nan' is not a finite number"),
        ],
    )
    def test_environment(self, variable: str, value: str, words: str) -> None:
        """A hostile variable stops gather before anything runs: exit 2, the variable named."""
        env = {"PIPELINE_COLLECTOR_MODULE": EXAMPLE, variable: value}
        if variable.endswith("TIMEOUT"):
            env.update(
                PIPELINE_COLLECTOR_URL="https://ingress.example/api",
                PIPELINE_COLLECTOR_CONTENT_TYPE="application/vnd.redhat.tower.analytics+tgz",
            )
        result = run_cli("gather", env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and variable in lines[0] and words in lines[0]
        assert "Traceback" not in result.stderr

    @pytest.mark.parametrize(
        ("line", "words"),
        [
            ("timeout = nan", "timeout: 'nan' is not a finite number"),
            ("max-data-size = inf", "max-data-size: 'inf' is not a size"),
            ('horizon = "99999999999d"', "horizon: '99999999999d' is out of range"),
            ("max-upload-size = 1e400", "max-upload-size: 'inf' is not a size"),
        ],
    )
    def test_config_file(self, tmp_path: Path, line: str, words: str) -> None:
        """A hostile TOML value is refused with the file and key named."""
        config = tmp_path / "c.toml"
        config.write_text(line + "\n")
        with pytest.raises(UsageError) as caught:
            settings(parse_args(["gather", EXAMPLE, "--config", str(config)]), "gather", {})
        assert str(config) in str(caught.value) and words in str(caught.value)

    def test_flag(self) -> None:
        """--timeout nan is refused by argparse with exit 2."""
        result = run_cli(
            "gather", EXAMPLE, "--url", "https://x.example/u", "--timeout", "nan", env={}
        )
        assert result.returncode == 2 and "not a finite number" in result.stderr


class TestDestinationLayers:
    """The destination comes whole from the highest layer that names one."""

    def test_a_dir_flag_beats_a_url_variable(self, tmp_path: Path) -> None:
        """--dir wins over PIPELINE_COLLECTOR_URL; the URL's own settings go with it."""
        o = settings(parse_args(["gather", EXAMPLE, "--dir", str(tmp_path)]), "gather", URL_ENV)
        assert o["dir"] == str(tmp_path)
        assert not {"url", "content_type", "timeout"} & set(o)
        transport, shown = build_transport(o, URL_ENV, Redactor())
        assert isinstance(transport, pc.DirectoryTransport) and shown == f"directory {tmp_path}"

    def test_a_url_flag_beats_a_dir_variable(self) -> None:
        """--url wins over PIPELINE_COLLECTOR_DIR."""
        env = {"PIPELINE_COLLECTOR_DIR": "/tmp/somewhere"}
        argv = ["gather", EXAMPLE, "--url", "https://x.example/u", "--content-type", "a/b"]
        o = settings(parse_args(argv), "gather", env)
        assert o["url"] == "https://x.example/u" and "dir" not in o

    def test_two_variables_are_named_as_variables(self) -> None:
        """Two destinations in the environment: the error names both variables, no flag."""
        env = {"PIPELINE_COLLECTOR_DIR": "/tmp/x", **URL_ENV}
        o = settings(parse_args(["gather", EXAMPLE]), "gather", env)
        with pytest.raises(UsageError) as caught:
            build_transport(o, env, Redactor())
        message = str(caught.value)
        assert "PIPELINE_COLLECTOR_DIR and PIPELINE_COLLECTOR_URL" in message
        assert "--dir" not in message

    def test_a_stray_http_variable_is_named(self) -> None:
        """An HTTP setting from the environment with no URL anywhere names its variable."""
        env = {"PIPELINE_COLLECTOR_CONTENT_TYPE": "a/b"}
        o = settings(parse_args(["gather", EXAMPLE]), "gather", env)
        with pytest.raises(UsageError, match=r"^PIPELINE_COLLECTOR_CONTENT_TYPE is an HTTP"):
            build_transport(o, env, Redactor())

    def test_the_flag_wins_end_to_end(self, tmp_path: Path, jobs_db: Path) -> None:
        """gather --dir with a URL in the environment ships to the folder."""
        env = {**URL_ENV, "JOBS_DATABASE": str(jobs_db)}
        result = run_cli(
            "gather", EXAMPLE, "--mode", "manual", "--dir", str(tmp_path / "out"),
            "--state", str(tmp_path / "state.json"), "--horizon", "2d", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert list((tmp_path / "out").rglob("*.tar.gz"))


class TestDjangoTransport:
    """PIPELINE_COLLECTOR['TRANSPORT'] values are checked key by key, secrets unshown."""

    @pytest.mark.parametrize(
        ("more", "words"),
        [
            ({"TIMEOUT": "soon"}, "['TIMEOUT']: 'soon' is not a number"),
            ({"TIMEOUT": float("nan")}, "['TIMEOUT']: 'nan' is not a finite number"),
            ({"TIMEOUT": 0}, "['TIMEOUT'] must be more than 0 seconds"),
            ({"TIMEOUT": [5]}, "['TIMEOUT'] must be a number of seconds, not list"),
            ({"HEADERS": f"Authorization: Bearer {SECRET}"}, "must be a dict of header names"),
            ({"HEADERS": {"X-Token": 5}}, "header 'X-Token' must map a name to a string"),
            ({"ALLOW_INSECURE": "no"}, "['ALLOW_INSECURE'] must be True or False, not str"),
            ({"PROXY": 8080}, "['PROXY'] must be a non-empty string, not int"),
            ({"URL": None}, "give DIRECTORY, or URL and CONTENT_TYPE"),
        ],
    )
    def test_http_values(self, more: dict[str, Any], words: str) -> None:
        """Each wrong value is a ConfigurationError naming its key; a secret is not echoed."""
        with pytest.raises(pc.ConfigurationError) as caught:
            destination.build({**HTTP, **more})
        assert words in str(caught.value) and SECRET not in str(caught.value)

    @pytest.mark.parametrize("folder", [None, "", 5])
    def test_a_directory_that_is_not_a_path(self, folder: Any) -> None:
        """DIRECTORY None, empty or a number is refused, naming DIRECTORY."""
        with pytest.raises(pc.ConfigurationError, match=r"\['DIRECTORY'\] must be a folder path"):
            destination.build({"DIRECTORY": folder})

    def test_good_values_build(self, tmp_path: Path) -> None:
        """A timeout as text or number, headers as a dict, build an HTTP transport."""
        made = destination.build({**HTTP, "TIMEOUT": "7.5", "HEADERS": {"X-A": "b"}})
        assert isinstance(made, pc.HttpTransport) and made.timeout == (7.5, 7.5)
        made.close()
        assert isinstance(destination.build({"DIRECTORY": tmp_path}), pc.DirectoryTransport)
