"""Destinations for archives: a local directory and an HTTP ingress.

Each transport is a frozen record with one method, ``send(archive) ->
Receipt``, that fits the ``Transport`` Protocol.  ``send`` either returns a
receipt that proves the archive arrived intact or raises ``ShipError``; it
never returns half-way.  The S3 transport lives in ``pipeline_collector.s3``
so that boto3 stays optional.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import functools
import hashlib
import json
import os
import random
import re
import secrets
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit, urlunsplit

import attrs
import requests
import structlog
from attrs import field, frozen

from .errors import ConfigurationError, ShipError
from .records import Archive, Receipt

__all__ = [
    "RHSM_CERT",
    "RHSM_KEY",
    "Auth",
    "BasicAuth",
    "ClientCertAuth",
    "Credentials",
    "DirectoryTransport",
    "HttpTransport",
    "IdentityAuth",
    "OAuth2ClientCredentials",
    "RetryPolicy",
    "file_sha256",
    "parse_retry_after",
]

_CHUNK = 1 << 20
_DIR_MODE = 0o700
_FILE_MODE = 0o600

_dir_log = structlog.get_logger("pipeline_collector.transports", component="directory")


def _as_given(request: Any) -> Any:
    """A requests auth hook that changes nothing.

    Passing it keeps requests from adding credentials of its own from
    ``~/.netrc`` over the ones an ``Auth`` object chose.
    """
    return request


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def file_sha256(path: Path, *, chunk_size: int = _CHUNK) -> str:
    """Hash a file in chunks, so that large archives never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_name(name: str) -> str:
    """Refuse names that could lead a copy out of its folder."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.path.isabs(name)
        or name.startswith(".")
    ):
        raise ShipError(f"refusing archive name {name!r}: it must be a plain file name")
    return name


def _make_private_dirs(root: Path, parts: tuple[str, ...]) -> Path:
    """Create ``root/parts...`` one level at a time with mode 0700.

    Each level is checked to be a real directory (not a symlink), so a link
    planted inside the tree cannot redirect the copy elsewhere.
    """
    current = root
    for part in parts:
        current = current / part
        try:
            os.mkdir(current, _DIR_MODE)
        except FileExistsError:
            pass
        else:
            # mkdir's mode is filtered by the umask; say what we mean.
            os.chmod(current, _DIR_MODE)
        if current.is_symlink() or not current.is_dir():
            raise ShipError(f"refusing to write under {current}: not a plain directory")
    return current


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` without ever replacing an existing file."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise ShipError(f"refusing to overwrite {target}: it already exists") from None
    except OSError:
        # Filesystems without hard links: claim the name exclusively, then
        # move the finished copy over our own placeholder.
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            raise ShipError(f"refusing to overwrite {target}: it already exists") from None
        os.close(fd)
        os.replace(tmp, target)
    else:
        tmp.unlink()


def _next_number(name: str) -> str:
    """``x-3.tar.gz`` -> ``x-4.tar.gz``; a name without a number gets ``-1``."""
    match = re.fullmatch(r"(.*-)(\d+)(\.tar\.gz)", name)
    if match is None:
        stem, _, suffix = name.partition(".")
        return f"{stem}-1.{suffix}" if suffix else f"{name}-1"
    return f"{match[1]}{int(match[2]) + 1}{match[3]}"


@frozen
class DirectoryTransport:
    """Copy archives into ``<root>/data/YYYY/MM/DD/<archive>``.

    ``DirectoryTransport(root)``: the root is the one positional argument.
    The copy appears whole or not at all (temporary file, fsync, then a link
    that never overwrites), is private to its owner (folders 0700, files
    0600), and is re-hashed before the receipt says it arrived.  The date is
    today in UTC, from ``clock`` when one is given.
    """

    root: Path = field(converter=Path)
    clock: Callable[[], datetime] = field(default=_utcnow, eq=False, repr=False, kw_only=True)
    chunk_size: int = field(default=_CHUNK, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not str(self.root):
            raise ConfigurationError("DirectoryTransport needs a root folder")
        if self.chunk_size <= 0:
            raise ConfigurationError(f"chunk_size must be positive, got {self.chunk_size}")

    def folder_for(self, when: datetime) -> Path:
        """The folder that archives shipped at ``when`` go to."""
        day = when.astimezone(timezone.utc) if when.tzinfo else when
        return self.root / "data" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"

    def send(self, archive: Archive) -> Receipt:
        """Copy the archive into today's folder and prove the copy is intact."""
        try:
            return self._send(archive)
        except OSError as exc:
            raise ShipError(
                f"could not copy {archive.name} under {self.root}: {exc.strerror or exc}"
            ) from exc

    def _send(self, archive: Archive) -> Receipt:
        started = time.monotonic()
        name = _safe_name(archive.name)
        now = self.clock()
        if now.tzinfo is None:
            raise ConfigurationError("DirectoryTransport clock returned a naive datetime")
        day = now.astimezone(timezone.utc)
        root = self.root
        root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        folder = _make_private_dirs(root, ("data", f"{day:%Y}", f"{day:%m}", f"{day:%d}"))
        real_root = root.resolve()
        real_folder = folder.resolve()
        if not real_folder.is_relative_to(real_root):
            raise ShipError(f"refusing to write {name}: {folder} leads outside {root}")
        target = real_folder / name
        while os.path.lexists(target):
            if (
                target.is_file()
                and not target.is_symlink()
                and file_sha256(target) == archive.sha256
            ):
                _dir_log.info("ship.already_there", archive=name, location=str(target))
                return Receipt(
                    archive=name,
                    sha256=archive.sha256,
                    destination="dir",
                    location=str(target),
                    attempts=1,
                    elapsed=0.0,
                )
            # Another archive of the same name (an earlier run ending in the same
            # second): never overwrite it, take the next free number instead.
            target = real_folder / _next_number(target.name)

        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=real_folder)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, _FILE_MODE)
            size = 0
            with os.fdopen(fd, "wb") as out, archive.path.open("rb") as source:
                while chunk := source.read(self.chunk_size):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            copied = file_sha256(tmp, chunk_size=self.chunk_size)
            if copied != archive.sha256 or size != archive.size:
                raise ShipError(
                    f"copy of {name} does not match the archive record "
                    f"(sha256 {copied[:12]}.. vs {archive.sha256[:12]}.., "
                    f"{size} vs {archive.size} bytes)"
                )
            _publish(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_dir(real_folder)
        elapsed = time.monotonic() - started
        _dir_log.info("ship.accepted", archive=name, location=str(target), bytes=size)
        return Receipt(
            archive=name,
            sha256=copied,
            destination="dir",
            location=str(target),
            attempts=1,
            elapsed=elapsed,
        )


# --------------------------------------------------------------------------
# HTTP ingress
# --------------------------------------------------------------------------

_http_log = structlog.get_logger("pipeline_collector.transports", component="http")

Post = Callable[..., "requests.Response"]
"""``session.post`` with the transport's verification, proxy and timeouts bound."""

RHSM_CERT = "/etc/pki/consumer/cert.pem"
RHSM_KEY = "/etc/pki/consumer/key.pem"

_RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_HEADER_VALUE = re.compile(r"^[^\r\n\x00]*$")
_EXCERPT = 200


@frozen(kw_only=True)
class Credentials:
    """What one request needs to prove who sends it.

    ``secrets`` lists every value that must never be shown: they are cut
    out of any answer text quoted in an error or a log.
    """

    headers: Mapping[str, str] = field(factory=dict, repr=False)
    cert: str | tuple[str, str] | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)


