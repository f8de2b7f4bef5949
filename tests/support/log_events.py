"""Find the log events the package emits, by reading its source.

A call ``<logger>.<level>("name", field=...)`` (or ``(a if c else b)("name", ...)``
where ``a`` and ``b`` are such methods) emits event ``name`` with those fields.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import attrs

LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
PACKAGE = Path(__file__).resolve().parents[2] / "pipeline_collector"


@attrs.frozen
class Emitted:
    """One call site that emits an event."""

    name: str
    module: str
    line: int
    fields: frozenset[str]
    stage: str | None  # the stage of the module's one logger, if it has exactly one
    levels: frozenset[str] = frozenset()  # the level methods called (two for a quiet choice)


def _levels(node: ast.expr) -> frozenset[str]:
    """The level methods a call's function names: ``log.info``, or both of an ``IfExp``."""
    if isinstance(node, ast.Attribute) and node.attr in LEVELS:
        return frozenset({node.attr})
    if isinstance(node, ast.IfExp):
        return _levels(node.body) | _levels(node.orelse)
    return frozenset()


def _is_level(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in LEVELS
    if isinstance(node, ast.IfExp):
        return _is_level(node.body) and _is_level(node.orelse)
    return False


def _stages(tree: ast.AST) -> set[str]:
    """Stages named by ``logger("<stage>")`` calls in a module."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "logger"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def emitted(root: Path = PACKAGE) -> Iterator[Emitted]:
    """Every event-emitting call site under ``root``."""
    for path in sorted(root.rglob("*.py")):
        if path == root / "log.py":  # the machinery that carries events, not a source of them
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        stages = _stages(tree)
        stage = next(iter(stages)) if len(stages) == 1 else None
        module = str(path.relative_to(root.parent))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            levels = _levels(node.func)
            if _is_level(node.func) and node.args:
                first = node.args[0]
            elif (  # log.log(level, "name", ...)
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "log"
                and len(node.args) > 1
            ):
                first = node.args[1]
            else:
                continue
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            fields = frozenset(k.arg for k in node.keywords if k.arg is not None)
            yield Emitted(first.value, module, node.lineno, fields - {"exc_info"}, stage, levels)
