"""A header that is not NAME=VALUE is refused without its text: the value may be a token.

The same parser serves ``--header``, ``PIPELINE_COLLECTOR_HEADER`` and the
config file; each is tried through the command, in its own process.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/jobs_collectors.py"
SECRET = "tok-S3cret-4242"

# (the text given, the header name the message may show, or None)
HOSTILE = [
    (f"Authorization: Bearer {SECRET}", "Authorization"),
    (f"X-Trace: {SECRET}", "X-Trace"),
    (f"Cookie:session={SECRET}", "Cookie"),
    (f"Authorization: Bearer x={SECRET}", "Authorization"),
    (f"X-Api-Key {SECRET}", None),
    (SECRET, None),
    (f"={SECRET}", None),
    (f"{SECRET}:", None),
]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("gather", str(ROOT / EXAMPLE), *args, env=env, cwd=cwd, timeout=120)


def check(result: subprocess.CompletedProcess[str], name: str | None) -> None:
    assert result.returncode == 2, result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "S3cret" not in result.stderr + result.stdout
    # argparse adds its usage around the message; the message itself is one line
    [line] = [ln for ln in result.stderr.splitlines() if "NAME=VALUE" in ln or "header " in ln]
    if name is not None:
        assert f"header {name}" in line
    else:
        assert "NAME=VALUE" in line and "not shown" in line


@pytest.mark.parametrize(("text", "name"), HOSTILE)
def test_header_flag(tmp_path: Path, text: str, name: str | None) -> None:
    check(run(["--workdir", str(tmp_path), "--header", text], {}, tmp_path), name)


@pytest.mark.parametrize(("text", "name"), HOSTILE)
def test_header_variable(tmp_path: Path, text: str, name: str | None) -> None:
    env = {"PIPELINE_COLLECTOR_HEADER": text, "PIPELINE_COLLECTOR_WORKDIR": str(tmp_path)}
    result = run([], env, tmp_path)
    check(result, name)
    assert "PIPELINE_COLLECTOR_HEADER" in result.stderr


@pytest.mark.parametrize(("text", "name"), HOSTILE)
def test_header_in_the_config_file(tmp_path: Path, text: str, name: str | None) -> None:
    config = tmp_path / "collector.toml"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    config.write_text(f'header = ["User-Agent=svc/1.0", "{escaped}"]\n')
    result = run(["--workdir", str(tmp_path), "--config", str(config)], {}, tmp_path)
    check(result, name)
    assert str(config) in result.stderr
