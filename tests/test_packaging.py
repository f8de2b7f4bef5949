"""The package as a user gets it: an sdist and a wheel built from this tree, tried outside it.

The sdist is built from a copy of the source tree and the wheel from the
unpacked sdist (what pip does with an sdist), both by calling setuptools'
PEP 517 hooks in a subprocess so that every warning they print is seen.
The wheel is installed with pip into a new virtualenv in a temporary
folder; the dependencies come from this interpreter's site-packages, named
in a ``.pth`` file (a plain path: the editable install of this tree that
lives there is not activated), so no network is needed.  The demo then
runs from a folder outside the repository.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import attrs
import pytest
from support.docblocks import sessions
from support.tar import read_member

import pipeline_collector as pc
from pipeline_collector.checks import check_archive
from pipeline_collector.cli.links import HOME

ROOT = Path(__file__).resolve().parents[1]
# The trees the sdist must carry whole, and what runs leave in them (MANIFEST.in prunes it).
SHIPPED_TREES = ("tests", "docs", "examples", "benchmarks", ".ci")
SHIPPED_FILES = ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "MANIFEST.in")
LEFT_BY_RUNS = frozenset({"examples/out", "examples/data", "benchmarks/results"})
NOT_SOURCE = frozenset(
    {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
    | {"build", "dist"}
)
BUILD = (
    "import sys; from setuptools import build_meta as backend;"
    " print(getattr(backend, 'build_' + sys.argv[1])(sys.argv[2]))"
)
# A part of the suite that reaches the conftest, tests/support, the examples and the demo.
SDIST_TESTS = ("tests/test_examples.py", "tests/test_demo.py", "tests/test_public_api.py")


@attrs.frozen(kw_only=True)
class Built:
    sdist: Path
    unpacked: Path  # the sdist's top folder, extracted
    wheel: Path
    log: str  # everything the build backend printed, both builds


@attrs.frozen(kw_only=True)
class Venv:
    root: Path
    pip_log: str

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def command(self) -> Path:
        return self.root / "bin" / "pipeline-collector"


def _is_source(relative: Path) -> bool:
    parts = relative.parts
    if any(p in NOT_SOURCE or p.endswith(".egg-info") for p in parts):
        return False
    if any("/".join(parts[:n]) in LEFT_BY_RUNS for n in range(1, len(parts) + 1)):
        return False
    return relative.suffix not in (".pyc", ".pyo")


def source_files() -> set[str]:
    """Every file of the trees the sdist must carry, by its path in the repository."""
    found = {name for name in SHIPPED_FILES if (ROOT / name).is_file()}
    for tree in SHIPPED_TREES:
        for path in (ROOT / tree).rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and _is_source(relative):
                found.add(relative.as_posix())
    return found


def _ignore(folder: str, names: list[str]) -> set[str]:
    base = Path(folder).relative_to(ROOT)
    return {n for n in names if not _is_source(base / n)}


def _backend(hook: str, out: Path, cwd: Path) -> tuple[Path, str]:
    """Call setuptools' ``build_<hook>`` in ``cwd``; return the file built and all it printed."""
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", BUILD, hook, str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    return out / result.stdout.strip().splitlines()[-1], log