@runtime_checkable
class Auth(Protocol):
    """Protocol: how an ``HttpTransport`` proves who it is.

    ``prepare`` is called before every attempt and returns the headers and
    client certificate to use (it may fetch a token through ``post``).
    ``on_unauthorized`` is called once after a 401: it forgets cached
    credentials and says whether one more attempt could succeed.
    ``needs_tls`` says whether the credentials must never travel over plain
    ``http://``.
    """

    @property
    def needs_tls(self) -> bool: ...

    def prepare(self, post: Post) -> Credentials: ...

    def on_unauthorized(self) -> bool: ...


@frozen(kw_only=True)
class BasicAuth:
    """HTTP basic user and password (the classic Red Hat account login)."""

    user: str
    password: str = field(repr=False)

    @property
    def needs_tls(self) -> bool:
        return True

    def prepare(self, post: Post) -> Credentials:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")
        return Credentials(
            headers={"Authorization": f"Basic {token}"},
            secrets=(self.password, token),
        )

    def on_unauthorized(self) -> bool:
        return False


@frozen(kw_only=True)
class ClientCertAuth:
    """Mutual TLS with a client certificate and key (RHSM's by default).

    ``key=None`` means the key is in the ``cert`` file too.
    """

    cert: str = RHSM_CERT
    key: str | None = RHSM_KEY

    @property
    def needs_tls(self) -> bool:
        return True

    def prepare(self, post: Post) -> Credentials:
        for path in (self.cert, self.key):
            if path is not None and not os.path.isfile(path):
                raise ShipError(f"client certificate file not found: {path}")
        return Credentials(cert=self.cert if self.key is None else (self.cert, self.key))

    def on_unauthorized(self) -> bool:
        return False


