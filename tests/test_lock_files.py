"""The file lock never follows a planted link, and its default lives in a folder of our own."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.locks.file import FileLock, default_lock_path
from pipeline_collector.testing import FakeTransport, MemoryStore


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A state file a hostile link could point the lock at."""
    path = tmp_path / "state.json"
    path.write_text('{"last_gather": null, "entries": {}}\n')
    return path


class TestPlantedLinks:
    """A link where the lock file goes is refused, and what it points to stays whole."""

    def test_symlink_is_not_followed(self, tmp_path: Path, victim: Path) -> None:
        """A symbolic link in the lock's place raises LockError and leaves its target as it was."""
        link = tmp_path / "run.lock"
        link.symlink_to(victim)
        before = victim.read_bytes()
        with pytest.raises(pc.LockError, match="symbolic link"), FileLock(link).acquire():
            pass
        assert victim.read_bytes() == before

    def test_dangling_symlink_creates_nothing(self, tmp_path: Path) -> None:
        """A link to a file that does not exist is refused; nothing is created at its target."""
        target = tmp_path / "elsewhere" / "made-by-the-lock"
        target.parent.mkdir()
        link = tmp_path / "run.lock"
        link.symlink_to(target)
        with pytest.raises(pc.LockError, match="symbolic link"), FileLock(link).acquire():
            pass
        assert not target.exists()

    def test_hard_link_is_refused(self, tmp_path: Path, victim: Path) -> None:
        """A lock file that is another name of some file is refused, and that file stays whole."""
        link = tmp_path / "run.lock"
        os.link(victim, link)
        before = victim.read_bytes()
        with pytest.raises(pc.LockError, match="2 names"), FileLock(link).acquire():
            pass
        assert victim.read_bytes() == before

    def test_fifo_is_refused_without_blocking(self, tmp_path: Path) -> None:
        """A FIFO in the lock's place is refused at once, not waited on."""
        fifo = tmp_path / "run.lock"
        os.mkfifo(fifo)
        with pytest.raises(pc.LockError, match="not a regular file"), FileLock(fifo).acquire():
            pass

    def test_plain_file_still_locks(self, tmp_path: Path) -> None:
        """An ordinary lock file is taken, and a second acquire while held is refused."""
        lock = FileLock(tmp_path / "run.lock")
        with lock.acquire() as first:
            assert first
            with FileLock(tmp_path / "run.lock").acquire() as second:
                assert not second


class TestDefaultLockPath:
    """The default lock sits in a folder of this user's, mode 0700."""

    def test_private_folder(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The folder is made 0700 under XDG_RUNTIME_DIR and named by the user's id."""
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        path = default_lock_path("analytics")
        assert path.parent == tmp_path / f"pipeline-collector-{os.geteuid()}"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.name == "analytics.lock"

    def test_folder_open_to_others_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A folder another user could write in (made before us, say) is refused."""
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        folder = tmp_path / f"pipeline-collector-{os.geteuid()}"
        folder.mkdir()
        folder.chmod(0o777)
        with pytest.raises(pc.LockError, match="open to others"):
            default_lock_path("analytics")

    def test_folder_that_is_a_link_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A link planted where the folder goes is refused, not followed."""
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        (tmp_path / f"pipeline-collector-{os.geteuid()}").symlink_to(elsewhere)
        with pytest.raises(pc.LockError, match="not a folder"):
            default_lock_path("analytics")

    @pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 200])
    def test_hostile_names_are_refused(self, name: str) -> None:
        """A lock name that is not a plain file name is a configuration error naming it."""
        with pytest.raises(pc.ConfigurationError, match="lock name"):
            default_lock_path(name)

    def test_gather_uses_the_private_folder(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A shipping run without a lock locks a file in the private folder, not the shared temp."""
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))

        @pc.register("config", "1.0", config=True)
        def config(**kwargs: Any) -> dict[str, str]:
            return {"v": "1"}

        run = pc.gather(
            [config],
            mode="manual",
            state=MemoryStore(),
            transport=FakeTransport(),
            workdir=tmp_path / "work",
            prefix="edaprobe",
        )
        assert run.status == "ok"
        assert (tmp_path / f"pipeline-collector-{os.geteuid()}" / "edaprobe.lock").is_file()
