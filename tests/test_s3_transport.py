"""S3Transport against a real moto S3 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from moto.server import ThreadedMotoServer
from structlog.testing import capture_logs

from pipeline_collector.errors import ConfigurationError, ShipError
from pipeline_collector.protocols import Transport
from pipeline_collector.records import Archive, Batch
from pipeline_collector.stages.ship import ship
from pipeline_collector.transports import S3Transport

KEY_ID, SECRET = "AKIAEXAMPLEKEY", "s3-secret-never-shown"
REGION = "us-east-1"
UNTIL = datetime(2026, 11, 27, tzinfo=timezone.utc)


def make_archive(folder: Path, name: str = "analytics-0.tar.gz", payload: int = 0) -> Archive:
    """Write a real tar.gz (optionally with ``payload`` random bytes) and describe it."""
    path = folder / name
    members = {"config.json": b'{"v": 1}', "jobs.csv": b"id,name\n1,a\n"}
    if payload:
        members["blob.csv"] = os.urandom(payload)
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


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(moto_endpoint: str) -> Any:
    """A plain boto3 client to set up buckets and read back what was shipped."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = "analytics-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return make_archive(tmp_path)


def transport(endpoint: str, bucket: str, **kw: Any) -> S3Transport:
    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region": REGION,
        "bucket": bucket,
        "access_key_id": KEY_ID,
        "secret_access_key": SECRET,
    }
    options.update(kw)
    return S3Transport(**options)


class TestUpload:
    def test_fits_transport_protocol(self, moto_endpoint: str, bucket: str) -> None:
        """An S3Transport is a Transport."""
        assert isinstance(transport(moto_endpoint, bucket), Transport)

    def test_object_is_byte_identical(
        self, s3: Any, moto_endpoint: str, bucket: str, tmp_path: Path
    ) -> None:
        """The object downloaded back has exactly the archive's bytes and its sha256 metadata."""
        big = make_archive(tmp_path, "analytics-big.tar.gz", payload=9 * 2**20)
        receipt = transport(moto_endpoint, bucket, prefix="eda/prod").send(big)
        got = s3.get_object(Bucket=bucket, Key=f"eda/prod/{big.name}")
        assert got["Body"].read() == big.path.read_bytes()
        assert got["Metadata"]["sha256"] == big.sha256
        assert receipt.location == f"s3://{bucket}/eda/prod/{big.name}"
        assert receipt.destination == "s3"
        assert receipt.sha256 == big.sha256

    def test_downloaded_object_is_a_readable_tar(
        self, s3: Any, moto_endpoint: str, bucket: str, archive: Archive, tmp_path: Path
    ) -> None:
        """The stored object opens as a tar with the archive's members."""
        transport(moto_endpoint, bucket).send(archive)
        target = tmp_path / "back.tar.gz"
        s3.download_file(bucket, archive.name, str(target))
        with tarfile.open(target, "r:gz") as tar:
            assert tuple(tar.getnames()) == archive.members

    def test_prefix_is_normalised(self, moto_endpoint: str, bucket: str, archive: Archive) -> None:
        """Slashes around the prefix do not produce empty key segments."""
        t = transport(moto_endpoint, bucket, prefix="/a/b/")
        assert t.key_for(archive) == f"a/b/{archive.name}"
        assert transport(moto_endpoint, bucket).key_for(archive) == archive.name

    def test_logs_accepted(self, moto_endpoint: str, bucket: str, archive: Archive) -> None:
        """A confirmed upload logs ship.attempt then ship.accepted with the location."""
        with capture_logs() as logs:
            receipt = ship(transport(moto_endpoint, bucket), archive).receipt
        assert receipt is not None
        events = [e["event"] for e in logs if e["event"].startswith("ship.")]
        assert events == ["ship.attempt", "ship.accepted"]
        assert logs[-1]["location"] == receipt.location
        assert all(e["stage"] == "ship" for e in logs)


