"""Hints speak the language of whoever reads them.

A command-line user is told of options (``--allow-insecure``), never of a
Python keyword (``allow_insecure=True``); a Python user who passes a URL
where a transport, store or lock belongs is told of the adapter that URL
names.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support import cli

import pipeline_collector as pc

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "jobs_collectors.py")
TYPE = "application/vnd.redhat.tower.analytics+tgz"
# A Python keyword argument as a hint would write it: ``allow_insecure=True``, ``max_data_size=``.
PYTHON_KEYWORD = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+=")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command with console logs, as on a terminal."""
    console = {**env, "PIPELINE_COLLECTOR_LOG_FORMAT": "console"}
    return cli.run_cli(*args, env=console, cwd=ROOT, timeout=120)


CASES = {
    "basic auth over http": (
        ["--url", "http://127.0.0.1:9/upload", "--content-type", TYPE, "--user", "me"],
        {"PIPELINE_COLLECTOR_PASSWORD": "pw"},
        "--url http://127.0.0.1:9/upload is plain http:// but the credentials need TLS;"
        " use https:// or pass --allow-insecure",
    ),
    "a token URL over http": (
        ["--url", "https://ingress.example/upload", "--content-type", TYPE,
         "--token-url", "http://sso.example/token", "--client-id", "svc"],
        {"PIPELINE_COLLECTOR_CLIENT_SECRET": "s"},
        "--token-url http://sso.example/token is plain http://",
    ),
    "a content type that is no media type": (
        ["--url", "https://ingress.example/upload", "--content-type", "tower analytics"],
        {},
        "--content-type must be the service's registered type",
    ),
    "a size too small for an archive": (
        ["--max-upload-size", "64KiB"],
        {},
        "--max-upload-size 65536 (64.0 KiB) is too small",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("args", "env", "words"), CASES.values(), ids=CASES.keys())
def test_the_command_line_names_options_not_python_keywords(
    args: list[str], env: dict[str, str], words: str
) -> None:
    done = run_cli("gather", EXAMPLE, "--mode", "manual", "--state", "s.json", *args, **env)
    assert done.returncode == 2
    assert words in done.stderr
    assert PYTHON_KEYWORD.findall(done.stderr) == []


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("transport", "https://ingress.example/upload", "pc.HttpTransport(url='https://ingress"),
        ("transport", "s3://analytics/eda/prod", "S3Transport(bucket='analytics', prefix='eda/"),
        ("transport", "out/", "DirectoryTransport('out/')"),
        ("state", "sqlite:///state.db", "SqliteStore('state.db')"),
        ("state", "postgresql://db/analytics", "PostgresStore.from_dsn(dsn)"),
        ("lock", "postgresql://db/analytics", "PostgresAdvisoryLock.from_dsn(dsn,"),
    ],
)
def test_a_url_in_place_of_an_adapter_names_the_adapter_it_means(
    name: str, value: str, words: str
) -> None:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: object) -> dict[str, str]:
        return {}

    with pytest.raises(pc.ConfigurationError) as caught:
        pc.gather([config], **{name: value})  # type: ignore[arg-type]
    assert words in str(caught.value)
    if name == "transport" and "://" in value:
        assert "DirectoryTransport" not in str(caught.value)
