"""A preflight proves the destination takes an upload, before anything is collected.

Against the local ingress over real loopback HTTP(S): a form field
``test=test`` is answered 200 with a request id and nothing is staged, as
the cloud ingress does; the transport's preflight then proves the host, TLS,
the proxy and the credentials (an OAuth2 token fetched), and checks the
content type locally.  A folder and a bucket (moto's server) are probed and
left as they were.  The command and ``gather --preflight`` say the verdict
in one line and exit 0, 1 (a later try may pass) or 2.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import trustme
from moto.server import ThreadedMotoServer
from support.cli import run_cli
from support.peers import Peer, status_then

import pipeline_collector as pc
from pipeline_collector.testing import Fail, FakeTransport, IngressServer
from pipeline_collector.transports import (
    BasicAuth,
    HttpTransport,
    OAuth2ClientCredentials,
    RetryPolicy,
    S3Transport,
    content_type_problem,
)
from pipeline_collector.transports.probe import preflight

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "jobs_collectors.py")
TYPE = "application/vnd.redhat.tower.analytics+tgz"
PASSWORD = "preflight-pw-never-shown"  # noqa: S105 - a test value
QUICK = RetryPolicy(total=5, backoff_factor=0.01, jitter=0.0, max_elapsed=30.0)


def http(url: str, **kw: Any) -> HttpTransport:
    return HttpTransport(url=url, content_type=kw.pop("content_type", TYPE), retry=QUICK, **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def staged(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class TestContentType:
    @pytest.mark.parametrize(
        "text",
        [
            TYPE,
            "application/vnd.redhat.aap-event-driven-ansible.filename+tgz",
            "Application/VND.redhat.tower.analytics+TGZ",
        ],
    )
    def test_the_ingress_form_passes(self, text: str) -> None:
        assert content_type_problem(text) is None

    @pytest.mark.parametrize(
        "text",
        [
            "application/gzip",
            "application/vnd.redhat.tower+tgz",  # no category
            "application/vnd.redhat.tower.analytics+tar",
            "application/vnd.redhat..analytics+tgz",
        ],
    )
    def test_others_are_named_with_the_415_they_would_get(self, text: str) -> None:
        problem = content_type_problem(text)
        assert problem is not None and repr(text) in problem and "415" in problem


class TestLocalIngressTestField:
    """The local ingress answers ``test=test`` as the cloud's does."""

    def form(
        self, url: str, files: dict[str, Any] | None = None, *, last: bool = False, **kw: Any
    ) -> requests.Response:
        """A multipart POST whose field ``test`` is ``test``, with ``files`` before or after."""
        test = {"test": (None, "test")}
        parts = {**(files or {}), **test} if last else {**test, **(files or {})}
        return requests.post(url, files=parts, timeout=10, **kw)

    def test_a_test_field_alone_is_answered_200_and_nothing_staged(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            answer = self.form(server.url)
            assert answer.status_code == 200
            assert len(answer.json()["request_id"]) == 32
            assert server.received == [] and staged(tmp_path / "in") == []
            assert [r.status for r in server.requests] == [200]

    @pytest.mark.parametrize("last", [False, True], ids=["test first", "file first"])
    @pytest.mark.parametrize("part_type", [TYPE, "text/plain"])
    def test_a_file_part_beside_it_is_neither_looked_at_nor_kept(
        self, tmp_path: Path, part_type: str, last: bool
    ) -> None:
        """Before the file part or its type is looked at: no 415, no file on disk."""
        with IngressServer(tmp_path / "in") as server:
            files = {"file": ("a.tar.gz", b"\x1f\x8b" + os.urandom(5000), part_type)}
            answer = self.form(server.url, files=files, last=last)
            assert answer.status_code == 200, answer.text
            assert server.received == [] and staged(tmp_path / "in") == []

    def test_another_value_is_no_preflight(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            answer = requests.post(server.url, files={"test": (None, "yes")}, timeout=10)
            assert answer.status_code == 400  # no file part: what an upload without one gets

    def test_credentials_are_checked_first(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in", basic=("me", PASSWORD)) as server:
            assert self.form(server.url).status_code == 401
            assert self.form(server.url, auth=("me", PASSWORD)).status_code == 200


class TestHttpPreflight:
    def test_plain_http_takes_uploads(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server, http(server.url) as transport:
            verdict = preflight(transport)
        assert verdict.ok and verdict.request_id is not None
        assert verdict.message.startswith("takes uploads: reached;")
        assert "stored nothing" in verdict.message
        assert server.received == [] and staged(tmp_path / "in") == []

    def test_the_content_type_is_checked_before_any_request(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            verdict = pc.preflight(http(server.url, content_type="application/gzip"))
            assert not verdict.ok and not verdict.retryable and "415" in verdict.message
            assert server.requests == []

    def test_basic_credentials_accepted(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in", basic=("me", PASSWORD)) as server:
            auth = BasicAuth(user="me", password=PASSWORD)
            verdict = preflight(http(server.url, auth=auth, allow_insecure=True))
        assert verdict.ok and "BasicAuth credentials accepted" in verdict.message

    def test_basic_credentials_refused_in_one_line_without_the_secret(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in", basic=("me", "other")) as server:
            auth = BasicAuth(user="me", password=PASSWORD)
            verdict = preflight(http(server.url, auth=auth, allow_insecure=True))
        assert not verdict.ok and not verdict.retryable
        assert "answered 401 (not authorized: check the credentials)" in verdict.message
        assert "\n" not in str(verdict) and PASSWORD not in str(verdict)

    @pytest.fixture
    def tls(self, tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        return context, tmp_path / "ca.pem"

    def test_tls_verified_with_basic_auth(
        self, tmp_path: Path, tls: tuple[ssl.SSLContext, Path]
    ) -> None:
        context, ca = tls
        with IngressServer(tmp_path / "in", ssl_context=context, basic=("me", PASSWORD)) as server:
            assert server.url.startswith("https://")
            auth = BasicAuth(user="me", password=PASSWORD)
            verdict = preflight(http(server.url, auth=auth, verify=str(ca)))
        assert verdict.ok, verdict
        assert "over TLS, its certificate verified" in verdict.message
        assert server.received == []

    def test_an_unknown_certificate_authority_is_a_tls_failure(
        self, tmp_path: Path, tls: tuple[ssl.SSLContext, Path]
    ) -> None:
        context, _ = tls
        with IngressServer(tmp_path / "in", ssl_context=context) as server:
            verdict = preflight(http(server.url))
        assert not verdict.ok and not verdict.retryable
        assert verdict.message.startswith("TLS failure: certificate verification failed")
        assert server.requests == []

    def test_oauth2_fetches_a_token_and_the_ingress_takes_it(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in", clients={"svc": PASSWORD}) as server:
            auth = OAuth2ClientCredentials(
                token_url=server.token_url,
                client_id="svc",
                client_secret=PASSWORD,
                allow_insecure=True,
            )
            verdict = preflight(http(server.url, auth=auth, allow_insecure=True))
        assert verdict.ok, verdict
        assert auth.tokens_fetched == 1
        assert f"a token fetched from {server.token_url}" in verdict.message

    def test_a_refused_client_secret_is_said_as_credentials(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in", clients={"svc": "right"}) as server:
            auth = OAuth2ClientCredentials(
                token_url=server.token_url,
                client_id="svc",
                client_secret=PASSWORD,
                allow_insecure=True,
            )
            verdict = preflight(http(server.url, auth=auth, allow_insecure=True))
            assert not verdict.ok and not verdict.retryable
            assert verdict.message.startswith("credentials: token endpoint")
            assert "answered 401" in verdict.message and PASSWORD not in verdict.message
            assert [r.path for r in server.requests] == ["/token"]  # no upload tried

    def test_nobody_listening_is_worth_a_later_try(self) -> None:
        verdict = preflight(http(f"http://127.0.0.1:{closed_port()}/upload"))
        assert not verdict.ok and verdict.retryable
        assert "cannot be reached: no answer (ConnectionError) (after 3 attempts)" in (
            verdict.message
        )

    def test_a_proxy_that_is_not_there_is_named(self) -> None:
        proxy = f"http://127.0.0.1:{closed_port()}"
        verdict = preflight(http("https://ingress.invalid/upload", proxy=proxy))
        assert not verdict.ok and verdict.retryable
        assert f"the proxy {proxy} did not pass the request on (ProxyError)" in verdict.message

    def test_the_request_goes_through_the_proxy(self) -> None:
        """The proxy is sent the test upload for the ingress's URL; its 200 is the verdict."""
        with Peer(status_then(200, b'{"request_id": "via-proxy"}')) as proxy:
            base = proxy.url.removesuffix("/up")
            verdict = preflight(http("http://ingress.invalid/api/upload", proxy=base))
        assert verdict.ok and verdict.request_id == "via-proxy"
        assert f"through the proxy {base}" in verdict.message
        (request,) = proxy.requests
        assert request.startswith(b"POST http://ingress.invalid/api/upload HTTP/1.1")
        assert b'name="test"\r\n\r\ntest\r\n' in request

    def test_a_busy_ingress_is_asked_again(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            server.script([Fail(503)])
            verdict = preflight(http(server.url))
            assert verdict.ok
            assert [r.status for r in server.requests] == [503, 200]

    def test_an_ingress_busy_every_time_is_worth_a_later_try(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            server.script([Fail(503)] * 3)
            verdict = preflight(http(server.url))
        assert not verdict.ok and verdict.retryable
        assert "answered 503" in verdict.message and "(after 3 attempts)" in verdict.message

    def test_a_wrong_path_is_named(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            verdict = preflight(http(server.url.replace("/upload", "/uplaod")))
        assert not verdict.ok and not verdict.retryable
        assert "answered 404 (no such ingress endpoint: check the URL)" in verdict.message


class TestFolder:
    def test_an_existing_folder_is_probed_and_left_as_it_was(self, tmp_path: Path) -> None:
        root = tmp_path / "out"
        root.mkdir()
        (root / "kept.txt").write_text("x")
        verdict = pc.preflight(pc.DirectoryTransport(root))
        assert verdict.ok and "writable" in verdict.message and "free" in verdict.message
        assert sorted(p.name for p in root.iterdir()) == ["kept.txt"]

    def test_a_folder_to_be_made_is_not_made(self, tmp_path: Path) -> None:
        verdict = pc.preflight(pc.DirectoryTransport(tmp_path / "a" / "b"))
        assert verdict.ok and "does not exist yet" in verdict.message
        assert list(tmp_path.iterdir()) == []

    def test_a_file_in_its_place_is_named(self, tmp_path: Path) -> None:
        (tmp_path / "out").write_text("x")
        verdict = pc.preflight(pc.DirectoryTransport(tmp_path / "out"))
        assert not verdict.ok and verdict.message == "is not a folder"
        blocked = pc.preflight(pc.DirectoryTransport(tmp_path / "out" / "deeper"))
        assert not blocked.ok and "is not a folder" in blocked.message


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3(endpoint: str, bucket: str) -> S3Transport:
    return S3Transport(
        bucket=bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="AKIAEXAMPLE",
        secret_access_key="s3-secret",
        max_attempts=1,
    )


class TestBucket:
    def test_a_bucket_that_answers_is_left_as_it_was(self, moto_endpoint: str) -> None:
        client = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key="s3-secret",
        )
        client.create_bucket(Bucket="preflight-ok")
        with s3(moto_endpoint, "preflight-ok") as transport:
            verdict = preflight(transport)
        assert verdict.ok and "nothing was written" in verdict.message
        assert client.list_objects_v2(Bucket="preflight-ok").get("KeyCount") == 0

    def test_no_such_bucket(self, moto_endpoint: str) -> None:
        verdict = pc.preflight(s3(moto_endpoint, "preflight-missing"))
        assert not verdict.ok and not verdict.retryable
        assert "answered 404" in verdict.message and "no such bucket" in verdict.message

    def test_an_endpoint_away_is_worth_a_later_try(self) -> None:
        verdict = pc.preflight(s3(f"http://127.0.0.1:{closed_port()}", "preflight-away"))
        assert not verdict.ok and verdict.retryable and "cannot reach" in verdict.message


def test_the_fake_takes_uploads_and_a_stranger_is_refused() -> None:
    assert pc.preflight(FakeTransport()).ok

    class Stranger:
        def send(self, archive: Any) -> Any: ...

    with pytest.raises(pc.ConfigurationError, match="cannot be preflighted"):
        pc.preflight(Stranger())


# -- the command line -------------------------------------------------------------------


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, cwd=cwd, timeout=120)


class TestCommand:
    def test_a_folder(self, tmp_path: Path) -> None:
        done = cli("preflight", "--dir", "shipped", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("preflight ok: shipped: takes uploads")
        assert list(tmp_path.iterdir()) == []

    def test_no_destination_is_bad_usage(self, tmp_path: Path) -> None:
        done = cli("preflight", cwd=tmp_path)
        assert done.returncode == 2 and "needs a destination" in done.stderr

    def test_an_ingress_with_basic_auth_from_the_environment(self, tmp_path: Path) -> None:
        with IngressServer(tmp_path / "in", basic=("me", PASSWORD)) as server:
            args = ("--url", server.url, "--content-type", TYPE, "--user", "me")
            ok = cli("preflight", *args, "--allow-insecure", "--json", cwd=tmp_path,
                     PIPELINE_COLLECTOR_PASSWORD=PASSWORD)  # fmt: skip
            refused = cli("preflight", *args, "--allow-insecure", cwd=tmp_path,
                          PIPELINE_COLLECTOR_PASSWORD="wrong", PIPELINE_COLLECTOR_LOG_FORMAT="json")  # fmt: skip
            assert server.received == []
        assert ok.returncode == 0, ok.stderr
        document = json.loads(ok.stdout)
        assert document["ok"] is True and document["request_id"] and document["exit_code"] == 0
        assert refused.returncode == 2
        (line,) = [json.loads(x) for x in refused.stderr.splitlines() if "command.failed" in x]
        assert "answered 401" in line["error"] and "wrong" not in refused.stderr

    def test_settings_from_the_environment_and_a_retryable_exit(self, tmp_path: Path) -> None:
        done = cli(
            "preflight",
            "--retries",
            "0",
            cwd=tmp_path,
            PIPELINE_COLLECTOR_URL=f"http://127.0.0.1:{closed_port()}/upload",
            PIPELINE_COLLECTOR_CONTENT_TYPE=TYPE,
            PIPELINE_COLLECTOR_LOG_FORMAT="console",
        )
        assert done.returncode == 1
        errors = [x for x in done.stderr.splitlines() if "error" in x]
        assert len(errors) == 1 and "cannot be reached" in errors[0]

    def test_gather_preflight_stops_before_collecting(self, tmp_path: Path, jobs_db: Path) -> None:
        """A refused preflight: exit 2, no collector called, no state, nothing staged."""
        with IngressServer(tmp_path / "in", basic=("me", "other")) as server:
            done = cli(
                "gather", EXAMPLE, "--preflight", "--mode", "manual",
                "--state", "state.json", "--lock", "run.lock",
                "--url", server.url, "--content-type", TYPE, "--user", "me", "--allow-insecure",
                cwd=tmp_path, JOBS_DATABASE=str(jobs_db), PIPELINE_COLLECTOR_PASSWORD=PASSWORD,
            )  # fmt: skip
            assert [r.path for r in server.requests] == ["/api/ingress/v1/upload"]
        assert done.returncode == 2
        events = [json.loads(x) for x in done.stderr.splitlines()]
        assert "collector.called" not in {e["event"] for e in events}
        assert not [e for e in events if e["event"] == "plan.made"]
        assert not (tmp_path / "state.json").exists()

    def test_gather_preflight_then_ships(self, tmp_path: Path, jobs_db: Path) -> None:
        with IngressServer(tmp_path / "in") as server:
            done = cli(
                "gather", EXAMPLE, "--preflight", "--subset", "job_summary", "--mode", "manual",
                "--state", "state.json", "--lock", "run.lock",
                "--url", server.url, "--content-type", TYPE,
                cwd=tmp_path, JOBS_DATABASE=str(jobs_db),
            )  # fmt: skip
            statuses = [r.status for r in server.requests]
        assert done.returncode == 0, done.stderr
        assert statuses == [200, 202]  # the preflight, then the one archive
        verdicts = [json.loads(x) for x in done.stderr.splitlines() if "preflight.done" in x]
        assert [v["ok"] for v in verdicts] == [True]


class TestIngressCommand:
    """The local ingress's command takes its secrets from the environment, never a flag."""

    def test_basic_user_with_the_password_from_the_environment(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
        env["PIPELINE_COLLECTOR_INGRESS_PASSWORD"] = PASSWORD
        server = subprocess.Popen(
            [sys.executable, "-m", "pipeline_collector", "ingress", "--port", "0",
             "--dir", str(tmp_path / "in"), "--basic", "me"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split("upload url: ")[1].strip()
            transport = http(url, auth=BasicAuth(user="me", password=PASSWORD), allow_insecure=True)
            assert preflight(transport).ok
            wrong = http(url, auth=BasicAuth(user="me", password="no"), allow_insecure=True)
            assert "answered 401" in preflight(wrong).message
        finally:
            server.terminate()
            assert server.wait(30) == 0

    @pytest.mark.parametrize(
        ("args", "words"),
        [
            (["--basic", "me:hunter2"], "--basic takes the name only"),
            (["--client", "svc:hunter2"], "--client takes the name only"),
            (["--basic", "me"], "--basic needs the password in the environment"),
            (["--client", "svc"], "--client needs the secret in the environment"),
        ],
    )
    def test_a_secret_in_a_flag_or_none_at_all_is_refused(
        self, tmp_path: Path, args: list[str], words: str
    ) -> None:
        done = cli("ingress", "--port", "0", "--dir", "in", *args, cwd=tmp_path)
        assert done.returncode == 2 and words in done.stderr
        assert "hunter2" not in done.stderr
        assert not (tmp_path / "in").exists()
