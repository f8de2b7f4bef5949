"""A proxy's credentials never show, in any encoding, wherever a run reports.

``requests`` sends a proxy URL's ``user:password`` as a Proxy-Authorization
header (base64 of the percent-decoded pair, in latin-1).  A proxy on
127.0.0.1 that refuses each request and quotes that header back, in its
reason and its body (as it came, JSON-escaped, in lower case, decoded), is
put before a run; the secret is then searched in each of its encodings in
the exception, the logs, the run, the state file, ``status``, the command's
stderr and ``--report-json``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs
from support.peers import Peer, file_archive
from test_secret_encodings import exception_text, forms, leaks, rendered

import pipeline_collector as pc
from pipeline_collector.errors import ShipError
from pipeline_collector.transports import HttpTransport, RetryPolicy
from pipeline_collector.transports.redact import url_secrets

CONTENT_TYPE = "application/vnd.redhat.tower.analytics+tgz"
USER = "px-user"
PASSWORD = "p@ss:w/rd \u00e9%+Zq7-never-shown"  # noqa: S105 - a test value
INGRESS = "http://ingress.invalid/api/ingress/v1/upload"
WHERE = ["body", "json", "lower", "decoded", "reason"]


def proxy_url(port: int) -> str:
    return f"http://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"


def wanted() -> dict[str, str]:
    """The password and the pair in each encoding, latin-1 base64 too (what requests sends)."""
    found = {f"password {k}": v for k, v in forms(PASSWORD).items()}
    found |= {f"pair {k}": v for k, v in forms(PASSWORD, USER).items() if "basic" in k}
    pair = f"{USER}:{PASSWORD}".encode("latin-1")
    found["pair basic, latin-1"] = base64.b64encode(pair).decode()
    found["password percent-encoded"] = quote(PASSWORD, safe="")
    return found


def proxy_echo(status: int, where: str):  # type: ignore[no-untyped-def]
    """A proxy that refuses, quoting the Proxy-Authorization it was sent."""

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        head = request.partition(b"\r\n\r\n")[0].decode("latin-1")
        [line] = [x for x in head.split("\r\n") if x.lower().startswith("proxy-authorization:")]
        value = line.split(":", 1)[1].strip()
        reason = "Proxy Authentication Required"
        if where == "body":
            body = f"denied: {line}".encode("latin-1")
        elif where == "json":
            body = json.dumps({"error": "denied", "proxy_authorization": value}).encode()
        elif where == "lower":
            body = f"denied: {line}".lower().encode("latin-1")
        elif where == "decoded":
            pair = base64.b64decode(value.split()[1]).decode("latin-1")
            body = f"user and password {pair} are not allowed".encode()
        else:
            reason, body = f"denied {line}", b"denied"
        # The peer closes each connection after its answer, and says so: without it a
        # retry could go out on the pooled connection as it closes, and fail unanswered.
        status_line = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        peer.send(conn, status_line.encode("latin-1") + body)

    return answer


def transport(proxy: str) -> HttpTransport:
    return HttpTransport(
        url=INGRESS,
        content_type=CONTENT_TYPE,
        proxy=proxy,
        timeout=(5.0, 5.0),
        retry=RetryPolicy(total=1, backoff_factor=0.0, jitter=0.0, max_elapsed=None),
        sleep=lambda seconds: None,
    )


def test_url_secrets_names_the_pair_as_requests_sends_it() -> None:
    secrets = url_secrets(proxy_url(3128))
    assert PASSWORD in secrets and f"{USER}:{PASSWORD}" in secrets


@pytest.mark.parametrize("status", [407, 502])
@pytest.mark.parametrize("where", WHERE)
def test_the_transport_shows_no_encoding(tmp_path: Path, status: int, where: str) -> None:
    archive = tmp_path / "analytics-2026-11-01-000000+0000-0.tar.gz"
    archive.write_bytes(os.urandom(2048))
    with Peer(proxy_echo(status, where)) as proxy:
        port = int(proxy.url.split(":")[2].split("/")[0])
        sender = transport(proxy_url(port))
        with capture_logs() as events, pytest.raises(ShipError) as caught:
            sender.send(file_archive(archive))
        sent = proxy.requests[0].decode("latin-1")
    assert wanted()["pair basic, latin-1"] in sent  # the proxy was sent the pair
    texts = [exception_text(caught.value), rendered(events), repr(sender)]
    assert leaks(texts, wanted()) == []
    assert str(status) in str(caught.value)
    if where != "reason":
        assert "<redacted>" in str(caught.value)


COLLECTORS = textwrap.dedent(
    """
    import pipeline_collector as pc

    @pc.register("config", "1.0", config=True)
    def config(**kwargs):
        return {"version": "1"}

    @pc.register("summary", "1.0")
    def summary(**kwargs):
        return {"jobs": 3}
    """
)


@pytest.mark.parametrize("where", ["body", "json", "decoded"])
def test_the_command_state_and_status_show_no_encoding(tmp_path: Path, where: str) -> None:
    """gather through the proxy of PIPELINE_COLLECTOR_PROXY, then status of its state."""
    (tmp_path / "collectors.py").write_text(COLLECTORS, encoding="utf-8")
    report, state = tmp_path / "report.json", tmp_path / "state.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    with Peer(proxy_echo(407, where)) as proxy:
        port = int(proxy.url.split(":")[2].split("/")[0])
        env["PIPELINE_COLLECTOR_PROXY"] = proxy_url(port)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pipeline_collector", "gather", "collectors.py"),
                *("--mode", "manual", "--state", str(state), "--lock", str(tmp_path / "run.lock")),
                *("--url", INGRESS, "--content-type", CONTENT_TYPE, "--retries", "0"),
                *("--report-json", str(report), "-vv"),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert proxy.requests, done.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "pipeline_collector", "status", "--state", str(state)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    texts = [done.stdout, done.stderr, report.read_text(), state.read_text()]
    texts += [shown.stdout, shown.stderr]
    assert leaks(texts, wanted()) == []
    assert done.returncode != 0 and "407" in state.read_text()
    assert "<redacted>" in state.read_text() and "<redacted>" in report.read_text()


def test_a_library_run_records_no_encoding_in_its_state(tmp_path: Path) -> None:
    @pc.register("config", "1.0", config=True)
    def config(**kwargs: object) -> dict[str, str]:
        return {"platform": "test"}

    @pc.register("summary", "1.0")
    def summary(**kwargs: object) -> dict[str, int]:
        return {"jobs": 3}

    store = pc.JsonFileStore(tmp_path / "state.json")
    with Peer(proxy_echo(407, "decoded")) as proxy:
        port = int(proxy.url.split(":")[2].split("/")[0])
        run = pc.gather(
            [config, summary],
            mode="manual",
            state=store,
            transport=transport(proxy_url(port)),
            lock=pc.FileLock(tmp_path / "run.lock"),
            workdir=tmp_path / "work",
        )
    texts = [repr(run), str(run), (tmp_path / "state.json").read_text()]
    texts += [str(s.error) for s in run.shipments]
    assert leaks(texts, wanted()) == []
    assert run.shipments and "<redacted>" in str(run.shipments[0].error)


# --- every other URL that may carry a secret ------------------------------------------------

QUERY_TOKEN = "qt-5ecret-0123456789-never-shown"  # noqa: S105 - a test value


def request_line_echo(status: int):  # type: ignore[no-untyped-def]
    """A peer that refuses, quoting the request line (and so the URL's query) first."""

    def answer(peer: Peer, conn: socket.socket, request: bytes) -> None:
        line = request.split(b"\r\n", 1)[0]
        body = b"refused " + line + b" / " + line.lower()
        peer.send(conn, b"HTTP/1.1 %d No\r\nContent-Length: %d\r\n\r\n" % (status, len(body)))
        peer.send(conn, body)

    return answer


def test_an_ingress_url_query_token_is_cut_from_an_echo(tmp_path: Path) -> None:
    archive = tmp_path / "analytics-2026-11-01-000000+0000-0.tar.gz"
    archive.write_bytes(os.urandom(512))
    with Peer(request_line_echo(403)) as ingress:
        sender = HttpTransport(
            url=f"{ingress.url}?sig={quote(QUERY_TOKEN)}",
            content_type=CONTENT_TYPE,
            retry=RetryPolicy(total=0, jitter=0.0, max_elapsed=None),
        )
        with capture_logs() as events, pytest.raises(ShipError) as caught:
            sender.send(file_archive(archive))
    texts = [exception_text(caught.value), rendered(events), repr(sender)]
    assert leaks(texts, forms(QUERY_TOKEN)) == []
    assert "<redacted>" in str(caught.value)


def test_a_token_url_query_token_is_cut_from_an_echo(tmp_path: Path) -> None:
    archive = tmp_path / "analytics-2026-11-01-000000+0000-0.tar.gz"
    archive.write_bytes(os.urandom(512))
    with Peer(request_line_echo(400)) as tokens:
        auth = pc.transports.OAuth2ClientCredentials(
            token_url=f"{tokens.url}?api_key={quote(QUERY_TOKEN)}",
            client_id="svc",
            client_secret="client-5ecret-never-shown",  # noqa: S106 - a test value
            allow_insecure=True,
        )
        sender = HttpTransport(
            url=INGRESS,
            content_type=CONTENT_TYPE,
            auth=auth,
            allow_insecure=True,
            retry=RetryPolicy(total=0, jitter=0.0, max_elapsed=None),
        )
        with pytest.raises(ShipError) as caught:
            sender.send(file_archive(archive))
    assert leaks([exception_text(caught.value), repr(sender)], forms(QUERY_TOKEN)) == []
    assert "<redacted>" in str(caught.value)


@pytest.mark.parametrize(
    "endpoint",
    [
        f"http://AKIAEXAMPLE:{QUERY_TOKEN}@127.0.0.1:9000",
        f"http://127.0.0.1:9000/?token={QUERY_TOKEN}",
    ],
)
def test_an_s3_endpoint_carrying_a_secret_is_refused_without_it(endpoint: str) -> None:
    with pytest.raises(pc.ConfigurationError) as caught:
        pc.transports.S3Transport(bucket="analytics", endpoint_url=endpoint)
    assert "must not carry credentials" in str(caught.value)
    assert leaks([exception_text(caught.value)], forms(QUERY_TOKEN)) == []


def test_an_s3_endpoint_is_shown_without_its_query() -> None:
    transport_ = pc.transports.S3Transport(
        bucket="analytics", endpoint_url="http://127.0.0.1:9000/?region=local"
    )
    assert "endpoint_url='http://127.0.0.1:9000/'" in repr(transport_)
