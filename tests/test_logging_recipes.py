"""The logging recipes of docs/logging.md (and README) run as written, in a fresh interpreter.

Each recipe is taken from the page verbatim and followed by a run whose
failing collector runs in a spawned worker process; the test checks the
shape of what the recipe's handler printed, and that stdout stays empty.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "logging.md"

RUN = """
import multiprocessing, sys, tempfile
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, {tests!r})
import pipeline_collector as pc
from pipeline_collector.testing import FakeTransport, MemoryStore
from support import relay_collectors as m

if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        run = pc.gather([m.config, m.rows, m.broken], mode="manual", state=MemoryStore(),
                        transport=FakeTransport(), workdir=tempfile.mkdtemp(), lock=None,
                        executor=pool)
    assert run.status == "partial", run.status
"""

DJANGO = """
import django
from django.conf import settings
settings.configure(LOGGING=LOGGING, INSTALLED_APPS=[], USE_TZ=True)
django.setup()
"""


def recipe(name: str, text: str | None = None) -> str:
    """The Python block marked ``<!-- recipe: name -->`` in the guide."""
    found = re.search(
        rf"<!-- recipe: {name} -->\n```python\n(.*?)```",
        GUIDE.read_text(encoding="utf-8") if text is None else text,
        re.DOTALL,
    )
    assert found, f"no recipe {name!r}"
    return found.group(1)


def run_recipe(tmp_path: Path, name: str) -> tuple[str, str]:
    """Run the recipe, then a gather, in a fresh interpreter; return stdout and stderr."""
    code = recipe(name)
    if name == "django":
        code += DJANGO
    script = tmp_path / f"recipe_{name}.py"  # not django.py, which would shadow django
    script.write_text(code + RUN.format(tests=str(ROOT / "tests")))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout, done.stderr


def event_lines(stderr: str, pattern: str) -> list[re.Match[str]]:
    """The lines that begin a record, as ``pattern`` reads them."""
    return [m for m in map(re.compile(pattern).match, stderr.splitlines()) if m]


STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
LINE = rf"^{STAMP} (?P<level>[A-Z]+) (?P<logger>[\w.]+) (?P<event>[a-z_.]+) stage='(?P<stage>\w+)'"


class TestRecipes:
    """Each recipe prints the library's events in its own shape; nothing on stdout."""

    @pytest.mark.parametrize("name", ["plain", "django"])
    def test_plain_and_django_recipes_print_a_line_per_event(
        self, tmp_path: Path, name: str
    ) -> None:
        """One ``time LEVEL pipeline_collector.<stage> event stage=...`` line each, traceback under the failure."""
        stdout, stderr = run_recipe(tmp_path, name)
        assert stdout == ""
        lines = event_lines(stderr, LINE)
        assert {m["logger"] for m in lines} <= {f"pipeline_collector.{m['stage']}" for m in lines}
        events = [m["event"] for m in lines]
        assert {"plan.made", "collection.done", "collection.failed", "run.done"} <= set(events)
        assert "collector.called" not in events  # debug, below the recipe's INFO
        [failed] = [m for m in lines if m["event"] == "collection.failed"]
        assert failed["level"] == "ERROR" and "worker='" in failed.string
        after = stderr[stderr.index(failed.string) :]
        assert "Traceback (most recent call last)" in after and "in _connect" in after

    def test_structlog_recipe_prints_json_lines(self, tmp_path: Path) -> None:
        """Every line is a JSON object; the failure's has its fields, worker and traceback."""
        stdout, stderr = run_recipe(tmp_path, "structlog")
        assert stdout == ""
        records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
        assert all({"event", "level", "logger", "timestamp"} <= set(r) for r in records)
        library = [r for r in records if r["logger"] == "pipeline_collector"]
        assert {"plan.made", "collection.done", "collection.failed", "run.done"} <= {
            r["event"] for r in library
        }
        [failed] = [r for r in library if r["event"] == "collection.failed"]
        assert failed["level"] == "error" and failed["stage"] == "chunk"
        assert failed["key"] == "broken" and re.fullmatch(r".+:\d+", failed["worker"])
        assert "Traceback (most recent call last)" in failed["exception"]
        assert "in _connect" in failed["exception"]

    def test_readme_shows_the_plain_recipe(self) -> None:
        """README's Logging section carries the guide's plain recipe as it is."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert recipe("plain", readme) == recipe("plain")
