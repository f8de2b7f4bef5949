"""Each command's --help is held against what the command really accepts.

Every example line in a help text parses with the real parser of the
command it names; every ``--option`` a help text mentions is one of its
command's options (or, named as ``<command> --option``, of that command's);
and the exit codes a help lists are those the command can end with.
"""

from __future__ import annotations

import argparse
import re

import pytest
from support.docblocks import command_lines
from test_docs_blocks import accepted

from pipeline_collector.cli.commands import demo, init
from pipeline_collector.cli.parser import _build, build_parser
from pipeline_collector.ingress.cli import _parser as ingress_parser

_, PARSERS = _build()
OWN = {"demo": demo.build_parser(), "init": init.build_parser(), "ingress": ingress_parser()}
HELP: dict[str, argparse.ArgumentParser] = {"": build_parser(), **PARSERS, **OWN}

# What each command can end with; the tests of each code are named beside it.
EXITS = {
    "": {0, 1, 2, 3, 4, 5, 6},  # the command list shows gather's
    "gather": {
        0,
        1,
        2,
        3,
        4,
        5,
        6,
    },  # test_exit_codes, test_cli, test_preflight, test_unwritable_state
    "plan": {0, 1, 2, 6},  # test_exit_codes: no lock, no gate, no shipping
    "status": {0, 1, 2, 6},  # test_status, test_exit_codes
    "inspect": {0, 1, 2},
    "bench": {0, 1, 2},  # test_bench, test_module_sources
    "preflight": {0, 1, 2},  # test_preflight
    "demo": {0, 1, 2, 3, 6},  # test_demo, test_exit_codes
    "init": {0, 2},  # test_first_run
    "ingress": set(),  # runs until stopped; says so in words
}
_OPTION = re.compile(r"(?<![\w/-])--[a-z][a-z0-9-]*")


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def example_lines(text: str) -> list[str]:
    """The lines of a help text that run a command, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if re.match(r"\s*(pipeline-collector|python -m pipeline_collector)\b", line)
    ]


@pytest.mark.parametrize("command", sorted(HELP), ids=lambda c: c or "main")
def test_every_example_parses(command: str) -> None:
    text = HELP[command].format_help()
    examples = example_lines(text)
    assert examples or command == "ingress"
    for line in examples:
        for words in command_lines(line):
            assert accepted(words) is None, (command, line)


@pytest.mark.parametrize("command", sorted(HELP), ids=lambda c: c or "main")
def test_every_option_named_is_the_commands_own(command: str) -> None:
    """An option in prose or an example is one the command has; another command's is named
    with it (``gather --preflight``)."""
    text = HELP[command].format_help()
    own = options_of(HELP[command])
    if command == "":  # the command list shows gather's exit codes, which name its options
        own |= options_of(HELP["gather"])
    examples = set(example_lines(text))
    strangers = []
    for raw in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = raw.strip()
        if line in examples:
            continue  # parsed whole by test_every_example_parses
        for match in _OPTION.finditer(line):
            flag = match.group()
            before = line[: match.start()].split()
            other = before[-1] if before else ""
            if flag in own or (other in HELP and flag in options_of(HELP[other])):
                continue
            strangers.append(f"{flag} in {line!r}")
    assert strangers == []


@pytest.mark.parametrize("command", sorted(HELP), ids=lambda c: c or "main")
def test_the_exit_codes_listed_are_the_commands(command: str) -> None:
    text = HELP[command].format_help()
    section = re.split(r"exit codes:\n", text, maxsplit=1)
    listed = set()
    if len(section) == 2:
        listed = {int(m) for m in re.findall(r"^  (\d+)  ", section[1], re.M)}
    assert listed == EXITS[command]


def test_plan_lists_neither_the_lock_nor_the_gates_nor_a_header() -> None:
    """What the issue found: plan's help named exit codes 3 and 4 and a --header it lacks."""
    text = PARSERS["plan"].format_help()
    assert "--header" not in text and "\n  3  " not in text and "\n  4  " not in text
