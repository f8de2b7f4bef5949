"""Secrets in every encoding they take on the wire, echoed back by careless peers.

A client secret travels as base64 of ``id:secret`` (a Basic header) or
URL-encoded (a form body); a peer that answers 400 quoting the request hands
those back.  Each test below runs real sockets on 127.0.0.1, captures
everything that leaves the library (exception text, log events, the run's
report, the command line's output and ``--report-json``) and searches it for
each secret in each encoding, computed here independently of the library.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import structlog
from structlog.testing import capture_logs
from support.peers import Peer, echo, file_archive, status_then

from pipeline_collector import FileLock, gather
from pipeline_collector.errors import ShipError
from pipeline_collector.testing import MemoryStore
from pipeline_collector.transports import (
    BasicAuth,
    HttpTransport,
    IdentityAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
)

ROOT = Path(__file__).resolve().parents[1]
CONTENT_TYPE = "application/vnd.redhat.tower.analytics+tgz"
CLIENT_ID = "svc account"
# Every character that encodes differently in base64, a URL, a form and JSON.
SECRET = 'cs/\u00fc+&=x "q"\\y~Zk9-never-shown'
PASSWORD = "pw/+= \u00e9&Zq8-never-shown"
TOKEN = "tok/+=en~Bearer9-never-shown"
WHERE = ["body", "json", "lower", "reason", "location"]


def forms(secret: str, user: str | None = None) -> dict[str, str]:
    """``secret`` as it can come back: raw, URL- and form-encoded, JSON-escaped, base64."""
    found = {
        "raw": secret,
        "url": quote(secret, safe=""),
        "form": quote_plus(secret, safe=""),
        "json": json.dumps(secret)[1:-1],
        "base64": base64.b64encode(secret.encode()).decode(),
        # A header value goes out as latin-1; read back as UTF-8 it keeps most of itself.
        "latin-1 header": secret.encode("latin-1", "replace").decode("utf-8", "replace"),
    }
    if user is not None:
        pair = f"{user}:{secret}".encode()
        found["basic"] = base64.b64encode(pair).decode()
        found["basic, urlsafe"] = base64.urlsafe_b64encode(pair).decode()
        found["basic, unpadded"] = base64.b64encode(pair).decode().rstrip("=")
    return found


def leaks(texts: Iterable[str], wanted: dict[str, str]) -> list[tuple[int, str]]:
    """(text number, encoding) for each encoding found, in any case, in any text."""
    found = []
    for n, text in enumerate(texts):
        folded = text.lower()
        found += [(n, name) for name, form in wanted.items() if form.lower() in folded]
    return found


def exception_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def rendered(events: list[Any]) -> str:
    """Captured events as the console and JSON renderers print them."""
    console = structlog.dev.ConsoleRenderer(colors=False)
    as_json = structlog.processors.JSONRenderer(default=repr)
    return "\n".join(str(r(None, "info", dict(e))) for e in events for r in (console, as_json))


def oauth(token_url: str, client_auth: str = "basic") -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        token_url=token_url,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        client_auth=client_auth,  # type: ignore[arg-type]
        allow_insecure=True,
    )


def transport(url: str, auth: Any, **kwargs: Any) -> HttpTransport:
    return HttpTransport(
        url=url,
        content_type=CONTENT_TYPE,
        auth=auth,
        allow_insecure=True,
        timeout=(5.0, 5.0),
        retry=RetryPolicy(total=1, backoff_factor=0.0, jitter=0.0, max_elapsed=None),
        sleep=lambda seconds: None,
        **kwargs,
    )


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "analytics-2026-11-01-000000+0000-0.tar.gz"
    path.write_bytes(os.urandom(4096))
    return path


class TestTokenEndpointEcho:
    """A token endpoint that refuses and quotes the request never shows the client secret."""

    @pytest.mark.parametrize("client_auth", ["basic", "post"])
    @pytest.mark.parametrize("where", WHERE)
    def test_error_and_logs_hold_no_encoding_of_the_secret(
        self, archive: Path, client_auth: str, where: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The ShipError and every log event quote the answer with each encoding cut out."""
        caplog.set_level(logging.DEBUG)
        with Peer(echo(400, where=where)) as tokens, Peer(status_then(202, b"{}")) as ingress:
            sender = transport(ingress.url, oauth(tokens.url, client_auth))
            with capture_logs() as events, pytest.raises(ShipError) as caught:
                sender.send(file_archive(archive))
            sent = tokens.requests[0].decode("utf-8", "replace")
        wanted = forms(SECRET, CLIENT_ID)
        # The request did carry the secret in the encoding the mode uses.
        carried = "basic" if client_auth == "basic" else "form"
        assert wanted[carried] in sent
        texts = [exception_text(caught.value), rendered(events), caplog.text, repr(sender)]
        assert leaks(texts, wanted) == []
        assert "400" in str(caught.value)
        if where in ("body", "json", "lower"):
            assert "<redacted>" in str(caught.value)  # the echo was quoted, cut
        assert ingress.requests == []

    @pytest.mark.parametrize("client_auth", ["basic", "post"])
    def test_gather_report_holds_no_encoding_of_the_secret(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str], client_auth: str
    ) -> None:
        """A run whose token requests are refused with an echo reports it without the secret."""
        module = tmp_path / "echo_collectors.py"
        module.write_text(COLLECTORS, encoding="utf-8")
        sys.path.insert(0, str(tmp_path))
        try:
            import echo_collectors  # type: ignore[import-not-found]
        finally:
            sys.path.remove(str(tmp_path))
        with Peer(echo(400, where="body")) as tokens, Peer(status_then(202, b"{}")) as ingress:
            with capture_logs() as events:
                run = gather(
                    echo_collectors,
                    state=MemoryStore(),
                    transport=transport(ingress.url, oauth(tokens.url, client_auth)),
                    lock=FileLock(tmp_path / "run.lock"),
                    mode="manual",
                    workdir=tmp_path / "work",
                )
            assert tokens.requests, "the token endpoint was asked"
        out, err = capfd.readouterr()
        assert run.status == "partial"
        texts = [repr(run), str(run.reason), rendered(events), out, err]
        texts += [str(s.error) for s in run.shipments]
        assert leaks(texts, forms(SECRET, CLIENT_ID)) == []
        assert "<redacted>" in str(run.reason)

    @pytest.mark.parametrize("where", ["json", "lower"])
    def test_command_line_output_and_report_hold_no_encoding_of_the_secret(
        self, tmp_path: Path, where: str
    ) -> None:
        """gather on the command line: stdout, stderr and --report-json are free of the secret."""
        (tmp_path / "echo_collectors.py").write_text(COLLECTORS, encoding="utf-8")
        report = tmp_path / "report.json"
        with Peer(echo(400, where=where)) as tokens, Peer(status_then(202, b"{}")) as ingress:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
            env["PIPELINE_COLLECTOR_CLIENT_SECRET"] = SECRET
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeline_collector",
                    "gather",
                    str(tmp_path / "echo_collectors.py"),
                    "--mode",
                    "manual",
                    "--state",
                    str(tmp_path / "state.json"),
                    "--lock",
                    str(tmp_path / "run.lock"),
                    "--url",
                    ingress.url,
                    "--content-type",
                    CONTENT_TYPE,
                    "--allow-insecure",
                    "--token-url",
                    tokens.url,
                    "--client-id",
                    CLIENT_ID,
                    "--report-json",
                    str(report),
                    "-vv",
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
                timeout=120,
            )
            assert tokens.requests, done.stderr
        texts = [done.stdout, done.stderr, report.read_text(encoding="utf-8")]
        assert leaks(texts, forms(SECRET, CLIENT_ID)) == []
        assert "<redacted>" in texts[2]
        assert done.returncode != 0


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