@frozen(kw_only=True)
class IdentityAuth:
    """An ``x-rh-identity`` header (base64 JSON), for local and test ingresses."""

    identity: str = field(repr=False)

    @classmethod
    def from_ids(
        cls,
        *,
        org_id: str,
        account_number: str | None = None,
        type: str = "User",
    ) -> IdentityAuth:
        """Build the identity document the ingress expects from an org (and account) id."""
        document: dict[str, Any] = {
            "identity": {
                "type": type,
                "org_id": org_id,
                "internal": {"org_id": org_id},
                "user": {"is_org_admin": True},
            }
        }
        if account_number is not None:
            document["identity"]["account_number"] = account_number
        encoded = base64.b64encode(json.dumps(document).encode()).decode("ascii")
        return cls(identity=encoded)

    @property
    def needs_tls(self) -> bool:
        return False

    def prepare(self, post: Post) -> Credentials:
        return Credentials(headers={"x-rh-identity": self.identity}, secrets=(self.identity,))

    def on_unauthorized(self) -> bool:
        return False


class _TokenCache:
    """The one mutable corner of an OAuth2 auth: the current token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: str | None = None
        self.refresh_at = 0.0
        self.fetched = 0

    def __repr__(self) -> str:
        return "<token cache>"


@frozen(kw_only=True)
class OAuth2ClientCredentials:
    """OAuth2 client credentials (a service account): a cached Bearer token.

    The token is fetched from ``token_url``, reused until shortly before its
    ``expires_in`` runs out, and fetched again once after a 401.
    """

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    client_auth: Literal["basic", "post"] = "basic"
    leeway: float = 30.0
    default_expires_in: float = 300.0
    allow_insecure: bool = False
    monotonic: Callable[[], float] = field(default=time.monotonic, eq=False, repr=False)
    _cache: _TokenCache = field(factory=_TokenCache, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_url(self.token_url, what="token_url", needs_tls=True, allow=self.allow_insecure)

    @property
    def needs_tls(self) -> bool:
        return True

    @property
    def tokens_fetched(self) -> int:
        """How many tokens were fetched so far (the cache at work)."""
        return self._cache.fetched

    def prepare(self, post: Post) -> Credentials:
        with self._cache.lock:
            if self._cache.token is None or self.monotonic() >= self._cache.refresh_at:
                self._fetch(post)
            token = self._cache.token
        assert token is not None
        return Credentials(
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token, self.client_secret),
        )

    def on_unauthorized(self) -> bool:
        with self._cache.lock:
            self._cache.token = None
            self._cache.refresh_at = 0.0
        return True

    def _fetch(self, post: Post) -> None:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        auth: tuple[str, str] | Callable[[Any], Any] = _as_given
        if self.client_auth == "basic":
            auth = (self.client_id, self.client_secret)
        else:
            data |= {"client_id": self.client_id, "client_secret": self.client_secret}
        where = _show_url(self.token_url)
        started = self.monotonic()
        try:
            response = post(self.token_url, data=data, auth=auth)
        except requests.RequestException as exc:
            raise ShipError(
                f"token endpoint {where} unreachable: {type(exc).__name__}", retryable=True
            ) from None
        secrets = (self.client_secret,)
        if not 200 <= response.status_code < 300:
            raise ShipError(
                f"token endpoint {where} answered {response.status_code}: "
                f"{_excerpt(response, secrets)}",
                status=response.status_code,
                retryable=response.status_code in _RETRY_STATUSES,
            )
        try:
            answer = response.json()
            token = answer["access_token"]
            expires_in = float(answer.get("expires_in") or self.default_expires_in)
        except (ValueError, KeyError, TypeError):
            raise ShipError(f"token endpoint {where} answered without an access_token") from None
        if not isinstance(token, str) or not token or not _HEADER_VALUE.match(token):
            raise ShipError(f"token endpoint {where} answered an unusable access_token")
        margin = min(self.leeway, expires_in / 2)
        self._cache.token = token
        self._cache.refresh_at = started + expires_in - margin
        self._cache.fetched += 1
        _http_log.debug("token.fetched", token_url=where, expires_in=expires_in)


def _show_statuses(statuses: frozenset[int]) -> str:
    server_errors = frozenset(range(500, 600))
    shown = [str(s) for s in sorted(statuses - server_errors)]
    if server_errors <= statuses:
        shown.append("5xx")
    else:
        shown += [str(s) for s in sorted(statuses & server_errors)]
    return "{" + ", ".join(shown) + "}"


@frozen(kw_only=True)
class RetryPolicy:
    """An immutable retry policy, in the manner of urllib3's ``Retry``.

    ``total`` is how many retries remain; ``increment`` returns the policy
    after one more failure.  The delay before the n-th retry is
    ``backoff_factor * 2 ** (n - 1)`` capped at ``backoff_max``, plus up to
    ``jitter`` seconds, unless the answer said ``Retry-After``.  No retry
    starts once ``max_elapsed`` seconds would have passed.
    """

    total: int = 5
    backoff_factor: float = 1.0
    backoff_max: float = 120.0
    max_elapsed: float | None = 600.0
    jitter: float = 1.0
    statuses: frozenset[int] = field(default=_RETRY_STATUSES, repr=_show_statuses)
    respect_retry_after: bool = True
    history: tuple[str, ...] = ()

    @property
    def exhausted(self) -> bool:
        return self.total < 0

    def is_retryable(self, status: int) -> bool:
        return status in self.statuses

    def increment(self, reason: str) -> RetryPolicy:
        """The policy after one more failure, described by ``reason``."""
        return attrs.evolve(self, total=self.total - 1, history=(*self.history, reason))

    def backoff(self) -> float:
        """Seconds to wait before the next retry, jitter included."""
        if not self.history:
            return 0.0
        delay: float = min(self.backoff_factor * 2.0 ** (len(self.history) - 1), self.backoff_max)
        if self.jitter > 0:
            delay += random.uniform(0, self.jitter)
        return delay

    def delay(self, retry_after: float | None) -> float:
        """The wait before the next retry, honouring the answer's ``Retry-After``."""
        if retry_after is not None and self.respect_retry_after:
            return max(0.0, retry_after)
        return self.backoff()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds: float = (when - (now or _utcnow())).total_seconds()
    return max(0.0, seconds)


