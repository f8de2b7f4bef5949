"""IngressServer: a real local ingress, exercised with plain HTTP clients."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import structlog

import pipeline_collector.ingress as ingress_package
from pipeline_collector.ingress import Drop, Fail, IngressServer, Redirect, Stall, main
from pipeline_collector.records import Archive, Batch
from pipeline_collector.transports import HttpTransport

CTYPE = "application/vnd.redhat.tower.tower_payload+tgz"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IngressServer]:
    """A running ingress with an 8 MiB limit, closed after the test."""
    with IngressServer(tmp_path / "received", max_body=8 * 2**20) as srv:
        yield srv


def post_file(
    url: str,
    data: bytes,
    *,
    field: str = "file",
    filename: str = "a.tar.gz",
    ctype: str = CTYPE,
    **kw: object,
) -> requests.Response:
    """Upload with requests' own multipart encoder, a client independent of ours."""
    return requests.post(url, files={field: (filename, data, ctype)}, timeout=10, **kw)  # type: ignore[arg-type]


def raw_request(server: IngressServer, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are and read the status line and body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


class TestAccepts:
    def test_file_part_is_saved(self, server: IngressServer) -> None:
        """A part named 'file' is saved byte for byte and answered 202 with a request_id."""
        data = os.urandom(3 * 2**20)
        answer = post_file(server.url, data)
        assert answer.status_code == 202
        body = answer.json()
        [upload] = server.received
        assert body["request_id"] == upload.request_id
        assert "upload" in body
        assert upload.path.read_bytes() == data
        assert upload.sha256 == hashlib.sha256(data).hexdigest()
        assert upload.size == len(data)
        assert upload.service == "tower"
        assert upload.path.parent == server.directory

    def test_upload_part_is_accepted(self, server: IngressServer) -> None:
        """A part named 'upload' is accepted too."""
        assert post_file(server.url, b"data", field="upload").status_code == 202
        assert server.received[0].field == "upload"

    def test_other_fields_are_ignored(self, server: IngressServer) -> None:
        """Extra form fields around the file do not disturb it."""
        answer = requests.post(
            server.url,
            data={"note": "x" * 1000, "metadata": json.dumps({"a": 1})},
            files={"file": ("a.tar.gz", b"payload", CTYPE)},
            timeout=10,
        )
        assert answer.status_code == 202
        assert server.received[0].path.read_bytes() == b"payload"

    def test_boundary_lookalikes_in_content(self, server: IngressServer) -> None:
        """Content holding near-boundaries, split across reads, is kept intact."""
        boundary = "b0undary-for-this-test"
        filler = os.urandom(256 * 1024 - 7)
        content = (
            filler
            + b"\r\n--"
            + boundary[:-1].encode()
            + b"X"
            + os.urandom(300_000)
            + b"\r\n-"
            + b"\r\n--"
        )
        body = (
            b"preamble to be ignored\r\n"
            + f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="x.tar.gz"\r\n'
            + f"Content-Type: {CTYPE}\r\n\r\n".encode()
            + content
            + f"\r\n--{boundary}--\r\nepilogue".encode()
        )
        answer = requests.post(
            server.url,
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=10,
        )
        assert answer.status_code == 202
        assert server.received[0].path.read_bytes() == content

    def test_hostile_filename_stays_inside(self, server: IngressServer, tmp_path: Path) -> None:
        """A filename with '../' is saved inside the server's folder."""
        assert post_file(server.url, b"x", filename="../../escape.tar.gz").status_code == 202
        [upload] = server.received
        assert upload.path.parent == server.directory
        assert upload.filename == "escape.tar.gz"
        assert not (tmp_path / "escape.tar.gz").exists()

    def test_received_headers_hide_secrets(self, tmp_path: Path) -> None:
        """Recorded headers leave out credentials but say which secret headers came."""
        with IngressServer(tmp_path / "r", basic=("u", "secret-pw")) as srv:
            answer = post_file(srv.url, b"x", auth=("u", "secret-pw"), headers={"X-Custom": "1"})
            assert answer.status_code == 202
            [upload] = srv.received
            [request] = srv.requests
        assert "Authorization" not in upload.headers
        assert upload.headers["X-Custom"] == "1"
        assert request.secret_headers == {"authorization"}
        assert "secret-pw" not in repr(srv.received) + repr(srv.requests)


class TestRefuses:
    def test_unknown_service_is_415(self, server: IngressServer) -> None:
        """A content type with an unknown service is answered 415 and nothing is kept."""
        answer = post_file(server.url, b"x", ctype="application/vnd.redhat.unknown.x+tgz")
        assert answer.status_code == 415
        assert server.received == []
        assert list(server.directory.iterdir()) == []

    def test_wrong_media_type_is_415(self, server: IngressServer) -> None:
        """A part that is not a +tgz type is answered 415."""
        assert post_file(server.url, b"x", ctype="application/json").status_code == 415

    def test_services_are_configurable(self, tmp_path: Path) -> None:
        """Only the configured services are accepted."""
        with IngressServer(tmp_path / "r", services=["my-service"]) as srv:
            ok = post_file(srv.url, b"x", ctype="application/vnd.redhat.my-service.p+tgz")
            assert ok.status_code == 202
            assert post_file(srv.url, b"x").status_code == 415

    def test_not_multipart_is_415(self, server: IngressServer) -> None:
        """A body that is not multipart/form-data is answered 415."""
        answer = requests.post(server.url, data=b"raw", timeout=10)
        assert answer.status_code == 415

    def test_missing_file_part_is_400(self, server: IngressServer) -> None:
        """A form without a 'file' or 'upload' part is answered 400."""
        answer = post_file(server.url, b"x", field="other")
        assert answer.status_code == 400
        assert "file" in answer.json()["error"]

    def test_truncated_body_is_400(self, server: IngressServer) -> None:
        """A multipart body without its closing boundary is answered 400 and nothing is kept."""
        body = (
            b"--bnd\r\n"
            b'Content-Disposition: form-data; name="file"; filename="a.tar.gz"\r\n'
            + f"Content-Type: {CTYPE}\r\n\r\n".encode()
            + b"never closed"
        )
        head = (
            b"POST /api/ingress/v1/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=bnd\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        status, _ = raw_request(server, head, body)
        assert status == 400
        assert server.received == []
        assert list(server.directory.iterdir()) == []

    def test_too_large_is_413_before_reading(self, server: IngressServer) -> None:
        """A Content-Length over the limit is answered 413 without the body being sent."""
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("POST", server.upload_path)
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(2 * server.max_body))
        conn.endheaders()
        answer = conn.getresponse()
        assert answer.status == 413
        assert "limit" in json.loads(answer.read())["error"]
        conn.close()
        assert server.received == []

    def test_limit_applies_to_the_file(self, tmp_path: Path) -> None:
        """A file of exactly the limit is accepted; one byte more is answered 413."""
        with IngressServer(tmp_path / "r", max_body=2**20) as srv:
            assert post_file(srv.url, b"x" * 2**20).status_code == 202
            too_big = post_file(srv.url, b"x" * (2**20 + 1))
            assert too_big.status_code == 413
            assert len(srv.received) == 1
            assert len(list(srv.directory.iterdir())) == 1

    def test_missing_length_is_411(self, server: IngressServer) -> None:
        """A chunked upload without Content-Length is answered 411."""
        answer = requests.post(
            server.url,
            data=iter([b"a", b"b"]),
            headers={"Content-Type": "multipart/form-data; boundary=x"},
            timeout=10,
        )
        assert answer.status_code == 411

    def test_unknown_path_is_404(self, server: IngressServer) -> None:
        """Other paths are answered 404."""
        assert requests.post(server.base_url + "/nope", data=b"x", timeout=10).status_code == 404
        assert requests.get(server.base_url + "/nope", timeout=10).status_code == 404
        assert requests.get(server.base_url + "/health", timeout=10).status_code == 200


class TestAuth:
    def test_basic(self, tmp_path: Path) -> None:
        """Basic auth: right credentials pass, wrong or missing ones get 401."""
        with IngressServer(tmp_path / "r", basic=("u", "pw")) as srv:
            assert post_file(srv.url, b"x", auth=("u", "pw")).status_code == 202
            assert post_file(srv.url, b"x", auth=("u", "no")).status_code == 401
            assert post_file(srv.url, b"x").status_code == 401
            assert srv.received[0].auth == "basic"

    def test_token_endpoint(self, tmp_path: Path) -> None:
        """The token endpoint issues Bearer tokens with expires_in to known clients only."""
        with IngressServer(tmp_path / "r", clients={"c": "s"}, token_lifetime=120) as srv:
            good = requests.post(
                srv.token_url,
                data={"grant_type": "client_credentials"},
                auth=("c", "s"),
                timeout=10,
            )
            assert good.status_code == 200
            token = good.json()
            assert token["expires_in"] == 120 and token["token_type"] == "Bearer"
            bad = requests.post(
                srv.token_url,
                data={"grant_type": "client_credentials"},
                auth=("c", "x"),
                timeout=10,
            )
            assert bad.status_code == 401
            wrong = requests.post(srv.token_url, data={"grant_type": "password"}, timeout=10)
            assert wrong.status_code == 400
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            assert post_file(srv.url, b"x", headers=bearer).status_code == 202
            srv.revoke_tokens()
            assert post_file(srv.url, b"x", headers=bearer).status_code == 401
            assert srv.tokens_issued == 1

    def test_expired_token_is_refused(self, tmp_path: Path) -> None:
        """A token past its lifetime is answered 401."""
        with IngressServer(tmp_path / "r", clients={"c": "s"}, token_lifetime=0) as srv:
            form = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}
            token = requests.post(srv.token_url, data=form, timeout=10).json()["access_token"]
            answer = post_file(srv.url, b"x", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401

    def test_identity(self, tmp_path: Path) -> None:
        """An x-rh-identity header must be base64 JSON with an identity to pass."""
        doc = {"identity": {"org_id": "77", "type": "User"}}
        good = base64.b64encode(json.dumps(doc).encode()).decode()
        with IngressServer(tmp_path / "r", require_identity=True) as srv:
            assert post_file(srv.url, b"x", headers={"x-rh-identity": good}).status_code == 202
            assert post_file(srv.url, b"x", headers={"x-rh-identity": "junk"}).status_code == 401
            assert post_file(srv.url, b"x").status_code == 401
            assert srv.received[0].principal == "77"


class TestScript:
    def test_planned_answers_apply_in_order(self, server: IngressServer) -> None:
        """Scripted failures meet the next uploads in order, then uploads succeed."""
        server.script([Fail(503), Fail(429, retry_after=3), Fail(500, body="oops")])
        first, second, third, fourth = (post_file(server.url, b"x") for _ in range(4))
        assert first.status_code == 503
        assert second.status_code == 429 and second.headers["Retry-After"] == "3"
        assert third.status_code == 500 and third.json()["error"] == "oops"
        assert fourth.status_code == 202
        assert len(server.received) == 1

    def test_retry_after_date(self, server: IngressServer) -> None:
        """Retry-After may be scripted as an HTTP date, sent as it is."""
        server.script([Fail(503, retry_after="Fri, 27 Nov 2026 12:00:30 GMT")])
        answer = post_file(server.url, b"x")
        assert answer.headers["Retry-After"] == "Fri, 27 Nov 2026 12:00:30 GMT"

    def test_drop_closes_without_answer(self, server: IngressServer) -> None:
        """Drop closes the connection mid-upload: the client sees a connection error."""
        server.script([Drop(after=1024)])
        with pytest.raises(requests.ConnectionError):
            post_file(server.url, os.urandom(4 * 2**20))
        assert server.received == []
        assert post_file(server.url, b"x").status_code == 202

    def test_stall_delays_the_answer(self, server: IngressServer) -> None:
        """Stall keeps the answer back long enough for a short read timeout to fire."""
        server.script([Stall(2)])
        with pytest.raises(requests.ReadTimeout):
            requests.post(server.url, files={"file": ("a.tar.gz", b"x", CTYPE)}, timeout=(5, 0.3))
        # The stalled upload itself was received: the answer was what got lost.
        assert len(server.received) == 1

    def test_redirect(self, server: IngressServer) -> None:
        """Redirect answers with the status and Location given."""
        server.script([Redirect("http://localhost:1/elsewhere", status=302)])
        answer = post_file(server.url, b"x", allow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["Location"] == "http://localhost:1/elsewhere"


class TestLifecycle:
    def test_port_zero_picks_a_free_port(self, tmp_path: Path) -> None:
        """Two servers on port 0 get different ports on 127.0.0.1."""
        with IngressServer(tmp_path / "a") as one, IngressServer(tmp_path / "b") as two:
            assert one.port != two.port
            assert urlsplit(one.url).hostname == "127.0.0.1"

    def test_closed_server_refuses_connections(self, tmp_path: Path) -> None:
        """After the context ends, nothing listens on the port."""
        with IngressServer(tmp_path / "a") as srv:
            port = srv.port
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass

    def test_close_does_not_wait_for_a_stall(self, tmp_path: Path) -> None:
        """Closing the server cuts a scripted stall short."""
        srv = IngressServer(tmp_path / "a").start()
        srv.script([Stall(600)])
        with pytest.raises(requests.ReadTimeout):
            requests.post(srv.url, files={"file": ("a", b"x", CTYPE)}, timeout=(5, 0.2))
        srv.close()  # returns although the handler is still stalled

    def test_repr_names_the_url(self, server: IngressServer) -> None:
        """The repr shows where the server listens."""
        assert server.url in repr(server)


class TestSurface:
    def test_public_names_are_kept(self) -> None:
        """The package offers every name the single module offered."""
        names = {
            "DEFAULT_SERVICES",
            "Drop",
            "Fail",
            "IngressServer",
            "Planned",
            "Redirect",
            "Request",
            "Stall",
            "Upload",
            "main",
        }
        assert set(ingress_package.__all__) == names
        for name in [*names, "SECRET_HEADERS", "TOKEN_PATH", "UPLOAD_PATH"]:
            assert getattr(ingress_package, name) is not None
        assert ingress_package.UPLOAD_PATH == "/api/ingress/v1/upload"

    def test_events_are_bound_with_the_stage(self, server: IngressServer) -> None:
        """An accepted upload logs ingress.received with stage='ingress' and no component."""
        with structlog.testing.capture_logs() as logs:
            assert post_file(server.url, b"payload").status_code == 202
        [event] = [e for e in logs if e["event"] == "ingress.received"]
        assert event["stage"] == "ingress"
        assert "component" not in event
        assert event["bytes"] == len(b"payload")
        assert event["request_id"] == server.received[0].request_id


class TestCommandLine:
    def test_help_has_an_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help describes the options and shows an example command."""
        with pytest.raises(SystemExit) as info:
            main(["--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        for word in ("--port", "--dir", "--basic", "--client", "--tls-cert", "example:"):
            assert word in text

    def test_runs_as_a_module(self, tmp_path: Path) -> None:
        """`python -m pipeline_collector.ingress` serves uploads until SIGTERM."""
        received = tmp_path / "received"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline_collector.ingress",
                "--port",
                "0",
                "--dir",
                str(received),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("upload url: http://127.0.0.1:")
            url = line.split(": ", 1)[1].strip()
            archive_path = tmp_path / "a.tar.gz"
            archive_path.write_bytes(os.urandom(100_000))
            blob = archive_path.read_bytes()
            archive = Archive(
                path=archive_path,
                size=len(blob),
                sha256=hashlib.sha256(blob).hexdigest(),
                members=(),
                batch=Batch(group="default", number=0),
                until=datetime(2026, 11, 27, tzinfo=timezone.utc),
            )
            receipt = HttpTransport(url=url, content_type=CTYPE).send(archive)
            assert receipt.status == 202
            saved = list(received.iterdir())
            assert [p.read_bytes() for p in saved] == [blob]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
            if proc.stdout is not None:
                proc.stdout.close()
        assert code == 0

    def test_client_ca_needs_tls(self, tmp_path: Path) -> None:
        """--client-ca without --tls-cert is refused with exit code 2."""
        assert main(["--client-ca", str(tmp_path / "ca.pem"), "--port", "0"]) == 2
