"""HttpTransport: its decisions through MockSender, without sockets; the wire
(TLS, client certificates, resets, stalls, redirects, the local ingress) over
real sockets to a real IngressServer on 127.0.0.1.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import json
import logging
import os
import re
import secrets
import socket
import ssl
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs

import attrs
import pytest
import requests
import trustme
from structlog.testing import capture_logs

from pipeline_collector.errors import ConfigurationError, ShipError
from pipeline_collector.ingress import Drop, IngressServer, Redirect, Stall
from pipeline_collector.protocols import Transport
from pipeline_collector.records import Archive, Batch
from pipeline_collector.stages.ship import ship
from pipeline_collector.testing import MockSender
from pipeline_collector.transports import (
    Auth,
    BasicAuth,
    ClientCertAuth,
    HttpTransport,
    IdentityAuth,
    NoAnswer,
    OAuth2ClientCredentials,
    Request,
    RequestsSender,
    Response,
    RetryPolicy,
    Sender,
    parse_retry_after,
)

CTYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"
USER, PASSWORD = "alice", "pa55-w0rd-never-shown"
CLIENT_ID, CLIENT_SECRET = "svc-collector", "cl1ent-secret-never-shown"
UNTIL = datetime(2026, 11, 27, tzinfo=timezone.utc)
FAST = RetryPolicy(total=3, backoff_factor=0.5, jitter=0.0)
UPLOAD_URL = "https://console.example.test/api/ingress/v1/upload"
TOKEN_URL = "https://sso.example.test/auth/token"


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


class Sleeps(list[float]):
    """Records the delays a transport asks to sleep, without sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- the ingress as a plain function, for MockSender -----------------------------


def answer(
    status: int, body: str = "", headers: Mapping[str, str] | None = None, **fields: Any
) -> Response:
    """An answer as an ingress sends it: a text body, or JSON when ``fields`` are given."""
    if fields:
        body = json.dumps(fields)
    return Response(status=status, headers=headers or {}, body=body.encode())


def basic_pair(header: str | None) -> tuple[str, str] | None:
    """The user and password of a ``Basic`` Authorization header."""
    if not header or not header.startswith("Basic "):
        return None
    user, sep, password = base64.b64decode(header[6:]).decode().partition(":")
    return (user, password) if sep else None


def identity_org(header: str | None) -> str | None:
    """The org id of an ``x-rh-identity`` header, when it is a well-formed one."""
    if not header:
        return None
    try:
        document = json.loads(base64.b64decode(header))
        return str(document["identity"]["internal"]["org_id"])
    except (ValueError, KeyError, TypeError):
        return None


@attrs.frozen(kw_only=True)
class Received:
    """An upload the fake ingress accepted: its part, headers and who sent it."""

    field: str
    filename: str
    content_type: str
    data: bytes = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)
    auth: str | None
    principal: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def file_part(request: Request) -> tuple[str, str, str, bytes]:
    """The one part of a multipart upload: name, filename, content type and bytes."""
    boundary = (request.header("Content-Type") or "").partition("boundary=")[2].encode()
    body = request.read()
    head, _, rest = body.partition(b"\r\n\r\n")
    tail = b"\r\n--" + boundary + b"--\r\n"
    assert head.startswith(b"--" + boundary + b"\r\n") and rest.endswith(tail)
    found = re.search(rb'name="([^"]*)"; filename="([^"]*)"\r\nContent-Type: (\S+)', head)
    assert found is not None
    name, filename, ctype = (part.decode() for part in found.groups())
    return name, filename, ctype, rest[: -len(tail)]


Planned = Response | Exception


class Ingress:
    """The ingress as a function for MockSender, with the local ingress's rules.

    Scripted answers (or errors to raise) come first, one per upload; then it
    checks credentials (basic, Bearer tokens it issued at ``TOKEN_URL``,
    identity) and answers 202 with a request id, as the cloud ingress does.
    """

    def __init__(
        self,
        *,
        basic: tuple[str, str] | None = None,
        clients: Mapping[str, str] | None = None,
        require_identity: bool = False,
    ) -> None:
        self.basic = basic
        self.clients = dict(clients or {})
        self.require_identity = require_identity
        self.planned: list[Planned] = []
        self.tokens: dict[str, str] = {}
        self.tokens_issued = 0
        self.requests: list[Request] = []
        self.statuses: list[int | None] = []
        self.received: list[Received] = []

    def script(self, planned: Iterable[Planned]) -> None:
        self.planned.extend(planned)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        if request.url == TOKEN_URL:
            return self._token(request)
        if self.planned:
            planned = self.planned.pop(0)
            if isinstance(planned, Exception):
                self.statuses.append(None)
                raise planned
            self.statuses.append(planned.status)
            return planned
        reply = self._upload(request)
        self.statuses.append(reply.status)
        return reply

    def _authenticate(self, request: Request) -> tuple[bool, str | None, str | None]:
        header = request.header("Authorization") or ""
        if self.basic is not None and basic_pair(header) == self.basic:
            return True, "basic", self.basic[0]
        if header.startswith("Bearer ") and header[7:] in self.tokens:
            return True, "bearer", self.tokens[header[7:]]
        org = identity_org(request.header("x-rh-identity"))
        if self.require_identity and org is not None:
            return True, "identity", org
        if self.basic is None and not self.clients and not self.require_identity:
            return True, None, None
        return False, None, None

    def _upload(self, request: Request) -> Response:
        allowed, auth, principal = self._authenticate(request)
        if not allowed:
            return answer(401, "not authorized", {"WWW-Authenticate": 'Basic realm="ingress"'})
        name, filename, ctype, data = file_part(request)
        self.received.append(
            Received(
                field=name,
                filename=filename,
                content_type=ctype,
                data=data,
                headers=request.headers,
                auth=auth,
                principal=principal,
            )
        )
        org = principal if auth == "identity" else "000001"
        upload = {"account_number": "0000001", "org_id": org}
        return answer(202, request_id=f"req-{len(self.received)}", upload=upload)

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.read().decode()).items()}
        given = basic_pair(request.header("Authorization"))
        client_id, client_secret = given or (form.get("client_id"), form.get("client_secret"))
        if form.get("grant_type") != "client_credentials":
            return answer(400, error="unsupported_grant_type")
        if client_id is None or self.clients.get(client_id) != client_secret:
            return answer(401, error="invalid_client")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = client_id
        self.tokens_issued += 1
        return answer(200, access_token=token, token_type="Bearer", expires_in=300)