def _show_url(url: str) -> str:
    """A URL fit for logs and errors: no user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


def _show_proxy(proxy: str | None) -> str:
    return repr(None if proxy is None else _show_url(proxy))


def _check_url(url: str, *, what: str, needs_tls: bool, allow: bool) -> None:
    if not url:
        raise ConfigurationError(f"{what} is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an http:// or https:// URL, got {_show_url(url)}")
    if parts.username or parts.password:
        raise ConfigurationError(f"{what} must not carry credentials; pass an auth object instead")
    if needs_tls and parts.scheme != "https" and not allow:
        raise ConfigurationError(
            f"{what} {_show_url(url)} is plain http:// but the credentials need TLS; "
            "use https:// or pass allow_insecure=True"
        )


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _excerpt(response: requests.Response, secrets: tuple[str, ...] = ()) -> str:
    """A short, printable, secret-free excerpt of an answer's body."""
    try:
        raw = response.content[:4096].decode("utf-8", "replace")
    except requests.RequestException:
        return "(no readable body)"
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())
    text = _redact(text, secrets)
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT] + "..."
    return text or "(empty body)"


class _Stream:
    """One pass over a multipart body: preamble, the file in chunks, epilogue.

    ``requests`` sees an iterable with a length, so it sends a
    Content-Length and streams the chunks as they come; the file is hashed
    on the way and the closing boundary is withheld if it does not match,
    so the ingress never receives a complete body that differs from the
    archive record.
    """

    def __init__(self, body: _MultipartBody) -> None:
        self._body = body
        self._file = body.path.open("rb")
        self.sent_all = False

    def __len__(self) -> int:
        return self._body.length

    def __iter__(self) -> Iterator[bytes]:
        body = self._body
        digest = hashlib.sha256()
        size = 0
        yield body.head
        while chunk := self._file.read(body.chunk_size):
            digest.update(chunk)
            size += len(chunk)
            if size > body.size:
                break
            yield chunk
        if size != body.size or digest.hexdigest() != body.sha256:
            raise ShipError(
                f"{body.path.name} changed on disk: it no longer matches its archive record"
            )
        yield body.tail
        self.sent_all = True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@frozen(kw_only=True)
