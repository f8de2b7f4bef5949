"""The local ingress answers every request it read, with a status the client can act on.

A long but legal archive name is stored under a shortened, still unique
name; storage that refuses (a file size limit, a folder gone or not
writable) is answered 507 or 500 once the body is read; an identity header
nested too deep, a Content-Length of thousands of digits, a token request
cut short and a body that stalls are answered too.  Real sockets; the
storage limit is a real ``RLIMIT_FSIZE`` on an ingress process of its own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from pipeline_collector.errors import ShipError
from pipeline_collector.ingress import IngressServer
from pipeline_collector.ingress.upload import NAME_MAX
from pipeline_collector.records import Archive, Batch
from pipeline_collector.transports import HttpTransport, RetryPolicy

CTYPE = "application/vnd.redhat.tower.tower_payload+tgz"
ONCE = RetryPolicy(total=0, jitter=0.0, max_elapsed=None)


def archive_named(folder: Path, name: str, size: int = 50_000) -> Archive:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name  # the archive's name is its file's name
    data = os.urandom(size)
    path.write_bytes(data)
    return Archive(
        path=path,
        size=size,
        sha256=hashlib.sha256(data).hexdigest(),
        members=(),
        batch=Batch(group="default", number=0),
        until=datetime(2026, 11, 27, tzinfo=timezone.utc),
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IngressServer]:
    with IngressServer(tmp_path / "received", max_body=8 * 2**20) as srv:
        yield srv


def raw(server: IngressServer, data: bytes, *, half_close: bool = True) -> bytes:
    """Send bytes as they are; the whole answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


class TestLongNames:
    @pytest.mark.parametrize("length", [240, NAME_MAX])
    def test_a_long_name_is_stored_shortened_and_unique(
        self, server: IngressServer, tmp_path: Path, length: int
    ) -> None:
        name = "a" * (length - len(".tar.gz")) + ".tar.gz"
        archive = archive_named(tmp_path / "out", name)
        sender = HttpTransport(url=server.url, content_type=CTYPE, retry=ONCE)
        first, second = sender.send(archive), sender.send(archive)
        assert (first.status, second.status) == (202, 202)
        uploads = server.received
        assert [u.filename for u in uploads] == [name, name]
        paths = {u.path for u in uploads}
        assert len(paths) == 2 and all(len(p.name.encode()) <= NAME_MAX for p in paths)
        assert all(
            p.name.endswith(".tar.gz") and p.read_bytes() == archive.path.read_bytes()
            for p in paths
        )

    def test_a_name_longer_than_any_file_name_is_stored(self, server: IngressServer) -> None:
        name = "b" * 993 + ".tar.gz"
        answer = requests.post(server.url, files={"file": (name, b"payload", CTYPE)}, timeout=20)
        assert answer.status_code == 202
        [upload] = server.received
        assert upload.filename == name and upload.path.read_bytes() == b"payload"
        assert len(upload.path.name) == NAME_MAX and upload.path.name.endswith("b.tar.gz")


class TestStorageRefused:
    def test_a_file_size_limit_is_answered_507_and_retried(self, tmp_path: Path) -> None:
        """An ingress process limited to 64 KiB files answers 507; the client sees it, no reset."""
        received = tmp_path / "received"
        limit = 64 * 1024

        def limited() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        command = ["pipeline_collector.ingress", "--port", "0", "--dir", str(received)]
        proc = subprocess.Popen(
            [sys.executable, "-m", *command],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=limited,  # noqa: PLW1509 - the limit must hold in the child only
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split(": ", 1)[1].strip()
            retry = RetryPolicy(total=1, backoff_factor=0.0, jitter=0.0, max_elapsed=None)
            sender = HttpTransport(url=url, content_type=CTYPE, retry=retry, sleep=lambda s: None)
            with pytest.raises(ShipError) as caught:
                sender.send(archive_named(tmp_path / "out", "big.tar.gz", size=4 * limit))
            small = sender.send(archive_named(tmp_path / "small", "small.tar.gz", size=1000))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            if proc.stdout is not None:
                proc.stdout.close()
        error = caught.value
        assert (error.status, error.attempts, error.retryable) == (507, 2, True)
        assert not error.maybe_delivered and "insufficient storage" in str(error)
        assert small.status == 202
        assert [p.stat().st_size for p in received.iterdir()] == [1000]  # no partial file left

    def test_a_folder_gone_is_answered_500(self, server: IngressServer, tmp_path: Path) -> None:
        shutil.rmtree(server.directory)
        answer = requests.post(
            server.url, files={"file": ("a.tar.gz", b"x" * 1000, CTYPE)}, timeout=20
        )
        assert answer.status_code == 500
        assert (
            answer.json()["error"] == "the upload could not be stored (No such file or directory)"
        )

    def test_a_folder_replaced_by_a_file_is_answered_500(self, server: IngressServer) -> None:
        shutil.rmtree(server.directory)
        server.directory.write_text("not a folder")
        answer = requests.post(
            server.url, files={"file": ("a.tar.gz", b"x" * 1000, CTYPE)}, timeout=20
        )
        assert answer.status_code == 500
        assert answer.json()["error"] == "the upload could not be stored (Not a directory)"

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any folder")
    def test_a_folder_not_writable_is_answered_500(self, server: IngressServer) -> None:
        server.directory.chmod(0o500)
        try:
            answer = requests.post(
                server.url, files={"file": ("a.tar.gz", b"x" * 1000, CTYPE)}, timeout=20
            )
        finally:
            server.directory.chmod(0o700)
        assert answer.status_code == 500 and "Permission denied" in answer.json()["error"]


class TestHostileRequests:
    def test_an_identity_header_nested_deep_is_refused_401(self, tmp_path: Path) -> None:
        deep = base64.b64encode(b'{"identity": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        with IngressServer(tmp_path / "r", require_identity=True) as srv:
            answer = requests.post(
                srv.url,
                files={"file": ("a.tar.gz", b"x", CTYPE)},
                headers={"x-rh-identity": deep.decode()},
                timeout=20,
            )
        assert answer.status_code in (401, 431)  # refused, or its header too long: answered

    def test_a_content_length_of_thousands_of_digits_is_refused_413(
        self, server: IngressServer
    ) -> None:
        head = (
            b"POST /api/ingress/v1/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n"
        )
        assert raw(server, head).startswith(b"HTTP/1.1 413 ")

    def test_a_token_request_cut_short_is_refused_400(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "r", clients={"svc": "secret"}) as srv:
            head = (
                b"POST /token HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            )
            answer = raw(srv, head + b"grant_type=client")
        assert answer.startswith(b"HTTP/1.1 400 ") and b"invalid_request" in answer

    def test_an_upload_cut_short_is_refused_400(self, server: IngressServer) -> None:
        body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.tar.gz"\r\n'
        body += f"Content-Type: {CTYPE}\r\n\r\n".encode() + b"x" * 100
        head = (
            b"POST /api/ingress/v1/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(body) + 500)
        )
        answer = raw(server, head + body)
        assert answer.startswith(b"HTTP/1.1 400 ") and server.received == []
