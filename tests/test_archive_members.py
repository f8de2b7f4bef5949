"""Archive members: names are reserved or owned by one key, JSON is strict, uploads fit."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.checks import check_archive
from pipeline_collector.testing import FakeTransport, MemoryStore


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, str]:
    return {"v": "1"}


class TestReservedNames:
    """Keys that would collide with the archive's own members are refused at discovery."""

    @pytest.mark.parametrize("key", ["config", "manifest", "data_collection_status"])
    @pytest.mark.parametrize("fmt", ["json", "csv"])
    def test_reserved_key_is_refused(self, key: str, fmt: str) -> None:
        """A non-config collector keyed like an archive member fails discovery, naming the key."""

        @pc.register(key, "1.0", format=fmt)
        def clash(**kwargs: Any) -> Any:
            return {} if fmt == "json" else []

        @pc.register("cfg", "1.0", config=True)
        def cfg(**kwargs: Any) -> dict[str, str]:
            return {}

        with pytest.raises(pc.ConfigurationError, match=f"collector '{key}': the key is reserved"):
            pc.discover([cfg, clash])

    def test_config_collector_may_be_keyed_config(self) -> None:
        """The config collector itself owns ./config.json and may carry the key ``config``."""
        assert [c.key for c in pc.discover([config])] == ["config"]

    def test_archive_member_names_are_unique(self, tmp_path: Path) -> None:
        """Every archive a run writes holds each member name once."""

        @pc.register("jobs", "1.0", format="csv")
        def jobs(**kwargs: Any) -> list[str]:
            return ["id", "1", "2"]

        run = pc.gather([config, jobs], workdir=tmp_path)
        for archive in run.archives:
            with tarfile.open(archive.path) as tar:
                names = tar.getnames()
            assert len(names) == len(set(names))


class TestStrictJson:
    """NaN and Infinity are not JSON: never written, and refused by check_archive."""

    def test_check_archive_refuses_nan(self, tmp_path: Path) -> None:
        """An archive whose JSON member holds NaN fails check_archive, naming the member."""

        @pc.register("counts", "1.0")
        def counts(**kwargs: Any) -> dict[str, int]:
            return {"jobs": 3}

        run = pc.gather([config, counts], workdir=tmp_path / "work")
        [archive] = run.archives
        bad = tmp_path / "bad.tar.gz"
        with tarfile.open(archive.path) as src, tarfile.open(bad, "w:gz") as dst:
            for info in src.getmembers():
                data = src.extractfile(info)
                assert data is not None
                body = data.read()
                if info.name == "./config.json":
                    body = b'{"mean": NaN}'
                    info.size = len(body)
                dst.addfile(info, io.BytesIO(body))
        assert check_archive(archive.path) == []
        problems = check_archive(bad)
        assert any("config.json" in p and "not valid JSON" in p for p in problems)


class TestUploadLimit:
    """Every archive fits max_upload_size, JSON-only ones included, or its collection fails."""

    LIMIT = 200 * 1024

    def test_incompressible_document_fails_by_name(self, tmp_path: Path) -> None:
        """A 400 KB incompressible JSON document fails its collection; nothing over the limit ships."""

        @pc.register("blob", "1.0")
        def blob(**kwargs: Any) -> dict[str, str]:
            return {"noise": os.urandom(200 * 1024).hex()}

        transport = FakeTransport()
        run = pc.gather(
            [config, blob],
            mode="manual",
            state=MemoryStore(),
            transport=transport,
            workdir=tmp_path,
            max_upload_size=self.LIMIT,
        )
        assert run.status == "partial"
        [failure] = run.failures
        assert failure.key == "blob" and "more than one upload may carry" in (failure.error or "")
        assert transport.sent and all(len(s.data) <= self.LIMIT for s in transport.sent)

    def test_document_just_under_the_limit_ships(self, tmp_path: Path) -> None:
        """A document that fits beside the archive's own members ships within the limit."""

        @pc.register("blob", "1.0")
        def blob(**kwargs: Any) -> dict[str, str]:
            return {"noise": os.urandom(60 * 1024).hex()}

        transport = FakeTransport()
        run = pc.gather(
            [config, blob],
            mode="manual",
            state=MemoryStore(),
            transport=transport,
            workdir=tmp_path,
            max_upload_size=self.LIMIT,
        )
        assert run.status == "ok"
        assert all(len(s.data) <= self.LIMIT for s in transport.sent)

    def test_large_config_shrinks_the_room_of_parts(self, tmp_path: Path) -> None:
        """A large config.json counts against every archive: CSV parts still fit the limit."""

        @pc.register("config", "1.0", config=True)
        def big_config(**kwargs: Any) -> dict[str, str]:
            return {"noise": os.urandom(40 * 1024).hex()}

        @pc.register("rows", "1.0", format="csv")
        def rows(**kwargs: Any) -> list[str]:
            return ["r", *(os.urandom(32).hex() for _ in range(20000))]

        transport = FakeTransport()
        run = pc.gather(
            [big_config, rows],
            mode="manual",
            state=MemoryStore(),
            transport=transport,
            workdir=tmp_path,
            max_upload_size=self.LIMIT,
        )
        assert run.status == "ok" and len(transport.sent) > 1
        assert all(len(s.data) <= self.LIMIT for s in transport.sent)
