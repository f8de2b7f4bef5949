"""The code blocks of README.md and docs/*.md, with the mark each carries.

Every fenced block has an HTML comment on the line right before it that
says what the suite does with it:

``<!-- run -->``, ``<!-- run: NAME -->``
    run as written from a fresh temporary folder (``sh`` with bash,
    ``python`` with this interpreter); the blocks of one file that share a
    NAME run in order in one folder, as a reader following the page would.
``<!-- tested: tests/test_x.py -->``
    run or compared as written by that test file, which names the page.
``<!-- recipe: NAME -->``
    a logging recipe, run as written by tests/test_logging_recipes.py.
``<!-- fragment -->``, ``<!-- fragment: why -->``
    a piece of a larger whole (it names a module, a server or a secret the
    reader has): not run, but Python must compile, TOML and JSON must parse,
    and each ``pipeline-collector`` command in it must be accepted by the
    real parser.
``<!-- output -->``
    what a command prints, or a diagram: shown, not run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attrs

__all__ = ["ROOT", "Block", "blocks", "command_lines", "pages", "sessions"]

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
_MARK = re.compile(r"^<!-- (?P<kind>run|tested|recipe|fragment|output)(?::\s*(?P<arg>.*?))? -->$")


@attrs.frozen(kw_only=True)
class Block:
    """One fenced block of a page: where it is, its language, its mark and its text."""

    page: str  # relative to the repository, e.g. docs/cli.md
    line: int  # the fence's line, 1-based
    lang: str
    kind: str | None  # run, tested, recipe, fragment, output; None when unmarked
    arg: str | None
    text: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path) -> Iterator[Block]:
    """The fenced blocks of ``page``, in order, each with the mark on the line before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    n = 0
    while n < len(lines):
        fence = _FENCE.match(lines[n])
        if fence is None:
            n += 1
            continue
        start = n
        n += 1
        body = []
        while n < len(lines) and lines[n].strip() != "```":
            body.append(lines[n][len(fence["indent"]) :])
            n += 1
        mark = _MARK.match(lines[start - 1].strip()) if start > 0 else None
        yield Block(
            page=page.relative_to(ROOT).as_posix(),
            line=start + 1,
            lang=fence["lang"],
            kind=mark["kind"] if mark else None,
            arg=(mark["arg"] or None) if mark else None,
            text="\n".join(body) + "\n",
        )
        n += 1


def sessions() -> dict[str, list[Block]]:
    """The runnable blocks grouped by session: ``page#NAME``, or ``page:line`` alone."""
    found: dict[str, list[Block]] = {}
    for page in pages():
        for block in blocks(page):
            if block.kind == "run":
                name = f"{block.page}#{block.arg}" if block.arg else block.where
                found.setdefault(name, []).append(block)
    return found


def command_lines(text: str) -> Iterator[list[str]]:
    """Each ``pipeline-collector ...`` command of a shell text, as its words.

    Continuation lines are joined, comments dropped, environment assignments
    before the command and anything after a pipe, ``&&``, ``;`` or ``&``
    left out; ``$VAR`` and quoted words are kept as written.
    """
    import shlex

    joined = re.sub(r"\\\n\s*", " ", text)
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line.startswith("$ "):
            line = line[2:]
        if line.startswith("#") or "pipeline" not in line:
            continue
        for piece in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
            words = shlex.split(piece.rstrip("& "), comments=True)
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words = words[1:]
            if words[:1] == ["pipeline-collector"]:
                yield words[1:]
            elif words[:3] == ["python", "-m", "pipeline_collector.ingress"]:
                yield ["ingress", *words[3:]]
            elif words[:3] == ["python", "-m", "pipeline_collector"]:
                yield words[3:]