# -- fixtures ---------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    folder = tmp_path / "out"
    folder.mkdir()
    return make_archive(folder)


@pytest.fixture
def big_archive(tmp_path: Path) -> Archive:
    folder = tmp_path / "big"
    folder.mkdir()
    return make_archive(folder, "analytics-big.tar.gz", payload=3 * 2**20)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IngressServer]:
    with IngressServer(tmp_path / "received") as srv:
        yield srv


@pytest.fixture
def ingress() -> Ingress:
    return Ingress()


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to open a connection fail the test."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("this test must run without sockets")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *, client_certs: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if client_certs:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def transport(server: IngressServer, sleeps: Sleeps, **kw: Any) -> HttpTransport:
    """A transport to a real local ingress, over sockets."""
    options: dict[str, Any] = {"url": server.url, "content_type": CTYPE, "retry": FAST}
    options.update(kw)
    return HttpTransport(sleep=sleeps, **options)


def mocked(ingress: Ingress, sleeps: Sleeps, **kw: Any) -> HttpTransport:
    """A transport whose requests go to ``ingress`` through a MockSender."""
    options: dict[str, Any] = {"url": UPLOAD_URL, "content_type": CTYPE, "retry": FAST}
    options.update(kw)
    return HttpTransport(sleep=sleeps, sender=MockSender(ingress), **options)


