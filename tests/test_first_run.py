"""A first run with nothing but the package: ``init`` writes a module, and every command
the output suggests runs as printed, from the folder it was printed in.

The hints name the command as the reader can run it: ``pipeline-collector``
where that is on ``PATH`` beside the interpreter, else ``python -m``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipeline_collector.checks import check_archive
from pipeline_collector.cli.invocation import invocation

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).absolute().parent)


def env_for(tmp_path: Path, *, on_path: bool) -> dict[str, str]:
    """A clean environment; the interpreter's folder on PATH or not; locks kept in ``tmp_path``."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != BIN]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    env["PATH"] = os.pathsep.join([BIN, *path] if on_path else path)
    env["XDG_RUNTIME_DIR"] = str(tmp_path)  # the default lock: this test's own
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def shell(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(["bash", "-c", line], cwd, env)


def suggested(stdout: str, after: str) -> list[str]:
    """The indented command lines printed after the line ``after``."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after)) + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        found.append(line.strip())
    return found


class TestInit:
    def test_every_command_it_suggests_runs_as_printed(self, tmp_path: Path) -> None:
        """init, then plan, gather, inspect, bench and preflight as printed: each exits 0,
        gather ships archives that meet the contract, bench measured rows."""
        env = env_for(tmp_path, on_path=False)
        done = run([sys.executable, "-m", "pipeline_collector", "init"], tmp_path, env)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "mycollectors.py").is_file()
        commands = suggested(done.stdout, "then:")
        assert [c.split(" -m pipeline_collector ")[1].split()[0] for c in commands] == [
            "plan",
            "gather",
            "inspect",
            "bench",
            "preflight",
        ]
        for line in commands:
            result = shell(line, tmp_path, env)
            assert result.returncode == 0, (line, result.stderr[-2000:])
            if " bench " in line:
                rows = result.stdout.splitlines()[2].split()[1]
                assert int(rows.replace(",", "")) > 1000
        archives = sorted((tmp_path / "shipped" / "data").rglob("*.tar.gz"))
        assert len(archives) >= 10
        for archive in archives:
            assert check_archive(archive) == []
        with tarfile.open(archives[0]) as tar:
            assert "./job_summary.json" in tar.getnames()

    def test_on_path_the_hints_say_the_command_name(self, tmp_path: Path) -> None:
        if not (Path(BIN) / "pipeline-collector").exists():
            pytest.skip("this interpreter's folder has no pipeline-collector script")
        env = env_for(tmp_path, on_path=True)
        done = run([sys.executable, "-m", "pipeline_collector", "init", "a.py"], tmp_path, env)
        assert (
            suggested(done.stdout, "then:")[0] == "pipeline-collector plan a.py --state state.json"
        )

    def test_an_existing_file_is_kept(self, tmp_path: Path) -> None:
        env = env_for(tmp_path, on_path=False)
        (tmp_path / "mine.py").write_text("# mine\n")
        done = run([sys.executable, "-m", "pipeline_collector", "init", "mine.py"], tmp_path, env)
        assert done.returncode == 2 and "mine.py exists: give --force" in done.stderr
        assert (tmp_path / "mine.py").read_text() == "# mine\n"
        forced = run(
            [sys.executable, "-m", "pipeline_collector", "init", "mine.py", "--force"],
            tmp_path,
            env,
        )
        assert forced.returncode == 0 and "pc.register" in (tmp_path / "mine.py").read_text()

    def test_a_name_that_is_no_module_file_is_refused(self, tmp_path: Path) -> None:
        env = env_for(tmp_path, on_path=False)
        done = run([sys.executable, "-m", "pipeline_collector", "init", "mine"], tmp_path, env)
        assert done.returncode == 2 and "ends in .py" in done.stderr
        assert list(tmp_path.iterdir()) == []

    def test_the_module_is_clean_python(self, tmp_path: Path) -> None:
        """What a user starts from passes the project's own linter and type checker."""
        pytest.importorskip("ruff")
        env = env_for(tmp_path, on_path=False)
        run([sys.executable, "-m", "pipeline_collector", "init"], tmp_path, env)
        lint = run(
            [
                sys.executable,
                "-m",
                "ruff",
                "check",
                "--no-cache",
                "--config",
                str(ROOT / "pyproject.toml"),
                "mycollectors.py",
            ],
            tmp_path,
            env,
        )
        assert lint.returncode == 0, lint.stdout
        pytest.importorskip("mypy")
        typed = run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "mycollectors.py"],
            tmp_path,
            {**env, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert typed.returncode == 0, typed.stdout


class TestDemoHints:
    def test_quickstart_hints_run_without_the_venv_on_path(self, tmp_path: Path) -> None:
        """``python examples/quickstart.py`` with no venv on PATH: its "look inside" lines
        say ``<python> -m pipeline_collector`` and each runs as printed."""
        env = env_for(tmp_path, on_path=False)
        done = run(
            [
                sys.executable,
                str(ROOT / "examples" / "quickstart.py"),
                "--dir",
                "out",
                "--database",
                "jobs.sqlite3",
            ],
            tmp_path,
            env,
        )
        assert done.returncode == 0, done.stderr
        hints = suggested(done.stdout, "look inside:")
        assert hints and all(
            h.startswith(("tar ", f"{sys.executable} -m pipeline_collector ")) for h in hints
        ), hints
        for line in hints:
            result = shell(line, tmp_path, env)
            assert result.returncode == 0, (line, result.stderr[-2000:])

    def test_invocation_is_the_name_only_beside_this_interpreter(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        assert invocation().endswith(" -m pipeline_collector")


def test_the_example_module_runs_from_a_fresh_clone(tmp_path: Path) -> None:
    """examples/jobs_collectors.py makes its database when it is not there yet, so the
    README's commands over it work before the quickstart ever ran."""
    env = env_for(tmp_path, on_path=False)
    done = run(
        [sys.executable, "-m", "pipeline_collector", "gather", str(ROOT / "examples" /
         "jobs_collectors.py"), "--mode", "manual", "--state", "state.json", "--dir", "shipped"],
        tmp_path,
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "examples" / "data" / "jobs.sqlite3").is_file()
    assert sorted((tmp_path / "shipped" / "data").rglob("*.tar.gz"))


def test_a_script_run_by_its_path_is_named_by_it(tmp_path: Path) -> None:
    """Run as /path/to/bin/pipeline-collector, off PATH, the hints give that path."""
    script = Path(BIN) / "pipeline-collector"
    if not script.exists():
        pytest.skip("this interpreter's folder has no pipeline-collector script")
    env = env_for(tmp_path, on_path=False)
    done = run([str(script), "init", "a.py"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert suggested(done.stdout, "then:")[0] == f"{script} plan a.py --state state.json"
