"""DirectoryTransport: atomic, private, never overwriting, never escaping its root."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest
from structlog.testing import capture_logs

from pipeline_collector.errors import ShipError
from pipeline_collector.protocols import Transport
from pipeline_collector.records import Archive, Batch
from pipeline_collector.stages.ship import ship
from pipeline_collector.transports import DirectoryTransport

UNTIL = datetime(2026, 11, 27, tzinfo=timezone.utc)
SHIPPED_AT = datetime(2026, 11, 28, 23, 30, tzinfo=timezone.utc)


def make_archive(folder: Path, name: str = "analytics-2026-11-27-000000+0000-0.tar.gz") -> Archive:
    """Write a real small tar.gz and describe it as the packer would."""
    path = folder / name
    members = {"config.json": b'{"v": 1}', "jobs.csv": b"id,name\n1,a\n2,b\n"}
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(f"./{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = path.read_bytes()
    return Archive(
        path=path,
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        members=tuple(f"./{m}" for m in members),
        batch=Batch(group="default", number=0),
        until=UNTIL,
    )


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    source = tmp_path / "source"
    source.mkdir()
    return make_archive(source)


@pytest.fixture
def transport(tmp_path: Path) -> DirectoryTransport:
    return DirectoryTransport(root=tmp_path / "dest", clock=lambda: SHIPPED_AT)


class TestLayout:
    def test_fits_transport_protocol(self, transport: DirectoryTransport) -> None:
        """A DirectoryTransport is a Transport."""
        assert isinstance(transport, Transport)

    def test_copies_into_dated_folder(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path
    ) -> None:
        """The archive lands in <root>/data/YYYY/MM/DD/<name>, byte for byte."""
        receipt = transport.send(archive)
        target = tmp_path / "dest" / "data" / "2026" / "11" / "28" / archive.name
        assert Path(receipt.location or "") == target.resolve()
        assert target.read_bytes() == archive.path.read_bytes()
        assert receipt.destination == "dir"
        assert receipt.sha256 == archive.sha256
        assert receipt.archive == archive.name
        assert receipt.attempts == 1

    def test_copy_is_a_readable_tar(self, transport: DirectoryTransport, archive: Archive) -> None:
        """The copy opens as a tar and holds the same members."""
        receipt = transport.send(archive)
        with tarfile.open(receipt.location or "", "r:gz") as tar:
            assert tuple(tar.getnames()) == archive.members
            member = tar.extractfile("./jobs.csv")
            assert member is not None
            assert member.read() == b"id,name\n1,a\n2,b\n"

    def test_date_is_utc(self, tmp_path: Path, archive: Archive) -> None:
        """A clock in another zone still files the archive under the UTC date."""
        from datetime import timedelta

        east = timezone(timedelta(hours=5))
        local = datetime(2026, 11, 29, 3, 0, tzinfo=east)  # 2026-11-28 22:00 UTC
        receipt = DirectoryTransport(root=tmp_path / "d", clock=lambda: local).send(archive)
        assert "/data/2026/11/28/" in (receipt.location or "")

    def test_root_may_be_given_positionally(self, tmp_path: Path, archive: Archive) -> None:
        """DirectoryTransport(root) works with the root as its only positional argument."""
        receipt = DirectoryTransport(str(tmp_path / "p"), clock=lambda: SHIPPED_AT).send(archive)
        assert (tmp_path / "p" / "data" / "2026" / "11" / "28" / archive.name).exists()
        assert receipt.sha256 == archive.sha256

    def test_default_clock_is_today(self, tmp_path: Path, archive: Archive) -> None:
        """Without a clock the folder is today's UTC date."""
        before = datetime.now(timezone.utc)
        receipt = DirectoryTransport(root=tmp_path / "d").send(archive)
        after = datetime.now(timezone.utc)
        folders = {f"/data/{d:%Y/%m/%d}/" for d in (before, after)}
        assert any(f in (receipt.location or "") for f in folders)

    def test_no_temporary_files_left(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path
    ) -> None:
        """After a copy the folder holds only the archive."""
        receipt = transport.send(archive)
        folder = Path(receipt.location or "").parent
        assert [p.name for p in folder.iterdir()] == [archive.name]

    def test_logs_accepted(self, transport: DirectoryTransport, archive: Archive) -> None:
        """A shipped copy is logged as ship.accepted with its location, once."""
        with capture_logs() as logs:
            shipment = ship(transport, archive)
        assert shipment.receipt is not None
        events = [e for e in logs if e["event"] == "ship.accepted"]
        assert events and events[0]["location"] == shipment.receipt.location
        assert events[0]["stage"] == "ship"
        assert len(events) == 1
        assert [e["event"] for e in logs if e["event"].startswith("ship.")] == [
            "ship.attempt",
            "ship.accepted",
        ]


class TestPermissions:
    def test_file_and_folders_are_private(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path
    ) -> None:
        """The copy is 0600 and every folder it creates is 0700, whatever the umask."""
        old = os.umask(0o022)
        try:
            receipt = transport.send(archive)
        finally:
            os.umask(old)
        target = Path(receipt.location or "")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        folder = target.parent
        for _ in range(4):  # DD, MM, YYYY, data
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
            folder = folder.parent