def oauth(**kw: Any) -> OAuth2ClientCredentials:
    options: dict[str, Any] = {
        "token_url": TOKEN_URL,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    options.update(kw)
    return OAuth2ClientCredentials(**options)


# -- without sockets --------------------------------------------------------------


@pytest.mark.usefixtures("no_sockets")
class TestConstruction:
    def test_fits_transport_protocol(self, ingress: Ingress, sleeps: Sleeps) -> None:
        """An HttpTransport is a Transport, every auth class an Auth, each sender a Sender."""
        assert isinstance(mocked(ingress, sleeps), Transport)
        for auth in (
            BasicAuth(user="u", password="p"),
            ClientCertAuth(),
            IdentityAuth.from_ids(org_id="1"),
            OAuth2ClientCredentials(token_url="https://x/t", client_id="c", client_secret="s"),
        ):
            assert isinstance(auth, Auth)
        assert isinstance(MockSender(ingress), Sender)
        assert isinstance(RequestsSender(), Sender)

    def test_url_is_required(self) -> None:
        """A transport without a URL is a configuration error."""
        with pytest.raises(ConfigurationError, match="url is required"):
            HttpTransport(url="", content_type=CTYPE)

    def test_url_must_be_http(self) -> None:
        """Only http:// and https:// URLs are accepted."""
        with pytest.raises(ConfigurationError, match="http"):
            HttpTransport(url="ftp://example.org/upload", content_type=CTYPE)

    def test_basic_auth_over_plain_http_is_refused(self) -> None:
        """Basic auth over http:// is refused unless allow_insecure is explicit."""
        auth = BasicAuth(user=USER, password=PASSWORD)
        with pytest.raises(ConfigurationError, match="allow_insecure"):
            HttpTransport(url="http://127.0.0.1:1/upload", content_type=CTYPE, auth=auth)
        HttpTransport(
            url="http://127.0.0.1:1/upload", content_type=CTYPE, auth=auth, allow_insecure=True
        )

    def test_oauth_over_plain_http_is_refused(self) -> None:
        """OAuth2 over http:// is refused, both for the token URL and the upload URL."""
        with pytest.raises(ConfigurationError, match="token_url"):
            OAuth2ClientCredentials(
                token_url="http://127.0.0.1:1/token", client_id="c", client_secret="s"
            )
        auth = OAuth2ClientCredentials(
            token_url="https://127.0.0.1:1/token", client_id="c", client_secret="s"
        )
        with pytest.raises(ConfigurationError, match="allow_insecure"):
            HttpTransport(url="http://127.0.0.1:1/upload", content_type=CTYPE, auth=auth)

    def test_identity_over_plain_http_is_allowed(self) -> None:
        """The identity header is for local ingresses, so plain http:// is fine."""
        HttpTransport(
            url="http://127.0.0.1:1/upload",
            content_type=CTYPE,
            auth=IdentityAuth.from_ids(org_id="1"),
        )

    def test_credentials_in_url_are_refused(self) -> None:
        """User info in the URL is refused so that it never reaches a log line."""
        with pytest.raises(ConfigurationError, match="must not carry credentials") as info:
            HttpTransport(url=f"https://{USER}:{PASSWORD}@example.org/up", content_type=CTYPE)
        assert PASSWORD not in str(info.value)

    def test_content_type_must_be_a_media_type(self) -> None:
        """A content type with line breaks or without a slash is refused."""
        for bad in ("", "tgz", "application/x\r\nX-Evil: 1"):
            with pytest.raises(ConfigurationError, match="content_type"):
                HttpTransport(url="https://example.org/up", content_type=bad)

    def test_header_injection_is_refused(self) -> None:
        """Custom header values with line breaks are refused."""
        with pytest.raises(ConfigurationError, match="line break"):
            HttpTransport(
                url="https://example.org/up",
                content_type=CTYPE,
                headers={"User-Agent": "x\r\nX-Evil: 1"},
            )

    def test_missing_ca_bundle_is_refused(self, tmp_path: Path) -> None:
        """A CA bundle path that does not exist is a configuration error."""
        with pytest.raises(ConfigurationError, match="CA bundle"):
            HttpTransport(
                url="https://example.org/up", content_type=CTYPE, verify=str(tmp_path / "no.pem")
            )

    def test_verification_is_on_by_default(self) -> None:
        """Without saying otherwise, TLS certificates are verified."""
        assert HttpTransport(url="https://example.org/up", content_type=CTYPE).verify is True

    def test_default_timeouts(self) -> None:
        """Connect and read timeouts are 31 seconds each by default."""
        assert HttpTransport(url="https://x/up", content_type=CTYPE).timeout == (31.0, 31.0)

    def test_rhsm_paths_are_the_default_client_cert(self) -> None:
        """ClientCertAuth defaults to RHSM's consumer certificate and key."""
        auth = ClientCertAuth()
        assert (auth.cert, auth.key) == ("/etc/pki/consumer/cert.pem", "/etc/pki/consumer/key.pem")

    def test_session_and_sender_are_exclusive(self, ingress: Ingress) -> None:
        """A session belongs to the default sender, so giving both is refused."""
        with requests.Session() as session, pytest.raises(ConfigurationError, match="not both"):
            HttpTransport(
                url=UPLOAD_URL, content_type=CTYPE, session=session, sender=MockSender(ingress)
            )


@pytest.mark.usefixtures("no_sockets")
class TestRequests:
    def test_custom_headers_are_sent(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """Custom headers such as User-Agent reach the ingress."""
        headers = {"User-Agent": "eda-collector/1.2", "X-Collector-Version": "0.1.0"}
        mocked(ingress, sleeps, headers=headers).send(archive)
        seen = {k.lower(): v for k, v in ingress.received[0].headers.items()}
        assert seen["user-agent"] == "eda-collector/1.2"
        assert seen["x-collector-version"] == "0.1.0"

    def test_upload_is_one_file_part(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """The body is one part named 'file' with the archive's name, type and bytes."""
        receipt = mocked(ingress, sleeps).send(archive)
        [upload] = ingress.received
        assert (upload.field, upload.filename, upload.content_type) == ("file", archive.name, CTYPE)
        assert upload.data == archive.path.read_bytes()
        assert receipt.request_id == "req-1"
        assert json.loads(receipt.location or "")["account_number"] == "0000001"

    def test_sender_gets_the_transport_settings(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive, ca_bundle: str
    ) -> None:
        """Uploads and token requests both go out with the transport's TLS, proxy and timeouts."""
        proxy = "http://proxyuser:proxy-pass@proxy.example.test:3128"
        ingress.clients[CLIENT_ID] = CLIENT_SECRET
        tr = mocked(
            ingress, sleeps, auth=oauth(), verify=ca_bundle, proxy=proxy, timeout=(3.0, 7.0)
        )
        tr.send(archive)
        assert [r.url for r in ingress.requests] == [TOKEN_URL, UPLOAD_URL]
        for request in ingress.requests:
            assert (request.method, request.verify, request.proxy) == ("POST", ca_bundle, proxy)
            assert request.timeout == (3.0, 7.0)
        assert "proxy-pass" not in repr(ingress.requests)

    def test_client_certificate_goes_to_the_sender(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive, tmp_path: Path
    ) -> None:
        """ClientCertAuth hands its certificate and key to the sender for the TLS handshake."""
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        cert.write_text("cert")
        key.write_text("key")
        auth = ClientCertAuth(cert=str(cert), key=str(key))
        mocked(ingress, sleeps, auth=auth).send(archive)
        assert ingress.requests[0].cert == (str(cert), str(key))

    def test_missing_file_is_a_ship_error(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive, tmp_path: Path
    ) -> None:
        """An archive file that vanished fails at once, without contacting the ingress."""
        gone = attrs.evolve(archive, path=tmp_path / "gone.tar.gz")
        with pytest.raises(ShipError, match="cannot read") as info:
            mocked(ingress, sleeps).send(gone)
        assert ingress.requests == []
        assert info.value.attempts == 1 and not info.value.retryable

    def test_mock_sender_keeps_what_it_was_sent(self, ingress: Ingress, archive: Archive) -> None:
        """MockSender hands the handler the request with its body read whole, and keeps it."""
        sender = MockSender(ingress)
        tr = HttpTransport(url=UPLOAD_URL, content_type=CTYPE, sender=sender)
        tr.send(archive)
        [request] = sender.requests
        assert request is ingress.requests[0]
        assert archive.path.read_bytes() in request.read()
        assert request.body.length == len(request.read())


@pytest.mark.usefixtures("no_sockets")
class TestRefusals:
    @pytest.mark.parametrize("status", [400, 403, 404])
    def test_client_errors_are_not_retried(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive, status: int
    ) -> None:
        """400, 403 and 404 are refused at once with the status and the ingress's words."""
        ingress.script([answer(status, f"ingress says no ({status})")])
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps).send(archive)
        assert info.value.status == status
        assert info.value.attempts == 1
        assert f"ingress says no ({status})" in str(info.value)
        assert sleeps == []

    def test_body_excerpt_is_short_and_printable(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A long, noisy answer is cut to a short single-line excerpt."""
        ingress.script([answer(400, "\x1b[31m" + "x" * 5000 + "\n\tend")])
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps).send(archive)
        message = str(info.value)
        assert len(message) < 400
        assert "\x1b" not in message and "\n" not in message


@pytest.mark.usefixtures("no_sockets")
class TestRetries:
    def test_503_then_success(self, ingress: Ingress, sleeps: Sleeps, archive: Archive) -> None:
        """A 503 is retried after a backoff and the second attempt succeeds."""
        ingress.script([answer(503)])
        receipt = mocked(ingress, sleeps).send(archive)
        assert receipt.attempts == 2
        assert sleeps == [0.5]
        assert ingress.statuses == [503, 202]
        assert ingress.received[0].sha256 == archive.sha256

    def test_backoff_doubles(self, ingress: Ingress, sleeps: Sleeps, archive: Archive) -> None:
        """Each further retry waits twice as long as the one before."""
        ingress.script([answer(500), answer(502), answer(504)])
        receipt = mocked(ingress, sleeps).send(archive)
        assert receipt.attempts == 4
        assert sleeps == [0.5, 1.0, 2.0]

    def test_retry_after_seconds_is_honoured(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A 429 with Retry-After: 7 makes the transport wait 7 seconds."""
        ingress.script([answer(429, headers={"Retry-After": "7"})])
        receipt = mocked(ingress, sleeps).send(archive)
        assert sleeps == [7.0]
        assert receipt.attempts == 2

    def test_retry_after_http_date_is_honoured(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A Retry-After given as an HTTP date waits until that date."""
        when = datetime.now(timezone.utc) + timedelta(seconds=90)
        date = email.utils.format_datetime(when, usegmt=True)
        ingress.script([answer(503, headers={"retry-after": date})])
        mocked(ingress, sleeps).send(archive)
        [delay] = sleeps
        assert 60 < delay <= 90

    def test_408_is_retried(self, ingress: Ingress, sleeps: Sleeps, archive: Archive) -> None:
        """A 408 request timeout is retried."""
        ingress.script([answer(408)])
        assert mocked(ingress, sleeps).send(archive).attempts == 2

    def test_retries_run_out(self, ingress: Ingress, sleeps: Sleeps, archive: Archive) -> None:
        """When every attempt fails, ShipError reports the last status and all attempts."""
        ingress.script([answer(503)] * 4)
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps).send(archive)
        assert info.value.status == 503
        assert info.value.attempts == 4
        assert info.value.retryable
        assert not info.value.maybe_delivered
        assert len(sleeps) == 3

    def test_out_of_time_stops_retrying(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A retry that would end after max_elapsed is not attempted."""
        ingress.script([answer(429, headers={"Retry-After": "3600"})])
        policy = RetryPolicy(total=5, jitter=0.0, max_elapsed=60.0)
        with pytest.raises(ShipError, match="out of time") as info:
            mocked(ingress, sleeps, retry=policy).send(archive)
        assert info.value.attempts == 1
        assert sleeps == []

    def test_connection_lost_after_the_body_may_have_delivered(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """Connections lost after the body went out are retried; the error says it may have arrived."""
        ingress.script([ConnectionResetError()] * 4)
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps).send(archive)
        assert info.value.attempts == 4 and info.value.status is None
        assert info.value.maybe_delivered
        assert "may have arrived" in str(info.value)

    def test_connection_refused_is_retried_and_not_maybe_delivered(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A connection refused before the body went out is retried and delivered nothing."""
        ingress.script([ConnectionRefusedError(), NoAnswer("ConnectTimeout", body_sent=False)])
        receipt = mocked(ingress, sleeps).send(archive)
        assert receipt.attempts == 3
        assert not receipt.maybe_duplicated
        assert ingress.statuses == [None, None, 202]

    def test_success_after_a_lost_answer_may_be_a_duplicate(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """An upload accepted after a lost answer says it may have arrived twice."""
        ingress.script([TimeoutError()])
        receipt = mocked(ingress, sleeps).send(archive)
        assert receipt.attempts == 2
        assert receipt.maybe_duplicated

    def test_definite_refusal_keeps_maybe_delivered(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A lost answer followed by a 403 still reports that the archive may have arrived."""
        ingress.script([ConnectionResetError(), answer(403)])
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps).send(archive)
        assert info.value.status == 403
        assert info.value.maybe_delivered


class TestRetryPolicy:
    def test_increment_returns_a_new_policy(self) -> None:
        """increment() leaves the policy untouched and returns one with a retry fewer."""
        policy = RetryPolicy(total=2)
        after = policy.increment("503")
        assert policy.total == 2 and policy.history == ()
        assert after.total == 1 and after.history == ("503",)
        assert not after.exhausted
        assert after.increment("x").increment("y").exhausted

    def test_backoff_is_capped(self) -> None:
        """The backoff never exceeds backoff_max (jitter aside)."""
        policy = RetryPolicy(total=20, backoff_factor=1.0, backoff_max=10.0, jitter=0.0)
        for _ in range(8):
            policy = policy.increment("e")
        assert policy.backoff() == 10.0

    def test_jitter_adds_at_most_its_amount(self) -> None:
        """Jitter adds between 0 and `jitter` seconds to the backoff."""
        policy = RetryPolicy(backoff_factor=1.0, jitter=0.25).increment("e")
        for _ in range(50):
            assert 1.0 <= policy.backoff() <= 1.25

    def test_retryable_statuses(self) -> None:
        """408, 429 and 5xx are retryable; 400, 401, 403, 404, 413, 415 are not."""
        policy = RetryPolicy()
        assert all(policy.is_retryable(s) for s in (408, 429, 500, 502, 503, 504, 599))
        assert not any(policy.is_retryable(s) for s in (400, 401, 403, 404, 413, 415))

    def test_parse_retry_after(self) -> None:
        """Retry-After is read as seconds or as an HTTP date; garbage is ignored."""
        now = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
        assert parse_retry_after("120", now=now) == 120.0
        assert parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now=now) == 30.0
        assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now=now) == 0.0
        assert parse_retry_after("soon", now=now) is None
        assert parse_retry_after(None) is None


@pytest.mark.usefixtures("no_sockets")
class TestAuth:
    def test_basic_auth_is_accepted(self, sleeps: Sleeps, archive: Archive, ca_bundle: str) -> None:
        """Basic user and password are accepted, sent with the transport's TLS verification."""
        ingress = Ingress(basic=(USER, PASSWORD))
        auth = BasicAuth(user=USER, password=PASSWORD)
        mocked(ingress, sleeps, auth=auth, verify=ca_bundle).send(archive)
        [upload] = ingress.received
        assert (upload.auth, upload.principal) == ("basic", USER)
        assert ingress.requests[0].verify == ca_bundle

    def test_wrong_password_is_401_not_retried(self, sleeps: Sleeps, archive: Archive) -> None:
        """A wrong password gives ShipError 401 after one attempt."""
        ingress = Ingress(basic=(USER, PASSWORD))
        auth = BasicAuth(user=USER, password="wrong")
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps, auth=auth).send(archive)
        assert info.value.status == 401
        assert info.value.attempts == 1
        assert "credentials" in str(info.value)

    def test_missing_credentials_are_401(self, sleeps: Sleeps, archive: Archive) -> None:
        """An ingress that wants auth refuses an anonymous upload with 401."""
        ingress = Ingress(basic=(USER, PASSWORD))
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps).send(archive)
        assert info.value.status == 401

    def test_missing_client_certificate_file(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive, tmp_path: Path
    ) -> None:
        """A client certificate path that does not exist is named in the error."""
        auth = ClientCertAuth(cert=str(tmp_path / "none.pem"), key=str(tmp_path / "none.key"))
        with pytest.raises(ShipError, match=r"none\.pem"):
            mocked(ingress, sleeps, auth=auth).send(archive)
        assert ingress.requests == []

    def test_identity_header(self, sleeps: Sleeps, archive: Archive) -> None:
        """An x-rh-identity header built from an org id is accepted and its org recorded."""
        ingress = Ingress(require_identity=True)
        auth = IdentityAuth.from_ids(org_id="4242", account_number="0001")
        receipt = mocked(ingress, sleeps, auth=auth).send(archive)
        [upload] = ingress.received
        assert (upload.auth, upload.principal) == ("identity", "4242")
        assert json.loads(receipt.location or "")["org_id"] == "4242"
        document = json.loads(base64.b64decode(auth.identity))
        assert document["identity"]["internal"]["org_id"] == "4242"
        assert document["identity"]["account_number"] == "0001"


