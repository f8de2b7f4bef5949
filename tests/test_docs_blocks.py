"""Every code block of README.md and docs/ is run as written, or marked as a fragment and checked.

The marks are read by ``support.docblocks``: a block the suite does not run
must say why (a fragment of a larger whole, output, or run by another test
named in the mark); an unmarked block fails here.  Runnable blocks run from
a fresh temporary folder with the package installed as it is here; a
fragment still has to compile or parse, and each ``pipeline-collector``
command in any block is parsed by the command's real parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.docblocks import ROOT, Block, blocks, command_lines, pages, sessions

from pipeline_collector.cli.commands import demo, init
from pipeline_collector.cli.config import from_file, load_config
from pipeline_collector.cli.parser import parse_args
from pipeline_collector.ingress.cli import _parser as ingress_parser

ALL = [b for page in pages() for b in blocks(page)]
SHELL = ("sh", "console", "")


def test_the_pages_have_blocks() -> None:
    assert len(ALL) > 60 and {b.page for b in ALL} >= {"README.md", "docs/cli.md"}


def test_every_block_is_marked() -> None:
    """A block the suite neither runs nor checks would drift unseen: each says what it is."""
    assert [b.where for b in ALL if b.kind is None] == []


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "tested"], ids=lambda b: b.where)
def test_a_block_run_elsewhere_names_a_test_that_reads_its_page(block: Block) -> None:
    assert block.arg is not None
    test = ROOT / block.arg
    assert test.is_file() and test.name.startswith("test_"), block.arg
    assert Path(block.page).name in test.read_text(encoding="utf-8"), block.arg


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "recipe"], ids=lambda b: b.where)
def test_a_recipe_is_run_by_the_logging_tests(block: Block) -> None:
    runner = (ROOT / "tests" / "test_logging_recipes.py").read_text(encoding="utf-8")
    assert block.lang == "python" and "recipe:" in runner
    assert f"<!-- recipe: {block.arg} -->" in (ROOT / "docs" / "logging.md").read_text()


def accepted(words: list[str]) -> str | None:
    """Why the command's real parser refuses ``words``, or ``None``."""
    if not words:
        return "no command"
    parsers = {
        "demo": demo.build_parser,
        "init": init.build_parser,
        "ingress": ingress_parser,
    }
    try:
        if words[0] in parsers:
            parsers[words[0]]().parse_args(words[1:])
        else:
            parse_args(words)
    except SystemExit as e:
        return None if e.code == 0 else f"exit {e.code}"
    return None


COMMANDS = [
    (b, words) for b in ALL if b.lang in SHELL and b.kind != "output"
    for words in command_lines(b.text)
]  # fmt: skip


def test_the_pages_show_commands() -> None:
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(
    ("block", "words"), COMMANDS, ids=[f"{b.where} {' '.join(w[:2])}" for b, w in COMMANDS]
)
def test_every_command_shown_is_accepted_by_its_parser(
    block: Block, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each pipeline-collector command in any block, run or not, parses as written."""
    problem = accepted(words)
    assert problem is None, (block.where, words, capsys.readouterr().err)


FRAGMENTS = [b for b in ALL if b.kind == "fragment"]


@pytest.mark.parametrize("block", FRAGMENTS, ids=lambda b: b.where)
def test_a_fragment_still_reads(block: Block, tmp_path: Path) -> None:
    """Python compiles, JSON and TOML parse (a TOML config's keys are gather's settings)."""
    if block.lang == "python":
        compile(block.text, block.where, "exec")
    elif block.lang == "json":
        for line in block.text.split("\n\n"):
            json.loads(line)
    elif block.lang == "toml":  # read as gather reads its --config file
        (tmp_path / "config.toml").write_text(block.text, encoding="utf-8")
        from_file(load_config(tmp_path / "config.toml"), "gather", block.where)
    elif block.lang == "yaml":
        import yaml

        yaml.safe_load(block.text)
    else:
        assert block.lang in SHELL, f"{block.where}: a fragment in {block.lang!r}"


def fresh_env(folder: Path) -> dict[str, str]:
    """This interpreter's scripts first on PATH, temporary files and the default lock in ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    scripts = str(Path(sys.executable).absolute().parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    (folder / ".tmp").mkdir()
    env["TMPDIR"] = str(folder / ".tmp")
    env["XDG_RUNTIME_DIR"] = str(folder / ".tmp")
    return env


def run_block(block: Block, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    name = f"block-{block.line}"
    if block.lang == "python":
        (folder / f"{name}.py").write_text(block.text, encoding="utf-8")
        command = [sys.executable, f"{name}.py"]
    else:
        assert block.lang == "sh", f"{block.where}: cannot run {block.lang!r}"
        (folder / f"{name}.sh").write_text(block.text, encoding="utf-8")
        command = ["bash", "-e", "-o", "pipefail", f"{name}.sh"]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


SESSIONS = sessions()


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_a_runnable_block_runs_as_written(name: str, tmp_path: Path) -> None:
    """The blocks of one session, in page order, from one fresh folder: each exits 0."""
    env = fresh_env(tmp_path)
    for block in SESSIONS[name]:
        done = run_block(block, tmp_path, env)
        assert done.returncode == 0, (block.where, done.stdout[-3000:], done.stderr[-3000:])