class _MultipartBody:
    """A ``multipart/form-data`` body with one part, read from disk on demand."""

    path: Path
    size: int
    sha256: str
    field_name: str
    filename: str
    content_type: str
    boundary: str = field(factory=lambda: "pipeline-collector-" + secrets.token_hex(16))
    chunk_size: int = 256 * 1024

    @property
    def head(self) -> bytes:
        # Escaped as browsers do (HTML form encoding), so no name can break the headers.
        name, filename = _form_quote(self.field_name), _form_quote(self.filename)
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()

    @property
    def tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    @property
    def header(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def open(self) -> _Stream:
        return _Stream(self)


def _form_quote(value: str) -> str:
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


class _SessionBox:
    """Holds the lazily created session of a frozen transport."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: requests.Session | None = None

    def __repr__(self) -> str:
        return "<session>"


def _frozen_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


def _validate_headers(_: object, __: object, value: Mapping[str, str]) -> None:
    for name, item in value.items():
        if not _HEADER_VALUE.match(name) or not _HEADER_VALUE.match(item) or not name:
            raise ConfigurationError(f"header {name!r} has a line break or is empty")


def _show_headers(value: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{name!r}: ..." for name in value) + "}"


@frozen(kw_only=True)
class HttpTransport:
    """POST archives to an ingress as ``multipart/form-data``, streamed from disk.

    One part named ``file``, filename = the archive's name, content type =
    the service's registered type.  Connection errors, timeouts, 408, 429
    and 5xx are retried by ``retry`` (the body is re-read from the start each
    time); other refusals raise ``ShipError`` at once.  Redirects are not
    followed: credentials must reach only the host they were meant for.
    """

    url: str
    content_type: str
    auth: Auth | None = None
    headers: Mapping[str, str] = field(
        factory=dict,
        converter=_frozen_headers,
        validator=_validate_headers,
        repr=_show_headers,
    )
    proxy: str | None = field(default=None, repr=_show_proxy)
    verify: bool | str = True
    timeout: tuple[float, float] = (31.0, 31.0)
    retry: RetryPolicy = field(factory=RetryPolicy)
    allow_insecure: bool = False
    field_name: str = "file"
    chunk_size: int = 256 * 1024
    session: requests.Session | None = field(default=None, eq=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, eq=False, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, eq=False, repr=False)
    _box: _SessionBox = field(factory=_SessionBox, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        needs_tls = self.auth is not None and self.auth.needs_tls
        _check_url(self.url, what="url", needs_tls=needs_tls, allow=self.allow_insecure)
        if not _CONTENT_TYPE.match(self.content_type or ""):
            raise ConfigurationError(
                "content_type must be the service's registered type, "
                "e.g. application/vnd.redhat.<service>.<name>+tgz"
            )
        if self.proxy is not None:
            _check_url(_strip_userinfo(self.proxy), what="proxy", needs_tls=False, allow=True)
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            raise ConfigurationError(f"CA bundle not found: {self.verify}")
        if self.chunk_size <= 0:
            raise ConfigurationError(f"chunk_size must be positive, got {self.chunk_size}")

    # -- session -----------------------------------------------------------

    def _session(self) -> requests.Session:
        if self.session is not None:
            return self.session
        with self._box.lock:
            if self._box.session is None:
                self._box.session = requests.Session()
            return self._box.session

    def close(self) -> None:
        """Close the session this transport created (a given one is left open)."""
        with self._box.lock:
            if self._box.session is not None:
                self._box.session.close()
                self._box.session = None

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self) -> Post:
        proxies = {"http": self.proxy, "https": self.proxy} if self.proxy else None
        return functools.partial(
            self._session().post,
            timeout=self.timeout,
            verify=self.verify,
            proxies=proxies,
            allow_redirects=False,
        )

    # -- sending -----------------------------------------------------------

    def send(self, archive: Archive) -> Receipt:
        """Upload one archive, retrying what is worth retrying; see the class docstring."""
        started = self.monotonic()
        name = archive.name
        body = _MultipartBody(
            path=archive.path,
            size=archive.size,
            sha256=archive.sha256,
            field_name=self.field_name,
            filename=name,
            content_type=self.content_type,
            chunk_size=self.chunk_size,
        )
        where = _show_url(self.url)
        post = self._post()
        retry = self.retry
        attempts = 0
        refreshed = False
        maybe_delivered = False
        log = _http_log.bind(archive=name, url=where)
        while True:
            attempts += 1
            log.info("ship.attempt", attempt=attempts, bytes=archive.size)
            secrets_: tuple[str, ...] = tuple(self.headers.values())
            retry_after: float | None = None
            stream: _Stream | None = None
            try:
                creds = self.auth.prepare(post) if self.auth is not None else Credentials()
                secrets_ += creds.secrets
                headers = {
                    **self.headers,
                    **creds.headers,
                    "Content-Type": body.header,
                    "Accept": "application/json",
                }
                try:
                    stream = body.open()
                except OSError as exc:
                    raise ShipError(
                        f"cannot read {name}: {exc.strerror or exc}", attempts=attempts
                    ) from None
                with stream:
                    response = post(
                        self.url, data=stream, headers=headers, cert=creds.cert, auth=_as_given
                    )
            except ShipError as exc:
                if not exc.retryable:
                    exc.attempts = attempts
                    exc.maybe_delivered = exc.maybe_delivered or maybe_delivered
                    log.warning("ship.refused", attempts=attempts, error=str(exc))
                    raise
                reason = str(exc)
                status: int | None = exc.status
            except requests.exceptions.SSLError as exc:
                message = f"TLS failure talking to {where}: {_tls_reason(exc)}"
                log.warning("ship.refused", attempts=attempts, error=message)
                raise ShipError(
                    message, attempts=attempts, maybe_delivered=maybe_delivered
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                lost_answer = (stream is not None and stream.sent_all) and not isinstance(
                    exc, requests.exceptions.ConnectTimeout
                )
                maybe_delivered = maybe_delivered or lost_answer
                reason = (
                    f"no answer after the body was sent ({type(exc).__name__})"
                    if lost_answer
                    else f"{type(exc).__name__} before the body was sent"
                )
                status = None
            except requests.RequestException as exc:
                message = f"could not send {name} to {where}: {type(exc).__name__}"
                log.warning("ship.refused", attempts=attempts, error=message)
                raise ShipError(
                    message, attempts=attempts, maybe_delivered=maybe_delivered
                ) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._receipt(archive, response, attempts, started, log, maybe_delivered)
                if status == 401 and self.auth is not None and not refreshed:
                    refreshed = True
                    if self.auth.on_unauthorized():
                        log.info("ship.retry", attempt=attempts, status=status, delay=0.0)
                        continue
                if not retry.is_retryable(status):
                    raise self._refused(response, name, attempts, maybe_delivered, secrets_, log)
                reason = f"{status} {_excerpt(response, secrets_)}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            retry = retry.increment(reason)
            delay = retry.delay(retry_after)
            elapsed = self.monotonic() - started
            out_of_time = retry.max_elapsed is not None and elapsed + delay > retry.max_elapsed
            if retry.exhausted or out_of_time:
                why = "out of retries" if retry.exhausted else "out of time"
                message = (
                    f"{where} did not accept {name} after {attempts} attempts ({why}): {reason}"
                )
                if maybe_delivered:
                    message += "; it may have arrived anyway"
                log.warning(
                    "ship.refused",
                    attempts=attempts,
                    status=status,
                    error=reason,
                    maybe_delivered=maybe_delivered,
                )
                raise ShipError(
                    message,
                    status=status,
                    attempts=attempts,
                    retryable=True,
                    maybe_delivered=maybe_delivered,
                )
            log.info("ship.retry", attempt=attempts, status=status, error=reason, delay=delay)
            self.sleep(delay)

    def _receipt(
        self,
        archive: Archive,
        response: requests.Response,
        attempts: int,
        started: float,
        log: structlog.typing.FilteringBoundLogger,
        lost_answer: bool = False,
    ) -> Receipt:
        request_id: str | None = None
        location: str | None = None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            if answer.get("request_id") is not None:
                request_id = str(answer["request_id"])
            upload = answer.get("upload")
            if isinstance(upload, str):
                location = upload
            elif upload is not None:
                location = json.dumps(upload, sort_keys=True, separators=(",", ":"))
        elapsed = self.monotonic() - started
        log.info(
            "ship.accepted",
            status=response.status_code,
            attempts=attempts,
            request_id=request_id,
            elapsed=round(elapsed, 3),
            maybe_duplicated=lost_answer,
        )
        return Receipt(
            archive=archive.name,
            sha256=archive.sha256,
            destination="http",
            status=response.status_code,
            attempts=attempts,
            elapsed=elapsed,
            request_id=request_id,
            location=location,
            maybe_duplicated=lost_answer,
        )

    def _refused(
        self,
        response: requests.Response,
        name: str,
        attempts: int,
        maybe_delivered: bool,
        secrets_: tuple[str, ...],
        log: structlog.typing.FilteringBoundLogger,
    ) -> ShipError:
        status = response.status_code
        excerpt = _excerpt(response, secrets_)
        if 300 <= status < 400:
            target = response.headers.get("Location")
            shown = _show_url(urljoin(self.url, target)) if target else "nowhere"
            what = f"a redirect to {shown}, which is not followed"
        else:
            what = _STATUS_MEANING.get(status, response.reason or "refused")
        log.warning("ship.refused", attempts=attempts, status=status, error=excerpt)
        return ShipError(
            f"{_show_url(self.url)} refused {name}: {status} ({what}): {excerpt}",
            status=status,
            attempts=attempts,
            retryable=False,
            maybe_delivered=maybe_delivered,
        )


_STATUS_MEANING = {
    400: "bad request",
    401: "not authorized: check the credentials",
    403: "forbidden: the credentials lack the right",
    404: "no such ingress endpoint: check the URL",
    413: "too large for the ingress",
    415: "unsupported content type: check the service's registered type",
}


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verification failed (unknown CA or wrong host name)"
    return "handshake failed"


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, parts.query, ""))