@pytest.mark.usefixtures("no_sockets")
class TestOAuth:
    @pytest.mark.parametrize("client_auth", ["basic", "post"])
    def test_oauth_token_is_fetched_once_and_reused(
        self,
        tmp_path: Path,
        ca_bundle: str,
        sleeps: Sleeps,
        archive: Archive,
        client_auth: str,
    ) -> None:
        """Two uploads share one cached Bearer token from the token endpoint."""
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        auth = oauth(client_auth=client_auth)
        tr = mocked(ingress, sleeps, auth=auth, verify=ca_bundle)
        tr.send(archive)
        tr.send(make_archive(tmp_path, "second.tar.gz"))
        assert ingress.tokens_issued == 1
        assert [u.principal for u in ingress.received] == [CLIENT_ID, CLIENT_ID]
        assert auth.tokens_fetched == 1
        [token_request] = [r for r in ingress.requests if r.url == TOKEN_URL]
        assert token_request.verify == ca_bundle
        in_header = token_request.header("Authorization") is not None
        assert in_header == (client_auth == "basic")
        assert (CLIENT_SECRET.encode() in token_request.read()) == (client_auth == "post")

    def test_oauth_token_is_refreshed_before_expiry(
        self, tmp_path: Path, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A token close to its expires_in is replaced before it is used again."""
        now = [1000.0]
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        auth = oauth(monotonic=lambda: now[0])
        tr = mocked(ingress, sleeps, auth=auth)
        tr.send(archive)
        now[0] += 250  # still inside the 30 s leeway before 300 s
        tr.send(make_archive(tmp_path, "b.tar.gz"))
        assert ingress.tokens_issued == 1
        now[0] += 30  # now within the leeway: fetch a fresh one
        tr.send(make_archive(tmp_path, "c.tar.gz"))
        assert ingress.tokens_issued == 2

    def test_oauth_token_is_refreshed_once_on_401(
        self, tmp_path: Path, sleeps: Sleeps, archive: Archive
    ) -> None:
        """After the ingress revokes a token, the next upload fetches a new one and succeeds."""
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        tr = mocked(ingress, sleeps, auth=oauth())
        tr.send(archive)
        ingress.revoke_tokens()
        receipt = tr.send(make_archive(tmp_path, "b.tar.gz"))
        assert ingress.tokens_issued == 2
        assert ingress.statuses == [202, 401, 202]
        assert receipt.attempts == 2
        assert sleeps == []

    def test_oauth_second_401_is_final(self, sleeps: Sleeps, archive: Archive) -> None:
        """A 401 after a fresh token is not retried again."""
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        ingress.script([answer(401), answer(401)])
        with pytest.raises(ShipError) as info:
            mocked(ingress, sleeps, auth=oauth()).send(archive)
        assert ingress.tokens_issued == 2
        assert info.value.status == 401
        assert info.value.attempts == 2

    def test_oauth_bad_client_secret(self, sleeps: Sleeps, archive: Archive) -> None:
        """A token endpoint that refuses the client gives a ShipError naming the endpoint."""
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        auth = oauth(client_secret="not-" + CLIENT_SECRET)
        with pytest.raises(ShipError, match="token endpoint") as info:
            mocked(ingress, sleeps, auth=auth).send(archive)
        assert ingress.received == []
        assert info.value.status == 401
        assert CLIENT_SECRET not in str(info.value)

    def test_unreachable_token_endpoint_is_retried(self, sleeps: Sleeps, archive: Archive) -> None:
        """A token request that gets no answer is retried like an upload, with a backoff."""
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        calls: list[str] = []

        def flaky(request: Request) -> Response:
            calls.append(request.url)
            if len(calls) == 1:
                raise ConnectionRefusedError
            return ingress(request)

        tr = HttpTransport(
            url=UPLOAD_URL,
            content_type=CTYPE,
            auth=oauth(),
            retry=FAST,
            sleep=sleeps,
            sender=MockSender(flaky),
        )
        receipt = tr.send(archive)
        assert calls == [TOKEN_URL, TOKEN_URL, UPLOAD_URL]
        assert receipt.attempts == 2
        assert sleeps == [0.5]


@pytest.mark.usefixtures("no_sockets")
class TestSecrets:
    def test_reprs_hide_secrets(self, tmp_path: Path) -> None:
        """No secret appears in the repr of an auth object or a transport."""
        oauth = OAuth2ClientCredentials(
            token_url="https://sso.example.org/token",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        identity = IdentityAuth.from_ids(org_id="99")
        objects: list[object] = [
            BasicAuth(user=USER, password=PASSWORD),
            oauth,
            identity,
            HttpTransport(
                url="https://example.org/up",
                content_type=CTYPE,
                auth=BasicAuth(user=USER, password=PASSWORD),
                headers={"X-Api-Key": "custom-secret-value"},
                proxy="http://proxyuser:proxy-pass-never-shown@proxy.example.org:3128",
            ),
            HttpTransport(url="https://example.org/up", content_type=CTYPE, auth=oauth),
            oauth.token_request(),
        ]
        text = " ".join(repr(o) for o in objects)
        for secret in (
            PASSWORD,
            CLIENT_SECRET,
            identity.identity,
            "custom-secret-value",
            "proxy-pass-never-shown",
        ):
            assert secret not in text
        assert "proxy.example.org" in text

    def test_logs_and_errors_never_carry_secrets(
        self,
        sleeps: Sleeps,
        archive: Archive,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Across successes, retries, refusals and answers that echo them, secrets never leak."""
        identity = IdentityAuth.from_ids(org_id="31337")
        basic = BasicAuth(user=USER, password=PASSWORD)
        basic_token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        errors: list[str] = []
        caplog.set_level(logging.DEBUG)
        ingress = Ingress(
            basic=(USER, PASSWORD), clients={CLIENT_ID: CLIENT_SECRET}, require_identity=True
        )
        with capture_logs() as logs:
            auth2 = oauth()
            own_secrets: dict[int, str] = {
                id(basic): f"{PASSWORD} {basic_token}",
                id(auth2): CLIENT_SECRET,
                id(identity): identity.identity,
            }
            for auth in (basic, auth2, identity):
                tr = mocked(
                    ingress, sleeps, auth=auth, headers={"X-Api-Key": "custom-secret-value"}
                )
                secrets_in_play = own_secrets[id(auth)]
                ingress.script(
                    [
                        answer(503, f"echo {secrets_in_play} custom-secret-value"),
                        ConnectionResetError(),
                        answer(400, f"bad {secrets_in_play} custom-secret-value"),
                    ]
                )
                with pytest.raises(ShipError) as info:
                    tr.send(archive)
                errors.append(str(info.value))
                errors.append(repr(info.value))
                ingress.script([answer(400, f"bad {secrets_in_play} custom-secret-value")])
                failed = ship(tr, archive)
                errors.append(repr(failed))
                tr.send(archive)
            ingress.revoke_tokens()
            oauth_tr = mocked(ingress, sleeps, auth=auth2)
            oauth_tr.send(archive)
            assert len(ingress.received) == 4
        shown = [*errors, *(repr(e) for e in logs), *(repr(r) for r in ingress.requests)]
        haystack = "\n".join([*shown, caplog.text])
        assert "ship.retry" in haystack and "ship.refused" in haystack
        for secret in (PASSWORD, basic_token, CLIENT_SECRET, identity.identity):
            assert secret not in haystack
        assert "custom-secret-value" not in haystack
        assert "<redacted>" in haystack


@pytest.mark.usefixtures("no_sockets")
class TestLogs:
    def test_events_for_a_retried_upload(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A retried upload logs ship.attempt twice, ship.retry with status and delay, ship.accepted."""
        ingress.script([answer(503)])
        with capture_logs() as logs:
            assert ship(mocked(ingress, sleeps), archive).ok
        names = [e["event"] for e in logs if e["event"].startswith("ship.")]
        assert names == ["ship.attempt", "ship.retry", "ship.attempt", "ship.accepted"]
        retry = next(e for e in logs if e["event"] == "ship.retry")
        assert retry["status"] == 503 and retry["delay"] == 0.5
        assert retry["archive"] == archive.name and retry["attempt"] == 1
        accepted = next(e for e in logs if e["event"] == "ship.accepted")
        assert accepted["attempts"] == 2 and accepted["archive"] == archive.name
        attempt = next(e for e in logs if e["event"] == "ship.attempt")
        assert (attempt["archive"], attempt["attempt"]) == (archive.name, 1)
        assert attempt["destination"] == "http"
        assert all(e.get("stage") == "ship" for e in logs if e["event"].startswith("ship."))
        assert not any("component" in e for e in logs if e["event"].startswith("ship."))

    def test_refusal_is_logged(self, ingress: Ingress, sleeps: Sleeps, archive: Archive) -> None:
        """A refused upload logs ship.refused with the status, once."""
        ingress.script([answer(413)])
        with capture_logs() as logs:
            assert not ship(mocked(ingress, sleeps), archive).ok
        refused = [e for e in logs if e["event"] == "ship.refused"]
        assert refused and refused[0]["status"] == 413
        assert len(refused) == 1

    def test_exhausted_retries_log_one_refusal(
        self, ingress: Ingress, sleeps: Sleeps, archive: Archive
    ) -> None:
        """Retries that run out log a ship.retry per retry and one ship.refused in all."""
        ingress.script([answer(503)] * 4)
        with capture_logs() as logs:
            assert not ship(mocked(ingress, sleeps), archive).ok
        names = [e["event"] for e in logs if e["event"].startswith("ship.")]
        assert names.count("ship.retry") == 3 and names.count("ship.attempt") == 4
        assert names[-1] == "ship.refused" and names.count("ship.refused") == 1

    def test_token_fetch_is_logged_without_the_token(
        self, sleeps: Sleeps, archive: Archive
    ) -> None:
        """Fetching a token logs token.fetched with the endpoint, never the token."""
        ingress = Ingress(clients={CLIENT_ID: CLIENT_SECRET})
        with capture_logs() as logs:
            mocked(ingress, sleeps, auth=oauth()).send(archive)
        [fetched] = [e for e in logs if e["event"] == "token.fetched"]
        assert fetched["token_url"] == TOKEN_URL and fetched["stage"] == "ship"
        [token] = ingress.tokens
        assert token not in repr(logs)


# -- over real sockets ------------------------------------------------------------


class TestWire:
    """What only a real ingress on a real socket shows: bytes on disk, framing, sessions."""

    def test_received_file_is_byte_identical(
        self, server: IngressServer, sleeps: Sleeps, big_archive: Archive
    ) -> None:
        """The ingress saves exactly the archive's bytes, as one part named 'file'."""
        receipt = transport(server, sleeps).send(big_archive)
        [upload] = server.received
        assert upload.sha256 == big_archive.sha256
        assert upload.path.read_bytes() == big_archive.path.read_bytes()
        assert upload.field == "file"
        assert upload.filename == big_archive.name
        assert upload.content_type == CTYPE
        assert upload.service == "aap-event-driven-ansible"
        assert receipt.sha256 == big_archive.sha256

    def test_received_file_is_a_readable_tar(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """What the ingress saved opens as a tar with the archive's members."""
        transport(server, sleeps).send(archive)
        with tarfile.open(server.received[0].path, "r:gz") as tar:
            assert tuple(tar.getnames()) == archive.members

    def test_receipt_carries_the_answer(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """The receipt holds status 202, the request_id and the upload value."""
        receipt = transport(server, sleeps).send(archive)
        [upload] = server.received
        assert receipt.status == 202
        assert receipt.request_id == upload.request_id
        assert receipt.attempts == 1
        assert receipt.destination == "http"
        assert receipt.archive == archive.name
        assert json.loads(receipt.location or "")["account_number"] == "0000001"
        assert sleeps == []

    def test_body_has_a_content_length(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """The streamed body is sent with a Content-Length, not chunked."""
        transport(server, sleeps).send(archive)
        seen = {k.lower(): v for k, v in server.received[0].headers.items()}
        assert int(seen["content-length"]) > archive.size
        assert "transfer-encoding" not in seen

    def test_given_session_is_used_and_left_open(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive, tmp_path: Path
    ) -> None:
        """A session passed in is used for the upload and not closed by close()."""
        with requests.Session() as session:
            session.headers["X-From-Session"] = "yes"
            tr = transport(server, sleeps, session=session)
            tr.send(archive)
            tr.close()
            tr.send(make_archive(tmp_path, "second.tar.gz"))
        assert [u.headers.get("X-From-Session") for u in server.received] == ["yes", "yes"]

    def test_odd_file_name_cannot_break_the_form(
        self, server: IngressServer, sleeps: Sleeps, tmp_path: Path
    ) -> None:
        """Quotes and line breaks in the archive name are escaped in the part headers."""
        odd = make_archive(tmp_path, 'odd "name"\r\nX-Injected: 1.tar.gz')
        receipt = transport(server, sleeps).send(odd)
        [upload] = server.received
        assert receipt.status == 202
        assert upload.sha256 == odd.sha256
        assert upload.field == "file"
        assert '"' not in upload.filename and "\n" not in upload.filename
        assert "X-Injected" not in upload.headers

    def test_changed_file_is_not_delivered(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A file that no longer matches its record is cut off before the closing boundary."""
        tampered = attrs.evolve(archive, sha256="0" * 64)
        with pytest.raises(ShipError, match="changed on disk") as info:
            transport(server, sleeps).send(tampered)
        assert info.value.attempts == 1
        assert server.received == []

    def test_too_large_is_not_retried(
        self, tmp_path: Path, sleeps: Sleeps, big_archive: Archive
    ) -> None:
        """A 413 raises ShipError at once, saying the archive is too large."""
        with IngressServer(tmp_path / "r", max_body=2**20) as small:
            with pytest.raises(ShipError) as info:
                transport(small, sleeps).send(big_archive)
            assert small.received == []
            assert len(small.requests) == 1
        assert info.value.status == 413
        assert info.value.attempts == 1
        assert not info.value.retryable
        assert "too large" in str(info.value)
        assert sleeps == []

    def test_unknown_content_type_is_not_retried(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A 415 for an unregistered service raises ShipError at once."""
        tr = transport(server, sleeps, content_type="application/vnd.redhat.nobody.x+tgz")
        with pytest.raises(ShipError) as info:
            tr.send(archive)
        assert info.value.status == 415
        assert info.value.attempts == 1
        assert "content type" in str(info.value)
        assert server.received == []


class TestConnections:
    """Resets, refusals and stalls of real TCP connections."""

    def test_body_is_resent_from_the_start(
        self, server: IngressServer, sleeps: Sleeps, big_archive: Archive
    ) -> None:
        """After a connection dropped mid-upload, the retry sends the whole file again."""
        server.script([Drop(after=100_000)])
        receipt = transport(server, sleeps).send(big_archive)
        assert receipt.attempts == 2
        [upload] = server.received
        assert upload.sha256 == big_archive.sha256
        assert upload.size == big_archive.size

    def test_refused_connection_is_retried_and_not_maybe_delivered(
        self, sleeps: Sleeps, archive: Archive
    ) -> None:
        """Nobody listening: retried, then ShipError that says nothing arrived."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        tr = HttpTransport(
            url=f"http://127.0.0.1:{port}/upload", content_type=CTYPE, retry=FAST, sleep=sleeps
        )
        with pytest.raises(ShipError) as info:
            tr.send(archive)
        assert info.value.attempts == 4
        assert info.value.status is None
        assert not info.value.maybe_delivered

    def test_lost_answer_sets_maybe_delivered(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """When the body was sent but no answer came, the final error says it may have arrived."""
        server.script([Drop(after=None)] * 4)
        with pytest.raises(ShipError) as info:
            transport(server, sleeps).send(archive)
        assert info.value.maybe_delivered
        assert "may have arrived" in str(info.value)

    def test_read_timeout_then_success_counts_attempts(
        self, server: IngressServer, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A stalled answer times out, the retry succeeds, and the receipt shows two attempts."""
        server.script([Stall(3)])
        receipt = transport(server, sleeps, timeout=(5.0, 0.5)).send(archive)
        assert receipt.attempts == 2
        # The stalled upload did arrive: exactly why maybe_delivered exists.
        assert len(server.received) == 2


class TestTLS:
    def test_unknown_ca_fails_by_default(
        self, tmp_path: Path, ca: trustme.CA, sleeps: Sleeps, archive: Archive
    ) -> None:
        """With default verification, a server signed by an unknown CA is refused, not retried."""
        with IngressServer(tmp_path / "r", ssl_context=server_context(ca)) as tls:
            with pytest.raises(ShipError, match="certificate verification failed") as info:
                transport(tls, sleeps).send(archive)
            assert tls.received == []
        assert info.value.attempts == 1
        assert sleeps == []

    def test_ca_bundle_is_trusted(
        self, tmp_path: Path, ca: trustme.CA, ca_bundle: str, sleeps: Sleeps, archive: Archive
    ) -> None:
        """With verify set to the CA bundle, the upload succeeds over HTTPS."""
        with IngressServer(tmp_path / "r", ssl_context=server_context(ca)) as tls:
            assert tls.url.startswith("https://")
            receipt = transport(tls, sleeps, verify=ca_bundle).send(archive)
            assert tls.received[0].sha256 == archive.sha256
        assert receipt.status == 202

    def test_mutual_tls(
        self, tmp_path: Path, ca: trustme.CA, ca_bundle: str, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A client certificate and key authenticate the upload through TLS."""
        client = ca.issue_cert("collector.example.org", common_name="collector-01")
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        client.cert_chain_pems[0].write_to_path(str(cert))
        client.private_key_pem.write_to_path(str(key))
        context = server_context(ca, client_certs=True)
        with IngressServer(tmp_path / "r", ssl_context=context) as tls:
            auth = ClientCertAuth(cert=str(cert), key=str(key))
            receipt = transport(tls, sleeps, auth=auth, verify=ca_bundle).send(archive)
            [upload] = tls.received
        assert upload.client_cert == "collector-01"
        assert upload.auth == "cert"
        assert receipt.status == 202

    def test_mutual_tls_with_combined_pem(
        self, tmp_path: Path, ca: trustme.CA, ca_bundle: str, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A single PEM file holding both key and certificate works with key=None."""
        client = ca.issue_cert("collector.example.org", common_name="collector-02")
        both = tmp_path / "both.pem"
        client.private_key_and_cert_chain_pem.write_to_path(str(both))
        context = server_context(ca, client_certs=True)
        with IngressServer(tmp_path / "r", ssl_context=context) as tls:
            auth = ClientCertAuth(cert=str(both), key=None)
            transport(tls, sleeps, auth=auth, verify=ca_bundle).send(archive)
            assert tls.received[0].client_cert == "collector-02"

    def test_mutual_tls_without_certificate_fails(
        self, tmp_path: Path, ca: trustme.CA, ca_bundle: str, sleeps: Sleeps, archive: Archive
    ) -> None:
        """An ingress that requires a client certificate turns away a client without one."""
        context = server_context(ca, client_certs=True)
        with IngressServer(tmp_path / "r", ssl_context=context) as tls:
            with pytest.raises(ShipError):
                transport(tls, sleeps, verify=ca_bundle, retry=RetryPolicy(total=1)).send(archive)
            assert tls.received == []
            # The server counts the failed handshake on its own thread, maybe after
            # the client has already given up: give it a moment.
            deadline = time.monotonic() + 5
            while tls.tls_failures < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert tls.tls_failures >= 1


class TestNetrc:
    def test_netrc_does_not_replace_chosen_credentials(
        self,
        tmp_path: Path,
        sleeps: Sleeps,
        archive: Archive,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A ~/.netrc entry for the ingress host never overrides the transport's auth."""
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login intruder password from-netrc\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        with IngressServer(
            tmp_path / "r", clients={CLIENT_ID: CLIENT_SECRET}, basic=("intruder", "from-netrc")
        ) as srv:
            auth = OAuth2ClientCredentials(
                token_url=srv.token_url,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                client_auth="post",
                allow_insecure=True,
            )
            transport(srv, sleeps, auth=auth, allow_insecure=True).send(archive)
            anonymous = transport(srv, sleeps)
            with pytest.raises(ShipError) as info:
                anonymous.send(archive)
            assert [u.auth for u in srv.received] == ["bearer"]
        assert info.value.status == 401


class TestRedirects:
    def test_redirect_to_another_host_is_not_followed(
        self, tmp_path: Path, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A redirect is an error: the other host never sees the request or its credentials."""
        with (
            IngressServer(tmp_path / "a", require_identity=True) as first,
            IngressServer(tmp_path / "b", host="localhost", require_identity=True) as other,
        ):
            first.script([Redirect(other.url)])
            auth = IdentityAuth.from_ids(org_id="7")
            headers = {"X-Api-Key": "custom-secret-value"}
            with pytest.raises(ShipError) as info:
                transport(first, sleeps, auth=auth, headers=headers).send(archive)
            assert first.requests[0].secret_headers == {"x-rh-identity"}
            assert other.requests == []
            assert other.received == []
        assert info.value.status == 307
        assert info.value.attempts == 1
        assert "localhost" in str(info.value)
        assert "not followed" in str(info.value)

    def test_redirect_with_bearer_token_is_not_followed(
        self, tmp_path: Path, sleeps: Sleeps, archive: Archive
    ) -> None:
        """A Bearer token is never carried to the host a redirect points at."""
        with (
            IngressServer(tmp_path / "a", clients={CLIENT_ID: CLIENT_SECRET}) as first,
            IngressServer(tmp_path / "b", host="localhost") as other,
        ):
            first.script([Redirect(other.url, status=308)])
            auth = OAuth2ClientCredentials(
                token_url=first.token_url,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                allow_insecure=True,
            )
            with pytest.raises(ShipError) as info:
                transport(first, sleeps, auth=auth, allow_insecure=True).send(archive)
            assert other.requests == []
        assert info.value.status == 308
