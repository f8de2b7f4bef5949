"""A collector module named by text works wherever a module is taken.

``gather``, ``discover`` and ``bench_chunking`` take a module object, its
import path or its ``.py`` file alike; a string is never read as an iterable
of characters, nor a Python file benchmarked as CSV.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_collector as pc
from pipeline_collector.stages.modules import load_collector_module
from pipeline_collector.tools.bench import bench_chunking

MODULE = """\
import pipeline_collector as pc

LOADS = globals().get("LOADS", 0) + 1


@pc.register("config", "1.0", config=True)
def config(**kwargs):
    return {"service": "mine"}


@pc.register("rows", "1.0", format="csv")
def rows(since, until, **kwargs):
    yield "id,name\\n"
    for n in range(25):
        yield f"{n},row {n}\\n"
"""


@pytest.fixture
def module_file(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    path = folder / "src_collectors.py"
    path.write_text(MODULE)
    return path


@pytest.fixture
def importable(module_file: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's import path, with its folder on ``sys.path`` for this test only."""
    monkeypatch.syspath_prepend(str(module_file.parent))
    monkeypatch.delitem(sys.modules, "src_collectors", raising=False)
    return "src_collectors"


class TestDiscover:
    def test_an_import_path_is_imported(self, importable: str) -> None:
        """discover("pkg.mod") finds the module's collectors, never one per character."""
        assert [c.key for c in pc.discover(importable)] == ["config", "rows"]

    def test_a_file_is_loaded(self, module_file: Path) -> None:
        """A .py path, as text or as a Path, is loaded from the file."""
        assert [c.key for c in pc.discover(str(module_file))] == ["config", "rows"]
        assert [c.key for c in pc.discover(module_file)] == ["config", "rows"]

    def test_a_file_loaded_twice_runs_once(self, module_file: Path) -> None:
        """Loading the same unchanged file again gives the same module, its code not run again."""
        first = load_collector_module(module_file)
        again = load_collector_module(str(module_file))
        assert again is first and first.LOADS == 1

    def test_a_missing_module_is_named(self) -> None:
        with pytest.raises(pc.ConfigurationError, match="cannot import collector module 'no_such_"):
            pc.discover("no_such_collectors_here")

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(pc.ConfigurationError, match="collector module file not found"):
            pc.discover(str(tmp_path / "nope.py"))

    def test_text_that_is_no_module_name_is_refused(self) -> None:
        with pytest.raises(pc.ConfigurationError, match="neither an import path"):
            pc.discover("my collectors")

    def test_bytes_are_refused(self) -> None:
        with pytest.raises(pc.ConfigurationError, match="not a collector module"):
            pc.discover(b"mymodule")  # type: ignore[arg-type]

    def test_a_module_without_collectors_says_so(self, tmp_path: Path) -> None:
        """A module holding a factory of collectors, not collectors, is told what to pass."""
        empty = tmp_path / "factory_only.py"
        empty.write_text("def make(db):\n    return ()\n")
        with pytest.raises(pc.ConfigurationError, match="has no registered collectors"):
            pc.discover(str(empty))

    def test_a_name_next_to_its_file_hints_at_the_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An import path that fails where its .py file is in the current folder names the file."""
        (tmp_path / "hinted_collectors.py").write_text(MODULE)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(pc.ConfigurationError, match=r"pass 'hinted_collectors\.py'"):
            pc.discover("hinted_collectors")


class TestGather:
    def test_gather_takes_an_import_path(self, importable: str, tmp_path: Path) -> None:
        run = pc.gather(importable, mode="dry-run", workdir=tmp_path / "work")
        assert run.status == "ok"
        assert sum(c.rows for c in run.collections) == 25

    def test_gather_takes_a_file(self, module_file: Path, tmp_path: Path) -> None:
        run = pc.gather(str(module_file), mode="dry-run", workdir=tmp_path / "work")
        assert run.status == "ok" and [c.key for c in run.collections] == ["rows"]


class TestBench:
    def test_a_python_file_is_benchmarked_as_its_collector(self, module_file: Path) -> None:
        """bench_chunking("x.py", key=...) collects the key, not the source text as CSV."""
        (result,) = bench_chunking(str(module_file), key="rows")
        assert result.rows == 25 and result.key == "rows"

    def test_an_import_path_is_benchmarked_as_its_collector(self, importable: str) -> None:
        (result,) = bench_chunking(importable, key="rows")
        assert result.rows == 25

    def test_a_module_needs_its_key(self, module_file: Path) -> None:
        with pytest.raises(pc.ConfigurationError, match="needs the key"):
            bench_chunking(module_file)

    def test_a_csv_file_is_still_csv(self, tmp_path: Path) -> None:
        csv = tmp_path / "rows.csv"
        csv.write_text("a,b\n" + "".join(f"{n},x\n" for n in range(7)))
        (result,) = bench_chunking(csv)
        assert result.rows == 7

    def test_no_rows_is_an_error_not_a_measure(self, tmp_path: Path) -> None:
        """A source that gave nothing is said, not reported as a very fast run."""
        csv = tmp_path / "empty.csv"
        csv.write_text("a,b\n")
        with pytest.raises(pc.ConfigurationError, match="no rows: nothing to measure"):
            bench_chunking(csv)


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline_collector", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestCommandLine:
    def test_plan_gather_and_bench_take_an_import_path_from_the_current_folder(
        self, module_file: Path
    ) -> None:
        folder = module_file.parent
        assert cli(folder, "plan", "src_collectors").returncode == 0
        done = cli(folder, "bench", "src_collectors", "--key", "rows", "--json")
        assert done.returncode == 0, done.stderr
        assert '"rows": 25' in done.stdout

    def test_bench_csv_refuses_python_source_naming_the_right_form(self, module_file: Path) -> None:
        done = cli(module_file.parent, "bench", "--csv", module_file.name)
        assert done.returncode == 2
        assert f"pipeline-collector bench {module_file.name} --key KEY" in done.stderr


def test_the_demos_factory_module_is_told_what_it_holds(tmp_path: Path) -> None:
    """`plan pipeline_collector.demo.collectors` (a module holding a factory): exit 2, one line
    saying it has no registered collectors, not "found none" config collectors."""
    done = cli(tmp_path, "plan", "pipeline_collector.demo.collectors")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "has no registered collectors" in errors[0]
