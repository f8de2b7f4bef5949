"""Secrets never show, TLS is verified by default, files are private, tar
member names come only from validated keys, and credentials never follow a
redirect."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import ssl
import stat
import tarfile
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog
import trustme
from structlog.testing import capture_logs
from support import reliability  # noqa: E402
from support.reliability import CONTENT_TYPE, START, Source, collectors  # noqa: E402

from pipeline_collector import (  # noqa: E402
    Archive,
    Batch,
    ConfigurationError,
    DirectoryTransport,
    FileLock,
    JsonFileStore,
    Run,
    ShipError,
    State,
    gather,
    register,
)
from pipeline_collector.ingress import Drop, Fail, IngressServer, Redirect, Stall  # noqa: E402
from pipeline_collector.stores import SqliteStore  # noqa: E402
from pipeline_collector.testing import FrozenClock, MemoryStore  # noqa: E402
from pipeline_collector.transports import (  # noqa: E402
    Auth,
    BasicAuth,
    ClientCertAuth,
    HttpTransport,
    IdentityAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
)

USER, PASSWORD = "collector", "Pa55-w0rd-that-must-never-show"
WRONG_PASSWORD = "wr0ng-Pa55-that-must-never-show"
CLIENT_ID, CLIENT_SECRET = "svc-account", "cl13nt-s3cret-that-must-never-show"
ORG = "70707"


# --- certificates --------------------------------------------------------------------


@dataclass
class Pki:
    """A private CA, a server certificate for 127.0.0.1 and localhost, a client certificate."""

    folder: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.client = self.ca.issue_cert("collector.example.com")
        self.ca_path = self.folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.cert_path = self.folder / "client-cert.pem"
        self.key_path = self.folder / "client-key.pem"
        self.client.cert_chain_pems[0].write_to_path(str(self.cert_path))
        self.client.private_key_pem.write_to_path(str(self.key_path))

    def context(self, *, client_certs: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(ctx)
        if client_certs:
            self.ca.configure_trust(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    @property
    def key_secrets(self) -> list[str]:
        """Lines of the client's private key body: none may ever show."""
        text = self.client.private_key_pem.bytes().decode()
        return [line for line in text.splitlines() if line and not line.startswith("-----")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


# --- the shipping set-up per auth mode -------------------------------------------------


class Tokens:
    """Records every access token the token endpoint hands out (a session response hook)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.url and response.request.url.endswith("/token"):
            with suppress(ValueError, KeyError):
                self.seen.append(str(response.json()["access_token"]))


@contextmanager
def shipping(mode: str, pki: Pki, tmp: Path) -> Iterator[tuple[IngressServer, Auth, list[str]]]:
    """An ingress requiring ``mode``'s credentials, the matching auth, and its secrets."""
    secrets: list[str] = []
    server: IngressServer
    auth: Auth
    if mode == "basic":
        server = IngressServer(tmp / "ingress", ssl_context=pki.context(), basic=(USER, PASSWORD))
        auth = BasicAuth(user=USER, password=PASSWORD)
        secrets += [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
    elif mode == "client-cert":
        server = IngressServer(tmp / "ingress", ssl_context=pki.context(client_certs=True))
        auth = ClientCertAuth(cert=str(pki.cert_path), key=str(pki.key_path))
        secrets += pki.key_secrets
    elif mode == "identity":
        server = IngressServer(tmp / "ingress", require_identity=True)
        identity = IdentityAuth.from_ids(org_id=ORG, account_number="0000001")
        auth = identity
        secrets.append(identity.identity)
    else:
        server = IngressServer(
            tmp / "ingress", ssl_context=pki.context(), clients={CLIENT_ID: CLIENT_SECRET}
        )
        auth = OAuth2ClientCredentials(
            token_url=server.token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        secrets.append(CLIENT_SECRET)
    with server:
        yield server, auth, secrets


def transport_for(server: IngressServer, auth: Auth, pki: Pki, tokens: Tokens) -> HttpTransport:
    session = requests.Session()
    session.hooks["response"].append(tokens)
    return HttpTransport(
        url=server.url,
        content_type=CONTENT_TYPE,
        auth=auth,
        verify=str(pki.ca_path),
        timeout=(5.0, reliability.READ_TIMEOUT),
        retry=RetryPolicy(total=1, backoff_factor=0.5, jitter=0.0, max_elapsed=None),
        sleep=lambda seconds: None,
        session=session,
        headers={"User-Agent": "pipeline-collector-tests"},
    )


def rendered(events: list[MutableMapping[str, Any]]) -> str:
    """The captured events as the console and JSON renderers would print them."""
    console = structlog.dev.ConsoleRenderer(colors=False)
    as_json = structlog.processors.JSONRenderer(default=repr)
    out = []
    for e in events:
        out.append(str(console(None, "info", dict(e))))
        out.append(str(as_json(None, "info", dict(e))))
    return "\n".join(out)


def exception_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets (shortened) that appear in ``text``."""
    return [s[:6] + "..." for s in secrets if s and s in text]


class TestSecretsNeverShow:
    """Real shipping with each auth mode, failures included, and a scan of all it shows."""

    @pytest.mark.parametrize("mode", ["basic", "client-cert", "identity", "oauth2"])
    def test_no_secret_in_logs_reprs_errors_or_reports(
        self,
        mode: str,
        pki: Pki,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        """No password, token, key or identity appears anywhere a person could read it."""
        caplog.set_level(logging.DEBUG)
        source = Source(tmp_path / "source.db", seed=13)
        source.grow(START - timedelta(days=2), START, 30)
        module = collectors(source.path)
        store = MemoryStore()
        clock = FrozenClock(START)
        tokens = Tokens()
        texts: list[str] = []
        with shipping(mode, pki, tmp_path) as (server, auth, secrets):
            transport = transport_for(server, auth, pki, tokens)
            # The ingress quotes back what it was sent (a client key never travels).
            echo = "denied: " + " ".join(secrets if mode != "client-cert" else ["no"])

            def run() -> Run:
                return gather(
                    module,
                    state=store,
                    transport=transport,
                    lock=FileLock(tmp_path / "run.lock"),
                    mode="manual",
                    clock=clock,
                    workdir=tmp_path / "work",
                )

            server.script(
                [Fail(401, body=echo), Fail(503, body=echo), Fail(500, body=echo), Drop(None)]
            )
            with capture_logs() as events:
                first = run()
                clock.advance(timedelta(hours=3))
                server.script([Stall(reliability.STALL), Fail(429, retry_after=1, body=echo)])
                second = run()
            clock.advance(timedelta(hours=3))
            third = run()  # outside capture_logs: the default renderer prints it
            assert third.status == "ok"
            assert set(reliability.received_rows(u.path.read_bytes() for u in server.received)) == (
                source.rows()
            )
            # A transport with wrong credentials, used directly, for its exception.
            wrong: Auth = auth
            echo_wrong = echo
            if mode == "basic":
                wrong = BasicAuth(user=USER, password=WRONG_PASSWORD)
                token = base64.b64encode(f"{USER}:{WRONG_PASSWORD}".encode()).decode()
                secrets += [WRONG_PASSWORD, token]
                echo_wrong = f"denied: {WRONG_PASSWORD} {token}"
            elif mode == "oauth2":
                wrong = OAuth2ClientCredentials(
                    token_url=server.token_url, client_id=CLIENT_ID, client_secret=WRONG_PASSWORD
                )
                secrets.append(WRONG_PASSWORD)
                echo_wrong = f"denied: {WRONG_PASSWORD}"
            archive = gather(
                module, mode="dry-run", clock=clock, workdir=tmp_path / "dry"
            ).archives[0]
            server.script([Fail(403, body=echo_wrong)])
            with pytest.raises(ShipError) as caught:
                transport_for(server, wrong, pki, tokens).send(archive)
            texts.append(exception_text(caught.value))
            texts += [repr(server.received), repr(server.requests)]
            texts += [repr(dict(r.headers)) for r in server.requests]
        secrets += tokens.seen
        if mode == "oauth2":
            assert len(tokens.seen) >= 2  # the 401 made it fetch a second token
        assert first.status == "partial" and second.status in ("ok", "partial")
        texts += [rendered(events), repr(events), caplog.text]
        out, err = capfd.readouterr()
        texts += [out, err]  # whatever the default renderer printed
        for report in (first, second, third):
            texts += [repr(report), str(report.reason), repr(report.shipments)]
            texts += [repr(s.receipt) for s in report.shipments]
            texts += [str(s.error) for s in report.shipments]
        texts += [repr(transport), repr(auth), str(transport), repr(store)]
        found = {n: leaks(t, secrets) for n, t in enumerate(texts) if leaks(t, secrets)}
        assert found == {}
        assert any("denied" in t for t in texts), "the ingress's answers were quoted, redacted"

    def test_proxy_credentials_never_show(self, caplog: pytest.LogCaptureFixture) -> None:
        """A proxy's user and password are kept out of reprs, logs and errors."""
        caplog.set_level(logging.DEBUG)
        transport = HttpTransport(
            url="https://127.0.0.1:9/upload",
            content_type=CONTENT_TYPE,
            proxy=f"http://proxyuser:{PASSWORD}@127.0.0.1:9",
            retry=RetryPolicy(total=0),
            timeout=(1.0, 1.0),
        )
        record = file_archive(Path(__file__))  # any file will do: it never leaves
        with capture_logs() as events, pytest.raises(ShipError) as caught:
            transport.send(record)
        texts = [repr(transport), exception_text(caught.value), rendered(events), caplog.text]
        assert [leaks(t, [PASSWORD]) for t in texts] == [[]] * len(texts)


def file_archive(path: Path) -> Archive:
    """An Archive record for ``path`` (enough for a transport to send it)."""
    data = path.read_bytes()
    return Archive(
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        members=(),
        batch=Batch(group="default", number=0),
        until=START,
    )


# --- TLS -------------------------------------------------------------------------------


class TestTls:
    """Certificates are verified unless the caller says otherwise."""

    def test_unknown_ca_fails_by_default(self, pki: Pki, tmp_path: Path) -> None:
        """Without a CA bundle, a self-signed ingress is refused and receives nothing."""
        archive = file_archive(Path(__file__))
        with IngressServer(tmp_path / "ingress", ssl_context=pki.context()) as server:
            transport = HttpTransport(url=server.url, content_type=CONTENT_TYPE)
            with pytest.raises(ShipError) as caught:
                transport.send(archive)
            assert "certificate verification failed" in str(caught.value)
            assert caught.value.attempts == 1 and not caught.value.maybe_delivered
            assert server.received == []
            ok = HttpTransport(url=server.url, content_type=CONTENT_TYPE, verify=str(pki.ca_path))
            assert ok.send(archive).status == 202

    def test_client_certificate_is_required_where_asked(self, pki: Pki, tmp_path: Path) -> None:
        """An ingress that requires a client certificate refuses a transport without one."""
        archive = file_archive(Path(__file__))
        context = pki.context(client_certs=True)
        with IngressServer(tmp_path / "ingress", ssl_context=context) as server:
            bare = HttpTransport(
                url=server.url,
                content_type=CONTENT_TYPE,
                verify=str(pki.ca_path),
                retry=RetryPolicy(total=0),
            )
            with pytest.raises(ShipError):
                bare.send(archive)
            assert server.received == []
            mtls = HttpTransport(
                url=server.url,
                content_type=CONTENT_TYPE,
                verify=str(pki.ca_path),
                auth=ClientCertAuth(cert=str(pki.cert_path), key=str(pki.key_path)),
            )
            assert mtls.send(archive).status == 202
            assert [u.client_cert for u in server.received] == ["collector.example.com"]


# --- redirects -----------------------------------------------------------------------


class TestRedirects:
    """Credentials reach only the host they were meant for."""

    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    def test_redirect_to_another_host_is_not_followed(
        self, status: int, pki: Pki, tmp_path: Path
    ) -> None:
        """A redirect fails the upload; the other host sees no request, let alone credentials."""
        archive = file_archive(Path(__file__))
        with (
            IngressServer(tmp_path / "a", ssl_context=pki.context(), basic=(USER, PASSWORD)) as a,
            IngressServer(tmp_path / "b", ssl_context=pki.context(), host="127.0.0.1") as b,
        ):
            elsewhere = f"https://localhost:{b.port}{b.upload_path}"
            a.script([Redirect(elsewhere, status=status)])
            transport = HttpTransport(
                url=a.url,
                content_type=CONTENT_TYPE,
                auth=BasicAuth(user=USER, password=PASSWORD),
                verify=str(pki.ca_path),
            )
            with capture_logs() as events, pytest.raises(ShipError) as caught:
                transport.send(archive)
            assert "not followed" in str(caught.value) and str(status) in str(caught.value)
            assert caught.value.attempts == 1
            assert b.requests == [] and b.received == []
            assert a.received == []
            text = exception_text(caught.value) + rendered(events)
            assert leaks(text, [PASSWORD]) == []


# --- private files ----------------------------------------------------------------------


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestPrivateFiles:
    """What the pipeline writes is readable by its owner only, whatever the umask."""

    def test_work_folder_archives_and_collector_folder(self, tmp_path: Path) -> None:
        """The work folder and each collector's folder are 0700, archives 0600."""
        source = Source(tmp_path / "source.db", seed=17)
        source.grow(START - timedelta(days=1), START, 10)
        seen: list[int] = []

        @register("peek", "1.0", format="json")
        def peek(full_path: str, **kwargs: Any) -> dict[str, int]:
            seen.append(mode_of(Path(full_path)))
            return {"n": 1}

        m = collectors(source.path)
        work = tmp_path / "new" / "work"
        with umask(0), capture_logs():
            run = gather([m.config, m.events, m.jobs, peek], workdir=work, clock=lambda: START)
            default = gather([m.config, m.events], clock=lambda: START)
        assert mode_of(work) == 0o700
        assert seen == [0o700]
        assert run.archives and {mode_of(a.path) for a in run.archives} == {0o600}
        assert default.archives
        assert mode_of(default.archives[0].path.parent) == 0o700
        assert {mode_of(a.path) for a in default.archives} == {0o600}
        for a in default.archives:
            a.path.unlink()
        default.archives[0].path.parent.rmdir()

    def test_state_lock_and_destination(self, tmp_path: Path) -> None:
        """State files, the lock file and delivered archives are 0600, their folders 0700."""
        state = State(entries={"jobs": START})
        with umask(0):
            JsonFileStore(tmp_path / "json" / "state.json").save(state)
            SqliteStore(tmp_path / "state.sqlite").save(state)
            with FileLock(tmp_path / "run.lock").acquire() as got:
                assert got
            source = Source(tmp_path / "source.db", seed=19)
            source.grow(START - timedelta(days=1), START, 10)
            with capture_logs():
                run = gather(
                    collectors(source.path),
                    state=MemoryStore(),
                    transport=DirectoryTransport(tmp_path / "dest", clock=lambda: START),
                    lock=FileLock(tmp_path / "gather.lock"),
                    mode="manual",
                    clock=lambda: START,
                    workdir=tmp_path / "work",
                )
        assert run.status == "ok"
        assert mode_of(tmp_path / "json" / "state.json") == 0o600
        assert mode_of(tmp_path / "state.sqlite") == 0o600
        assert mode_of(tmp_path / "run.lock") == 0o600
        delivered = reliability.directory_archives(tmp_path / "dest")
        assert delivered and {mode_of(p) for p in delivered} == {0o600}
        folders = {p.parent for p in delivered} | {p.parent.parent for p in delivered}
        folders |= {tmp_path / "dest" / "data"}
        assert {mode_of(f) for f in folders} == {0o700}


# --- tar member names ----------------------------------------------------------------------


def _with_key(key: str) -> Callable[..., dict[str, int]]:
    """A function carrying collector metadata with ``key``, as the old decorator set it."""

    def func(**kwargs: Any) -> dict[str, int]:
        return {"n": 1}

    for name, value in {
        "key": key,
        "version": "1.0",
        "description": "",
        "type": "json",
        "config": False,
        "fnc_slicing": None,
        "shipping_group": "default",
        "full_sync_interval_days": None,
    }.items():
        setattr(func, f"__insights_analytics_{name}__", value)
    return func


class TestMemberNames:
    """Archive members are named only from keys that passed validation."""

    @pytest.mark.parametrize(
        "key",
        [
            "../../etc/cron.d/job",
            "/etc/passwd",
            "a/b",
            "jobs\n",
            "j\u043ebs",
            ".hidden",
            "config.json",
            "",
            "x" * 3 + "\x00",
        ],
        ids=["dotdot", "absolute", "slash", "newline", "cyrillic", "hidden", "dot", "empty", "nul"],
    )
    def test_unsafe_key_is_refused_before_anything_is_written(
        self, key: str, tmp_path: Path
    ) -> None:
        """A key that could name a path is refused, and no archive is written."""
        source = Source(tmp_path / "source.db", seed=23)
        m = collectors(source.path)
        with pytest.raises(ConfigurationError) as caught:
            gather([m.config, _with_key(key)], workdir=tmp_path / "work", clock=lambda: START)
        assert repr(key) in str(caught.value)
        assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())

    def test_members_are_plain_files_with_safe_names(self, tmp_path: Path) -> None:
        """Every member is a regular file named ./<key>.<format> or one of the three fixed names."""
        source = Source(tmp_path / "source.db", seed=29)
        source.grow(START - timedelta(days=3), START, 60)
        with capture_logs():
            run = gather(collectors(source.path), workdir=tmp_path / "work", clock=lambda: START)
        fixed = {"./config.json", "./manifest.json", "./data_collection_status.csv"}
        assert run.archives
        for archive in run.archives:
            with tarfile.open(fileobj=io.BytesIO(archive.path.read_bytes()), mode="r:gz") as tar:
                for info in tar.getmembers():
                    assert info.isfile()
                    assert info.name in fixed or reliability.MEMBER.match(info.name)
                    assert not info.linkname and info.uid == 0 and info.gid == 0
                    assert not info.mode & (stat.S_ISUID | stat.S_ISGID | 0o002)
