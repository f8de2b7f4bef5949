"""How an ``HttpTransport`` proves who it is: basic, client certificate,
identity header or OAuth2 client credentials.

Each is a frozen record that fits the ``Auth`` Protocol: asked before every
attempt, it returns the ``Credentials`` to send and the secrets to keep out of
anything shown.  Only the OAuth2 token cache changes, behind a lock; its
token request goes through the transport's own sender.
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlencode

from attrs import field, frozen

from ..errors import ShipError
from ..log import logger
from .messages import Auth, Bytes, Credentials, Request, Send, SendError, is_header_value
from .redact import check_url, excerpt, show_url, url_secrets
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
]

_log = logger("ship")

RHSM_CERT = "/etc/pki/consumer/cert.pem"
RHSM_KEY = "/etc/pki/consumer/key.pem"


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@frozen(kw_only=True)
class BasicAuth:
    """HTTP basic user and password (the classic Red Hat account login)."""

    user: str
    password: str = field(repr=False)

    @property
    def needs_tls(self) -> bool:
        return True

    def prepare(self, send: Send) -> Credentials:
        token = _basic(self.user, self.password)
        return Credentials(
            headers={"Authorization": f"Basic {token}"},
            secrets=(self.password, f"{self.user}:{self.password}"),
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

    def prepare(self, send: Send) -> Credentials:
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

    def prepare(self, send: Send) -> Credentials:
        return Credentials(headers={"x-rh-identity": self.identity}, secrets=(self.identity,))

    def on_unauthorized(self) -> bool:
        return False


def _expires_in(value: object, default: float) -> float | None:
    """Seconds a token lasts: ``default`` when not given, 0 or less when expired already.

    ``None`` for what is no number of seconds (text, ``true``, NaN, infinity).

    >>> _expires_in(None, 300.0), _expires_in(0, 300.0), _expires_in("60", 300.0)
    (300.0, 0.0, 60.0)
    >>> _expires_in(-5, 300.0), _expires_in(float("nan"), 300.0), _expires_in(True, 300.0)
    (0.0, None, None)
    """
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


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
    ``expires_in`` runs out (``default_expires_in`` when the answer has
    none; ``0`` means it is expired already and is used for one request
    only), and fetched again once after a 401.
    """

    token_url: str = field(repr=lambda url: repr(show_url(url)))  # its query may hold a token
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

    def prepare(self, send: Send) -> Credentials:
        with self._cache.lock:
            if self._cache.token is None or self.monotonic() >= self._cache.refresh_at:
                self._fetch(send)
            token = self._cache.token
        assert token is not None
        return Credentials(
            headers={"Authorization": f"Bearer {token}"}, secrets=(token, *self.secrets)
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the secret, the pair whose base64 is a Basic header, and
        any token the token URL's query carries."""
        return (
            self.client_secret,
            f"{self.client_id}:{self.client_secret}",
            *url_secrets(self.token_url),
        )

    def on_unauthorized(self) -> bool:
        with self._cache.lock:
            self._cache.token = None
            self._cache.refresh_at = 0.0
        return True

    def token_request(self) -> Request:
        """The ``client_credentials`` grant request (sent with the transport's settings)."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.client_auth == "basic":
            headers["Authorization"] = f"Basic {_basic(self.client_id, self.client_secret)}"
        else:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        return Request(
            method="POST",
            url=self.token_url,
            headers=headers,
            body=Bytes(urlencode(form).encode()),
        )

    def _fetch(self, send: Send) -> None:
        where = show_url(self.token_url)
        started = self.monotonic()
        try:
            response = send(self.token_request())
        except SendError as exc:
            raise ShipError(f"token endpoint {where} unreachable: {exc}", retryable=True) from None
        if not 200 <= response.status < 300:
            raise ShipError(
                f"token endpoint {where} answered {response.status}: "
                f"{excerpt(response.body, self.secrets)}",
                status=response.status,
                retryable=response.status in RETRY_STATUSES,
            )
        try:
            answer = response.json()
            token = answer["access_token"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ShipError(f"token endpoint {where} answered without an access_token") from None
        if not isinstance(token, str) or not token or not is_header_value(token):
            raise ShipError(f"token endpoint {where} answered an unusable access_token")
        expires_in = _expires_in(answer.get("expires_in"), self.default_expires_in)
        if expires_in is None:
            raise ShipError(
                f"token endpoint {where} answered an unusable expires_in: "
                "expected a number of seconds"
            )
        margin = min(self.leeway, expires_in / 2)
        self._cache.token = token
        self._cache.refresh_at = started + expires_in - margin
        self._cache.fetched += 1
        _log.info("token.fetched", token_url=where, expires_in=expires_in)
