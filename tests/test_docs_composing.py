"""docs/composing.md and the README's composition section run as written, each in a fresh folder."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks(path: Path, section: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if section is not None:
        start = text.index(section)
        end = text.index("\n## ", start + len(section))
        text = text[start:end]
    return BLOCK.findall(text)


def run(code: str, folder: Path) -> str:
    """Run ``code`` as a script in ``folder``, temporary files kept in it too."""
    folder.mkdir()
    (folder / "tmp").mkdir()
    script = folder / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "TMPDIR": str(folder / "tmp")}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # the library prints nothing, logs nothing unasked
    return result.stdout


def csv_rows(archive: Path, member: str) -> list[dict[str, str]]:
    with tarfile.open(archive, mode="r|gz") as tar:
        for m in tar:
            if m.name == member:
                f = tar.extractfile(m)
                assert f is not None
                return list(csv.DictReader(io.StringIO(f.read().decode("utf-8"))))
    return []


COMPOSING = blocks(ROOT / "docs" / "composing.md")


def test_the_guide_has_its_three_examples() -> None:
    """Three worked examples, each a whole script."""
    assert len(COMPOSING) == 3


def test_rows_dropped_and_redacted_before_they_are_cut(tmp_path: Path) -> None:
    """Example 1: no test host and no password reaches an archive; other rows do."""
    out = run(COMPOSING[0], tmp_path / "ex")
    assert out.startswith("run ok (dry-run)")
    paths = [Path(line) for line in out.splitlines()[1:]]
    rows = [r for p in paths for r in csv_rows(p, "./job_events.csv")]
    assert rows and {r["host"] for r in rows} == {"web-1", "web-2"}
    assert {r["stdout"] for r in rows if r["host"] == "web-1"} == {"[redacted]"}
    assert all("hunter2" not in p.read_bytes().decode("latin-1") for p in paths)


def test_archives_counted_before_they_ship(tmp_path: Path) -> None:
    """Example 2: the counter saw each shipped archive; the state moved; nothing was left."""
    out = run(COMPOSING[1], tmp_path / "ex")
    assert out.startswith("run ok (manual): 1 collections (1 ok), 1 archives, 1 shipped")
    shipped = sorted((tmp_path / "ex" / "shipped").rglob("*.tar.gz"))
    assert f"{len(shipped)} archives, {sum(p.stat().st_size for p in shipped)} bytes" in out
    state = json.loads((tmp_path / "ex" / "state.json").read_text())
    assert "hosts" in json.dumps(state)
    assert list((tmp_path / "ex" / "tmp").iterdir()) == []


def test_chunk_and_archive_alone(tmp_path: Path) -> None:
    """Example 3: archives of one's own rows, each with the metadata members, parts removed."""
    out = run(COMPOSING[2], tmp_path / "ex")
    lines = out.splitlines()
    assert len(lines) >= 2
    for line in lines:
        assert "'./config.json', './data_collection_status.csv', './manifest.json'" in line
    assert list((tmp_path / "ex" / "archives").glob("*.part")) == []
    total = sum(
        len(csv_rows(p, "./job_events.csv"))
        for p in (tmp_path / "ex" / "archives").glob("*.tar.gz")
    )
    assert total == 5000


@pytest.mark.parametrize("code", blocks(ROOT / "README.md", "## Composing your own pipeline"))
def test_the_readme_snippet_runs_as_written(tmp_path: Path, code: str) -> None:
    """The README's composed flow ships, filtered, and counts what it shipped."""
    out = run(code, tmp_path / "ex")
    assert out.startswith("run ok (manual)")
    shipped = sorted((tmp_path / "ex" / "shipped").rglob("*.tar.gz"))
    assert shipped and str([p.stat().st_size for p in shipped]) in out
    rows = [r for p in shipped for r in csv_rows(p, "./job_events.csv")]
    assert [r["host"] for r in rows] == ["web-1"] * len(rows) and rows