class TestUploadEcho:
    """An ingress that refuses an upload and quotes the request shows no credential."""

    @pytest.mark.parametrize("where", ["body", "json", "lower", "reason"])
    @pytest.mark.parametrize("kind", ["basic", "identity", "header", "bearer"])
    def test_no_credential_in_any_encoding(self, archive: Path, kind: str, where: str) -> None:
        """Basic password, identity, secret header or Bearer token: each encoding is cut."""
        token_answer = json.dumps({"access_token": TOKEN, "expires_in": 300}).encode()
        with Peer(echo(403, where=where)) as ingress, Peer(status_then(200, token_answer)) as t:
            headers: dict[str, str] = {}
            auth: Any = None
            if kind == "basic":
                auth, wanted = (
                    BasicAuth(user="analyst", password=PASSWORD),
                    forms(PASSWORD, "analyst"),
                )
            elif kind == "identity":
                auth = IdentityAuth.from_ids(org_id="org/+=1")
                wanted = forms(auth.identity)
            elif kind == "header":
                headers, wanted = {"X-Api-Key": PASSWORD}, forms(PASSWORD)
            else:
                auth, wanted = oauth(t.url), {**forms(TOKEN), **forms(SECRET, CLIENT_ID)}
            sender = transport(ingress.url, auth, headers=headers)
            with capture_logs() as events, pytest.raises(ShipError) as caught:
                sender.send(file_archive(archive))
        texts = [exception_text(caught.value), rendered(events), repr(sender)]
        assert leaks(texts, wanted) == []
        assert "403" in str(caught.value)


class TestTokenLifetime:
    """``expires_in`` is taken at its word: zero is expired, absent is the default."""

    def sends(self, archive: Path, answer: dict[str, Any], times: int = 2) -> int:
        """Upload ``times`` and return how many tokens were fetched for it."""
        with (
            Peer(status_then(200, json.dumps(answer).encode())) as tokens,
            Peer(status_then(202, b"{}")) as ingress,
        ):
            sender = transport(ingress.url, oauth(tokens.url))
            for _ in range(times):
                sender.send(file_archive(archive))
            return len(tokens.requests)

    def test_zero_means_expired(self, archive: Path) -> None:
        """A token with expires_in 0 is used for its request and fetched again for the next."""
        assert self.sends(archive, {"access_token": "t1", "expires_in": 0}) == 2

    @pytest.mark.parametrize("value", [-30, "0", 0.0])
    def test_zero_or_less_in_any_form_means_expired(self, archive: Path, value: object) -> None:
        """Negative, "0" and 0.0 are expired too."""
        assert self.sends(archive, {"access_token": "t1", "expires_in": value}) == 2

    @pytest.mark.parametrize("answer", [{}, {"expires_in": None}, {"expires_in": 60}])
    def test_absent_or_positive_is_cached(self, archive: Path, answer: dict[str, Any]) -> None:
        """Without expires_in the default lifetime holds; with 60 s the token is reused."""
        assert self.sends(archive, {"access_token": "t1", **answer}) == 1

    @pytest.mark.parametrize("value", ["NaN", "Infinity", "soon", True, [300], {"s": 1}])
    def test_no_number_is_refused_by_name(self, archive: Path, value: object) -> None:
        """NaN, infinity, text, a boolean or a list is an unusable expires_in, said so."""
        with pytest.raises(ShipError, match="unusable expires_in"):
            self.sends(archive, {"access_token": "t1", "expires_in": value}, times=1)