def clean_env() -> dict[str, str]:
    """The environment without anything that would point Python at this tree."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        and not k.startswith("PIPELINE_COLLECTOR_")
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist built from a copy of this tree, and the wheel built from that sdist."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_ignore)
    out = base / "dist"
    out.mkdir()
    sdist, sdist_log = _backend("sdist", out, source)
    with tarfile.open(sdist) as tar:
        tar.extractall(base / "unpacked", filter="data")
    (unpacked,) = (base / "unpacked").iterdir()
    wheel, wheel_log = _backend("wheel", out, unpacked)
    return Built(sdist=sdist, unpacked=unpacked, wheel=wheel, log=sdist_log + wheel_log)


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A new virtualenv outside the repository with the wheel installed by pip."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    (purelib,) = root.glob("lib/python*/site-packages")
    # The dependencies, from this interpreter: plain paths, so no .pth of theirs runs.
    (purelib / "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python")]
    result = subprocess.run(
        [
            *pip,
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(built.wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Venv(root=root, pip_log=result.stdout + result.stderr)


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(zf.read(name))


def deprecations(log: str) -> list[str]:
    return [line for line in log.splitlines() if "deprecat" in line.lower()]


def run_demo_from(venv: Venv, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The demo as a user of the activated virtualenv runs it: its bin folder first on PATH."""
    cwd.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([str(venv.root / "bin"), os.environ.get("PATH", "")])
    return subprocess.run(
        ["pipeline-collector", "demo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**clean_env(), "PATH": path},
    )


def assert_valid_archives(archives: list[Path]) -> None:
    """Each archive opens as a tar, its manifest lists its data members, and it meets the contract."""
    assert archives
    for path in archives:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            manifest = json.loads(read_member(tar, "./manifest.json"))
        assert {"./config.json", "./data_collection_status.csv"} <= names
        assert {f"./{m}" for m in manifest} == names - {"./manifest.json"}
        assert check_archive(path) == [], path


def test_readme_links_work_off_the_repository() -> None:
    """Every link of README.md is an absolute URL: a package index shows it without the tree."""
    targets = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    assert targets
    assert [t for t in targets if not t.startswith("https://")] == []


def test_project_urls_and_help_links_name_the_same_home() -> None:
    """pyproject.toml's project URLs start with the home that help texts link to."""
    text = (ROOT / "pyproject.toml").read_text()
    urls = re.findall(r'^\w+ = "(https://[^"]+)"$', text.split("[project.urls]")[1], re.M)
    assert len(urls) >= 4 and all(u.startswith(HOME) for u in urls)


@pytest.mark.slow
class TestSdist:
    def test_carries_every_file_the_tests_docs_and_examples_need(self, built: Built) -> None:
        """The sdist holds each file of tests/ (conftest, support, oldstyle), docs/, examples/ and more."""
        with tarfile.open(built.sdist) as tar:
            top = f"{built.unpacked.name}/"
            members = {m.name.removeprefix(top) for m in tar.getmembers() if m.isfile()}
        expected = source_files()
        assert {"tests/conftest.py", "tests/support/tar.py", "LICENSE"} <= expected
        assert sorted(expected - members) == []

    def test_builds_without_a_deprecation_warning(self, built: Built) -> None:
        """Building the sdist and the wheel from it prints no deprecation warning about our metadata."""
        assert "running" in built.log  # the backend's output was captured
        assert deprecations(built.log) == []

    def test_part_of_the_suite_runs_from_the_unpacked_sdist(self, built: Built, venv: Venv) -> None:
        """Tests that use the conftest, tests/support, the examples and the demo pass from the sdist."""
        result = subprocess.run(
            [str(venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *SDIST_TESTS],
            cwd=built.unpacked,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=clean_env(),
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout


@pytest.mark.slow
class TestWheel:
    def test_metadata_declares_license_classifiers_urls_and_keywords(self, built: Built) -> None:
        """The wheel's METADATA has the SPDX license, its file, classifiers, URLs and keywords."""
        meta = wheel_metadata(built.wheel)
        assert meta["License-Expression"] == "Apache-2.0"
        assert meta.get_all("License-File") == ["LICENSE"]
        classifiers = set(meta.get_all("Classifier") or [])
        for minor in (10, 11, 12, 13):
            assert f"Programming Language :: Python :: 3.{minor}" in classifiers
        assert "Typing :: Typed" in classifiers
        assert not [c for c in classifiers if c.startswith("License ::")]
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
        assert urls["Homepage"] == HOME and {"Documentation", "Issues", "Changelog"} <= set(urls)
        assert "analytics" in (meta["Keywords"] or "")

    def test_publishes_no_development_tools(self, built: Built) -> None:
        """No extra of the wheel pulls in test or lint tools or the old library; Django
        comes only with the ``django`` extra."""
        meta = wheel_metadata(built.wheel)
        assert "test" not in (meta.get_all("Provides-Extra") or [])
        dists = [d.lower() for d in meta.get_all("Requires-Dist") or []]
        requires = " ".join(dists)
        for tool in ("pytest", "ruff", "mypy", "insights-analytics-collector"):
            assert tool not in requires, tool
        django = [d for d in dists if d.startswith("django")]
        assert django and all(d.endswith('extra == "django"') for d in django), django

    def test_carries_the_demo_the_license_and_the_type_marker(self, built: Built) -> None:
        """The wheel holds pipeline_collector/demo/, py.typed and the license file."""
        with zipfile.ZipFile(built.wheel) as zf:
            names = set(zf.namelist())
        assert {
            "pipeline_collector/demo/__init__.py",
            "pipeline_collector/demo/collectors.py",
            "pipeline_collector/demo/database.py",
            "pipeline_collector/cli/commands/demo.py",
            "pipeline_collector/py.typed",
        } <= names
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    def test_version_is_written_once(self, built: Built, venv: Venv) -> None:
        """The wheel's version, its metadata and ``--version`` all say ``pc.__version__``."""
        assert built.wheel.name.startswith(f"pipeline_collector-{pc.__version__}-")
        assert wheel_metadata(built.wheel)["Version"] == pc.__version__
        result = subprocess.run(
            [str(venv.command), "--version"], capture_output=True, text=True, check=True
        )
        assert result.stdout.split() == ["pipeline-collector", pc.__version__]

    def test_installs_with_pip_without_a_deprecation_warning(self, venv: Venv) -> None:
        """pip installs the wheel into a new virtualenv and warns of nothing deprecated."""
        assert "Successfully installed pipeline-collector" in venv.pip_log
        assert deprecations(venv.pip_log) == []

    def test_demo_ships_to_a_folder_from_outside_the_repository(
        self, venv: Venv, tmp_path: Path
    ) -> None:
        """``pipeline-collector demo`` from the wheel, run elsewhere, ships valid archives to ./pipeline-collector-demo/data/."""
        where = tmp_path / "elsewhere"
        result = run_demo_from(venv, where)
        assert result.returncode == 0, result.stdout + result.stderr
        archives = sorted((where / "pipeline-collector-demo" / "data").rglob("*.tar.gz"))
        assert len(archives) >= 10
        assert_valid_archives(archives)
        assert "pipeline-collector inspect pipeline-collector-demo/data/" in result.stdout
        imported = subprocess.run(
            [
                str(venv.python),
                "-c",
                "import pipeline_collector; print(pipeline_collector.__file__)",
            ],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
        )
        assert Path(imported.stdout.strip()).is_relative_to(venv.root)
        assert not Path(imported.stdout.strip()).is_relative_to(ROOT)

    def test_demo_ships_to_the_local_ingress_from_the_wheel(
        self, venv: Venv, tmp_path: Path
    ) -> None:
        """``demo --ingress`` from the wheel ships over HTTP; the ingress saves valid archives."""
        result = run_demo_from(venv, tmp_path / "elsewhere", "--ingress", "--dir", "try")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "local ingress at http://127.0.0.1:" in result.stdout
        assert_valid_archives(
            sorted((tmp_path / "elsewhere" / "try" / "received").glob("*.tar.gz"))
        )

    def test_a_first_run_as_the_readme_shows_it(self, venv: Venv, tmp_path: Path) -> None:
        """From the wheel alone, the README's "A first run" commands, as written, in an empty
        folder: a preflight verdict, then archives shipped that meet the contract, and the rest
        of that session's blocks after them."""
        blocks = sessions()["README.md#first-hour"]
        assert blocks[0].text.startswith("pipeline-collector init mycollectors.py")
        folder = tmp_path / "first-hour"
        folder.mkdir()
        (folder / ".tmp").mkdir()
        env = {
            **clean_env(),
            "PATH": os.pathsep.join([str(venv.root / "bin"), os.environ.get("PATH", "")]),
            "TMPDIR": str(folder / ".tmp"),
            "XDG_RUNTIME_DIR": str(folder / ".tmp"),  # the default lock: this run's own
        }
        said = []
        for block in blocks:
            script = folder / f"block-{block.line}.{'py' if block.lang == 'python' else 'sh'}"
            script.write_text(block.text)
            command = (
                [str(venv.python), script.name]
                if block.lang == "python"
                else ["bash", "-e", "-o", "pipefail", script.name]
            )
            done = subprocess.run(
                command, cwd=folder, env=env, capture_output=True, text=True, timeout=600,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, (block.where, done.stdout[-2000:], done.stderr[-2000:])
            said.append(done.stdout)
        assert "preflight ok: shipped: takes uploads" in said[0]
        assert_valid_archives(sorted((folder / "shipped" / "data").rglob("*.tar.gz")))
        assert_valid_archives(sorted((folder / "demo" / "received").glob("*.tar.gz")))

    @pytest.mark.parametrize(
        "command",
        [
            [], ["gather"], ["plan"], ["inspect"], ["status"], ["bench"], ["demo"], ["ingress"],
            ["init"], ["preflight"],
        ],
    )  # fmt: skip
    def test_help_sends_no_one_to_a_file_the_wheel_lacks(
        self, venv: Venv, command: list[str]
    ) -> None:
        """No --help text of the installed command names a repository file; links are URLs."""
        result = subprocess.run(
            [str(venv.command), *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=clean_env(),
        )
        assert result.returncode == 0, result.stderr
        text = re.sub(r"https?://\S+", "", result.stdout)
        for folder in SHIPPED_TREES:
            assert f"{folder}/" not in text, (folder, command)
        assert "examples." not in text and ".md" not in text
