"""The effects the options name: the state store, the lock, the transport.

Built here and handed to the pipeline as arguments; each refuses a URL that
carries a password, since secrets come only from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from ..protocols import Lock, StateStore, Transport
from .config import shown
from .exits import UsageError
from .secrets import ENV_CLIENT_SECRET, ENV_IDENTITY, ENV_PASSWORD, ENV_PROXY, Redactor

if TYPE_CHECKING:  # the transports import only when a run uses one
    from ..transports import Auth

__all__ = [
    "build_lock",
    "build_store",
    "build_transport",
    "cli_words",
    "flag",
    "missing_state",
    "no_password",
    "show_url",
]


def show_url(url: str) -> str:
    """A URL fit to print: no user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


def no_password(url: str, what: str, env: str | None = None) -> str:
    """``url``, unless it carries a password (then where the password belongs)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        where = f" (put the whole URL in {env})" if env else " (PostgreSQL reads PGPASSWORD)"
        raise UsageError(
            f"{what} {show_url(url)} carries a password; secrets are never taken from"
            f" options or config files{where}"
        )
    return url


def build_store(spec: str | None) -> StateStore | None:
    """``FILE`` (JSON), ``sqlite:///PATH`` or ``postgresql://...`` -> a state store.

    ``#NAME`` at the end keeps a tenant's state apart in a store several
    tenants share (the store's ``namespace``).
    """
    if not spec:
        return None
    spec, mark, namespace = spec.partition("#")
    if mark:
        from ..book.codec import check_namespace
        from ..errors import ConfigurationError

        try:
            check_namespace(namespace)
        except ConfigurationError as e:
            raise UsageError(f"--state ...#{namespace}: {e}") from None
    tenant = namespace if mark else None
    if spec.startswith("sqlite://"):
        path = spec[len("sqlite:///") :] if spec.startswith("sqlite:///") else ""
        if not path:
            raise UsageError(f"--state {spec!r}: write sqlite:///relative.db or sqlite:////abs.db")
        from ..stores import SqliteStore

        return SqliteStore(path, namespace=tenant)
    if spec.startswith(("postgresql://", "postgres://")):
        from ..stores import PostgresStore

        return PostgresStore.from_dsn(no_password(spec, "--state"), namespace=tenant)
    from ..stores import JsonFileStore

    return JsonFileStore(spec, namespace=tenant)


def missing_state(store: StateStore | None) -> Path | None:
    """The file a file-backed store reads, when there is none yet: the run starts from scratch.

    A misspelt ``--state`` looks like a first run and ships the whole
    horizon again, so the commands say so rather than only log it.
    """
    path = getattr(store, "path", None)
    if isinstance(path, Path) and not os.path.lexists(path):
        return path
    return None


def build_lock(spec: str | None, name: str | None, scheme: str | None) -> Lock | None:
    """``FILE`` or ``postgresql://...`` (an advisory lock) -> a lock."""
    if not spec:
        return None
    if spec.startswith(("postgresql://", "postgres://")):
        from ..locks import PostgresAdvisoryLock

        return PostgresAdvisoryLock.from_dsn(
            no_password(spec, "--lock"),
            name or "gather_analytics_lock",
            scheme=cast(Any, scheme or "sha512"),
        )
    from ..locks import FileLock

    return FileLock(spec)


_HTTP_ONLY = (
    "content_type",
    "user",
    "cert",
    "key",
    "identity",
    "token_url",
    "client_id",
    "scope",
    "ca_bundle",
    "proxy",
    "headers",
    "timeout",
    "retries",
    "allow_insecure",
)
_S3_ONLY = ("s3_endpoint", "s3_region", "s3_prefix", "s3_expected_owner")


def flag(name: str) -> str:
    """The option for a settings name: ``s3_bucket`` -> ``--s3-bucket``."""
    return "--" + name.replace("_", "-")


# The library's keyword names whose option is named otherwise.
_OPTION_OF = {
    "headers": "header",
    "verify": "ca_bundle",
    "endpoint_url": "s3_endpoint",
    "expected_bucket_owner": "s3_expected_owner",
    "bucket": "s3_bucket",
    "region": "s3_region",
}
_KEYWORD = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b(=True\b|=)?")
_LEADING = re.compile(r"^(url|proxy|prefix|mode|horizon|since|until|subset|workdir)(=| )")


def cli_words(text: str) -> str:
    """A library message as a command-line user reads it: options, not Python keywords.

    >>> cli_words("url http://x is plain http://; use https:// or pass allow_insecure=True")
    '--url http://x is plain http://; use https:// or pass --allow-insecure'
    >>> cli_words("max_data_size=10 must be positive; token_url must be https")
    '--max-data-size 10 must be positive; --token-url must be https'
    >>> cli_words("register it with dynamic_columns=True")  # not an option: left alone
    'register it with dynamic_columns=True'
    """
    options = _option_names()

    def keyword(match: re.Match[str]) -> str:
        name = _OPTION_OF.get(match[1], match[1])
        if name not in options:
            return match[0]
        return flag(name) + ("" if match[2] in (None, "=True") else " ")

    text = _LEADING.sub(lambda m: f"{flag(m[1])} ", text)
    return _KEYWORD.sub(keyword, text)


def _option_names() -> frozenset[str]:
    from .declarations import OPTIONS

    return frozenset(o.dest for o in OPTIONS if not o.secret)


def build_transport(
    o: Mapping[str, Any], env: Mapping[str, str], redactor: Redactor
) -> tuple[Transport | None, str | None]:
    """The destination the options name, and how to show it; errors name the options."""
    from ..errors import ConfigurationError

    try:
        return _transport(o, env, redactor)
    except ConfigurationError as e:
        raise UsageError(cli_words(str(e))) from None


def _transport(
    o: Mapping[str, Any], env: Mapping[str, str], redactor: Redactor
) -> tuple[Transport | None, str | None]:
    chosen = [n for n in ("dir", "url", "s3_bucket") if o.get(n)]
    if len(chosen) > 1:
        raise UsageError("give one destination, not " + " and ".join(shown(o, n) for n in chosen))
    stray_http = [n for n in _HTTP_ONLY if o.get(n)]
    if stray_http and "url" not in chosen:
        raise UsageError(f"{shown(o, stray_http[0])} is an HTTP setting and needs --url")
    stray_s3 = [n for n in _S3_ONLY if o.get(n)]
    if stray_s3 and "s3_bucket" not in chosen:
        raise UsageError(f"{shown(o, stray_s3[0])} is an S3 setting and needs --s3-bucket")
    if not chosen:
        return None, None
    if chosen[0] == "dir":
        from ..transports import DirectoryTransport

        return DirectoryTransport(Path(o["dir"])), f"directory {o['dir']}"
    if chosen[0] == "s3_bucket":
        from ..transports import S3Transport

        endpoint = o.get("s3_endpoint")
        if endpoint:
            no_password(endpoint, "--s3-endpoint")
        transport = S3Transport(
            bucket=o["s3_bucket"],
            prefix=o.get("s3_prefix") or "",
            endpoint_url=endpoint,
            region=o.get("s3_region"),
            expected_bucket_owner=o.get("s3_expected_owner"),
            verify=o.get("ca_bundle") or True,
        )
        return transport, f"s3://{o['s3_bucket']}/{transport.prefix}"
    return _http_transport(o, env, redactor)


def _http_transport(
    o: Mapping[str, Any], env: Mapping[str, str], redactor: Redactor
) -> tuple[Transport, str]:
    from ..transports import HttpTransport, RetryPolicy

    url = no_password(o["url"], "--url")
    if not o.get("content_type"):
        raise UsageError(
            "--url needs --content-type, the service's registered type,"
            " e.g. application/vnd.redhat.<service>.<name>+tgz"
        )
    auth = _http_auth(o, env, redactor)
    proxy = o.get("proxy")
    if proxy:
        no_password(proxy, "--proxy", ENV_PROXY)
    else:
        proxy = env.get(ENV_PROXY) or None
    timeout = float(o.get("timeout") or 31.0)
    retry = RetryPolicy() if o.get("retries") is None else RetryPolicy(total=int(o["retries"]))
    transport = HttpTransport(
        url=url,
        content_type=o["content_type"],
        auth=auth,
        headers=dict(o.get("headers") or ()),
        proxy=proxy,
        verify=o.get("ca_bundle") or True,
        timeout=(timeout, timeout),
        retry=retry,
        allow_insecure=bool(o.get("allow_insecure")),
    )
    return transport, show_url(url)


def _http_auth(o: Mapping[str, Any], env: Mapping[str, str], redactor: Redactor) -> Auth | None:
    """The one way to authenticate the options name, its secret from ``env``."""
    from ..transports import (
        RHSM_KEY,
        BasicAuth,
        ClientCertAuth,
        IdentityAuth,
        OAuth2ClientCredentials,
    )

    modes = [
        n
        for n in ("user", "cert", "identity", "token_url")
        if o.get(n) or (n == "cert" and o.get("key"))
    ]
    if len(modes) > 1:
        raise UsageError(
            "give one way to authenticate, not " + " and ".join(flag(n) for n in modes)
        )
    if o.get("user"):
        password = env.get(ENV_PASSWORD)
        if not password:
            raise UsageError(f"--user needs the password in the environment: {ENV_PASSWORD}")
        redactor.add(f"{o['user']}:{password}")  # its base64 is the Basic header
        return BasicAuth(user=o["user"], password=password)
    if o.get("cert") or o.get("key"):
        cert = o.get("cert") or ClientCertAuth().cert
        key = o.get("key") or RHSM_KEY
        for path in (cert, key):
            if not os.path.isfile(path):
                raise UsageError(f"client certificate file not found: {path}")
        return ClientCertAuth(cert=cert, key=key)
    if o.get("identity"):
        identity = env.get(ENV_IDENTITY)
        if not identity:
            raise UsageError(
                f"--identity needs the header value in the environment: {ENV_IDENTITY}"
            )
        return IdentityAuth(identity=identity)
    if o.get("token_url") or o.get("client_id"):
        if not (o.get("token_url") and o.get("client_id")):
            raise UsageError("OAuth2 needs both --token-url and --client-id")
        secret = env.get(ENV_CLIENT_SECRET)
        if not secret:
            raise UsageError(
                f"--client-id needs the client secret in the environment: {ENV_CLIENT_SECRET}"
            )
        redactor.add(f"{o['client_id']}:{secret}")  # its base64 is the Basic header
        return OAuth2ClientCredentials(
            token_url=no_password(o["token_url"], "--token-url"),
            client_id=o["client_id"],
            client_secret=secret,
            scope=o.get("scope"),
            allow_insecure=bool(o.get("allow_insecure")),
        )
    return None