class TestNeverOverwrites:
    def test_same_archive_twice_is_delivered_once(
        self, transport: DirectoryTransport, archive: Archive
    ) -> None:
        """Sending the same archive again finds it there and writes no second copy."""
        first = transport.send(archive)
        again = transport.send(archive)
        assert again.location == first.location
        assert [p.name for p in transport.folder_for(SHIPPED_AT).iterdir()] == [archive.name]

    def test_existing_file_is_untouched(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path
    ) -> None:
        """A different file of the same name keeps its content; the archive takes the next number."""
        folder = transport.folder_for(SHIPPED_AT)
        folder.mkdir(parents=True)
        (folder / archive.name).write_bytes(b"earlier")
        receipt = transport.send(archive)
        assert (folder / archive.name).read_bytes() == b"earlier"
        renamed = archive.name.replace("-0.tar.gz", "-1.tar.gz")
        assert receipt.location == str(folder.resolve() / renamed)
        assert sorted(p.name for p in folder.iterdir()) == sorted([archive.name, renamed])
        assert (folder / renamed).read_bytes() == archive.path.read_bytes()


class TestRacingRuns:
    def test_two_processes_shipping_one_name_both_arrive(self, tmp_path: Path) -> None:
        """Two processes shipping different archives of one name at once: each lands under its own name."""
        each = 25
        go = tmp_path / "go"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "support.dir_racer",
                    str(tmp_path / f"src-{n}"),
                    str(tmp_path / "dest"),
                    str(go),
                    str(each),
                ],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in (1, 2)
        ]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"src-{n}" / "ready").exists() for n in (1, 2)):
            assert all(p.poll() is None for p in procs), "a racer ended before the start"
            assert time.monotonic() < deadline, "the racers never got ready"
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
        for p, (_, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err.decode()
        sent = {
            hashlib.sha256(f.read_bytes()).hexdigest()
            for n in (1, 2)
            for f in (tmp_path / f"src-{n}").rglob("*.tar.gz")
        }
        arrived = sorted((tmp_path / "dest" / "data" / "2026" / "11" / "28").iterdir())
        assert len(sent) == 2 * each
        assert len(arrived) == 2 * each  # no temporary file left, none lost
        assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in arrived} == sent
        locations = [Path(line).name for out, _ in outputs for line in out.decode().split()]
        assert sorted(locations) == [p.name for p in arrived]


class TestIntegrity:
    def test_mismatched_hash_is_refused(
        self, transport: DirectoryTransport, archive: Archive
    ) -> None:
        """An archive whose file no longer matches its sha256 is not published."""
        wrong = attrs.evolve(archive, sha256="0" * 64)
        with pytest.raises(ShipError, match="does not match"):
            transport.send(wrong)
        folder = transport.folder_for(SHIPPED_AT)
        assert list(folder.iterdir()) == []

    def test_missing_source_is_a_ship_error(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path
    ) -> None:
        """A vanished archive file is reported as ShipError, not a bare OSError."""
        gone = attrs.evolve(archive, path=tmp_path / "nowhere.tar.gz")
        with pytest.raises(ShipError, match="could not copy"):
            transport.send(gone)


class TestContainment:
    @pytest.mark.parametrize(
        "name", ["../evil.tar.gz", "a/b.tar.gz", "..", ".", "/etc/passwd", ".hidden.tar.gz", ""]
    )
    def test_unsafe_names_are_refused(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path, name: str
    ) -> None:
        """Names with a slash, leading dots or an absolute path cannot lead out of the root."""
        hostile = _Named(name=name, path=archive.path, size=archive.size, sha256=archive.sha256)
        with pytest.raises(ShipError, match="refusing archive name"):
            transport.send(hostile)  # type: ignore[arg-type]
        assert not (tmp_path / "evil.tar.gz").exists()
        assert not (tmp_path / "dest" / "data").exists()

    def test_parent_path_name_is_refused(
        self, transport: DirectoryTransport, archive: Archive
    ) -> None:
        """An archive record whose path ends in '..' is refused."""
        with pytest.raises(ShipError, match="refusing archive name"):
            transport.send(attrs.evolve(archive, path=archive.path / ".."))

    def test_symlinked_folder_cannot_escape(
        self, transport: DirectoryTransport, archive: Archive, tmp_path: Path
    ) -> None:
        """A symlink planted for today's folder that points outside the root is refused."""
        outside = tmp_path / "outside"
        outside.mkdir()
        month = tmp_path / "dest" / "data" / "2026" / "11"
        month.mkdir(parents=True)
        (month / "28").symlink_to(outside, target_is_directory=True)
        with pytest.raises(ShipError, match="refusing to write"):
            transport.send(archive)
        assert list(outside.iterdir()) == []

    def test_symlinked_root_is_followed(self, tmp_path: Path, archive: Archive) -> None:
        """The root itself may be a symlink; only folders inside it are checked."""
        real = tmp_path / "real"
        real.mkdir()
        link = tmp_path / "link"
        link.symlink_to(real, target_is_directory=True)
        receipt = DirectoryTransport(root=link, clock=lambda: SHIPPED_AT).send(archive)
        assert (real / "data" / "2026" / "11" / "28" / archive.name).exists()
        assert receipt.sha256 == archive.sha256


@attrs.frozen(kw_only=True)
class _Named:
    """An archive-shaped record whose name is not derived from a path."""

    name: str
    path: Path
    size: int
    sha256: str
