"""chunk and archive alone, on one's own rows: the same parts and archives the pipeline makes."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import pipeline_collector as pc
from pipeline_collector.stages.chunk import read_part
from pipeline_collector.testing import FrozenClock

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=1)
CONFIG = {"service": "alone", "version": "2.0"}


def rows(n: int) -> Iterator[str]:
    yield "id,host,stdout\n"
    for i in range(n):
        yield f'{i},host-{i % 7},"line one\nline ""two"" of {i}"\n'


def members(path: Path) -> dict[str, bytes]:
    """Each member of a .tar.gz, read in stream mode as the cloud reads it."""
    out: dict[str, bytes] = {}
    with tarfile.open(path, mode="r|gz") as tar:
        for member in tar:
            f = tar.extractfile(member)
            assert f is not None
            out[member.name] = f.read()
    return out


class TestSameAsThePipeline:
    """On the same rows and config, the stages alone write what a dry-run gather writes."""

    def test_archives_match_a_dry_run_member_by_member(self, tmp_path: Path) -> None:
        """Three archives of one key: every member and every byte equal to gather's."""
        limits = pc.Limits(max_data_size=64 * 2**10)

        @pc.register("config", "2.0", config=True)
        def config(**kwargs: Any) -> dict[str, str]:
            return CONFIG

        @pc.register("jobs", "1.3", format="csv")
        def jobs(**kwargs: Any) -> Iterator[str]:
            return rows(6000)

        run = pc.gather(
            [config, jobs],
            pc.RunConfig(since=SINCE, until=NOW, limits=limits, workdir=tmp_path / "gather"),
            clock=FrozenClock(NOW),
        )
        alone = tmp_path / "alone"
        alone.mkdir()
        parts = pc.chunk(rows(6000), key="jobs", directory=alone, limits=limits)
        archives = pc.archive(
            parts,
            config=CONFIG,
            config_version="2.0",
            versions={"jobs": "1.3"},
            since=SINCE,
            until=NOW,
            directory=alone,
            limits=limits,
        )
        assert len(archives) == len(run.archives) > 2
        for mine, theirs in zip(archives, run.archives, strict=True):
            assert mine.name == theirs.name
            assert members(mine.path) == members(theirs.path)

    def test_a_json_document_is_one_part(self, tmp_path: Path) -> None:
        """format='json' stores strict JSON, read back as it went in."""
        (part,) = pc.chunk({"hosts": 3}, key="summary", format="json", directory=tmp_path)
        assert json.loads(read_part(part)) == {"hosts": 3}
        (made,) = pc.archive([part], config=CONFIG, directory=tmp_path)
        assert json.loads(members(made.path)["./summary.json"]) == {"hosts": 3}

    def test_rows_blocks_are_taken(self, tmp_path: Path) -> None:
        """Rows blocks (as copy_rows yields them) are cut like lines, records kept whole."""
        text = "".join(rows(500)).encode()
        blocks = [
            pc.Rows.of(text[: text.index(b"\n10,") + 1]),
            pc.Rows.of(text[text.index(b"\n10,") + 1 :]),
        ]
        parts = pc.chunk(blocks, key="jobs", directory=tmp_path)
        assert b"".join(read_part(p) for p in parts) == text
        assert sum(p.rows for p in parts) == 500


class TestBounds:
    """The upload bound is enforced where batches are made; keys and kinds are checked."""

    def test_a_part_too_large_for_one_upload_is_refused(self, tmp_path: Path) -> None:
        """A part cut with larger limits cannot be archived under smaller ones."""
        import os

        noise = [b"id,blob\n"] + [f"{i},{os.urandom(3000).hex()}\n".encode() for i in range(80)]
        parts = pc.chunk(noise, key="blobs", directory=tmp_path)
        with pytest.raises(pc.ConfigurationError, match="part 0 of 'blobs'"):
            pc.archive(
                parts,
                config=CONFIG,
                directory=tmp_path,
                limits=pc.Limits(max_upload_size=200 * 2**10),
            )
        assert list(tmp_path.glob("*.tar.gz")) == []

    def test_every_archive_stays_within_the_bound(self, tmp_path: Path) -> None:
        """With one limits value throughout, no archive passes max_upload_size."""
        import os

        limits = pc.Limits(max_upload_size=300 * 2**10)
        noise = [b"id,blob\n"] + [f"{i},{os.urandom(2000).hex()}\n".encode() for i in range(500)]
        parts = pc.chunk(noise, key="blobs", directory=tmp_path, limits=limits)
        archives = pc.archive(parts, config=CONFIG, directory=tmp_path, limits=limits)
        assert len(archives) > 3
        assert all(a.path.stat().st_size <= limits.max_upload_size for a in archives)

    @pytest.mark.parametrize("key", ["Jobs", "config", "manifest", "1st", "a-b", ""])
    def test_a_bad_key_is_refused(self, tmp_path: Path, key: str) -> None:
        """A key that cannot name a member is refused before anything is written."""
        with pytest.raises(pc.ConfigurationError, match="must match"):
            pc.chunk(["a\n", "1\n"], key=key, directory=tmp_path)
        assert list(tmp_path.iterdir()) == []

    def test_one_string_is_not_taken_for_rows(self, tmp_path: Path) -> None:
        """A whole CSV text given as one str is refused, not cut character by character."""
        with pytest.raises(pc.ConfigurationError, match="one str; give an iterable"):
            pc.chunk("id\n1\n", key="jobs", directory=tmp_path)

    def test_a_naive_until_is_refused(self, tmp_path: Path) -> None:
        """archive() takes aware datetimes only."""
        (part,) = pc.chunk({"a": 1}, key="summary", format="json", directory=tmp_path)
        with pytest.raises(pc.ConfigurationError, match="timezone"):
            pc.archive([part], config=CONFIG, directory=tmp_path, until=datetime(2026, 1, 1))

    def test_the_archive_reads_in_stream_mode(self, tmp_path: Path) -> None:
        """The archive is one gzip member that tarfile reads as a stream."""
        parts = pc.chunk(rows(10), key="jobs", directory=tmp_path)
        (made,) = pc.archive(parts, config=CONFIG, directory=tmp_path)
        with tarfile.open(fileobj=io.BytesIO(made.path.read_bytes()), mode="r|gz") as tar:
            names = [m.name for m in tar]
        assert names == [
            "./jobs.csv",
            "./config.json",
            "./data_collection_status.csv",
            "./manifest.json",
        ]