class TestNeverOverwrites:
    def test_same_archive_again_is_taken_as_delivered(
        self, moto_endpoint: str, bucket: str, archive: Archive
    ) -> None:
        """Sending the same archive twice returns a receipt without uploading again."""
        t = transport(moto_endpoint, bucket)
        first = t.send(archive)
        with capture_logs() as logs:
            second = t.send(archive)
        assert first.location == second.location
        already = [e for e in logs if e["event"] == "ship.already_there"]
        assert already and already[0]["location"] == second.location

    def test_different_object_at_key_is_kept(
        self, s3: Any, moto_endpoint: str, bucket: str, archive: Archive
    ) -> None:
        """A different object already at the key is kept; the archive takes the next number."""
        s3.put_object(Bucket=bucket, Key=archive.name, Body=b"someone else's")
        receipt = transport(moto_endpoint, bucket).send(archive)
        body = s3.get_object(Bucket=bucket, Key=archive.name)["Body"].read()
        assert body == b"someone else's"
        renamed = archive.name.replace("-0.tar.gz", "-1.tar.gz")
        assert receipt.location == f"s3://{bucket}/{renamed}"
        assert s3.get_object(Bucket=bucket, Key=renamed)["Body"].read() == archive.path.read_bytes()


class TestFailures:
    def test_missing_bucket(self, moto_endpoint: str, archive: Archive) -> None:
        """Uploading to a bucket that does not exist raises ShipError with the status."""
        with pytest.raises(ShipError) as info:
            transport(moto_endpoint, "no-such-bucket-here").send(archive)
        assert info.value.status == 404
        assert "NoSuchBucket" in str(info.value)
        assert not info.value.retryable

    def test_changed_file_is_refused(
        self, s3: Any, moto_endpoint: str, bucket: str, archive: Archive
    ) -> None:
        """A file that no longer matches its record is not uploaded."""
        with pytest.raises(ShipError, match="changed on disk"):
            transport(moto_endpoint, bucket).send(attrs.evolve(archive, sha256="0" * 64))
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    def test_unreachable_endpoint(self, archive: Archive) -> None:
        """A store nobody listens on gives a retryable ShipError."""
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        t = transport(f"http://127.0.0.1:{port}", "some-bucket", max_attempts=1)
        with pytest.raises(ShipError) as info:
            t.send(archive)
        assert info.value.retryable

    def test_expected_bucket_owner_is_sent(
        self, moto_endpoint: str, bucket: str, archive: Archive
    ) -> None:
        """Every request carries the expected bucket owner when one is configured."""
        client = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        seen: list[bytes | None] = []

        def record(request: Any, **_: Any) -> None:
            seen.append(request.headers.get("x-amz-expected-bucket-owner"))

        client.meta.events.register("before-send.s3", record)
        t = S3Transport(bucket=bucket, client=client, expected_bucket_owner="111122223333")
        t.send(archive)
        assert len(seen) == 3  # head, put, head
        assert all(owner == b"111122223333" for owner in seen)


class TestConfiguration:
    def test_bucket_is_required(self) -> None:
        """No bucket is a configuration error."""
        with pytest.raises(ConfigurationError, match="bucket"):
            S3Transport(bucket="")

    def test_bucket_name_is_checked(self) -> None:
        """A bucket name with a slash is refused."""
        with pytest.raises(ConfigurationError, match="not a valid"):
            S3Transport(bucket="a/b")

    def test_prefix_cannot_climb(self) -> None:
        """A prefix with '..' segments is refused."""
        with pytest.raises(ConfigurationError, match="segment"):
            S3Transport(bucket="abc", prefix="a/../b")

    def test_half_credentials_are_refused(self) -> None:
        """An access key without its secret is refused."""
        with pytest.raises(ConfigurationError, match="both"):
            S3Transport(bucket="abc", access_key_id=KEY_ID)

    def test_secrets_not_in_repr(self) -> None:
        """The secret key and session token never appear in the repr."""
        t = S3Transport(
            bucket="abc",
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            session_token="session-token-never-shown",
        )
        assert SECRET not in repr(t)
        assert "session-token-never-shown" not in repr(t)

    def test_secrets_not_in_errors_or_logs(self, moto_endpoint: str, archive: Archive) -> None:
        """A failed upload mentions neither the secret key in its error nor in the logs."""
        with capture_logs() as logs, pytest.raises(ShipError) as info:
            transport(moto_endpoint, "no-such-bucket-here").send(archive)
        assert SECRET not in str(info.value)
        assert SECRET not in repr(logs)

    def test_missing_boto3_is_explained(
        self, monkeypatch: pytest.MonkeyPatch, archive: Archive
    ) -> None:
        """Without boto3 installed, sending says which extra to install."""
        monkeypatch.setitem(sys.modules, "boto3", None)
        with pytest.raises(ConfigurationError, match=r"pipeline-collector\[s3\]"):
            S3Transport(bucket="abc").send(archive)
