"""How an ``HttpTransport`` proves who it is: basic, client certificate,
identity header or OAuth2 client credentials.

Each is a frozen record that fits the ``Auth`` Protocol: asked before every
attempt, it returns the ``Credentials`` to send and the secrets to keep out of
anything shown.  Only the OAuth2 token cache changes, behind a lock.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import requests
import structlog
from attrs import field, frozen

from ..errors import ShipError
from .redact import check_url, excerpt, show_url
from .retry import RETRY_STATUSES

__all__ = [
    "RHSM_CERT",
    "RHSM_KEY",
    "Auth",
    "BasicAuth",
    "ClientCertAuth",
    "Credentials",
    "IdentityAuth",
    "OAuth2ClientCredentials",
    "Post",
]

_http_log = structlog.get_logger("pipeline_collector.transports", component="http")

Post = Callable[..., "requests.Response"]
"""``session.post`` with the transport's verification, proxy and timeouts bound."""

RHSM_CERT = "/etc/pki/consumer/cert.pem"
RHSM_KEY = "/etc/pki/consumer/key.pem"

_HEADER_VALUE = re.compile(r"^[^\r\n\x00]*$")


def _as_given(request: Any) -> Any:
    """A requests auth hook that changes nothing.

    Passing it keeps requests from adding credentials of its own from
    ``~/.netrc`` over the ones an ``Auth`` object chose.
    """
    return request


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
        check_url(self.token_url, what="token_url", needs_tls=True, allow=self.allow_insecure)

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
        where = show_url(self.token_url)
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
                f"{excerpt(response.content, secrets)}",
                status=response.status_code,
                retryable=response.status_code in RETRY_STATUSES,
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
