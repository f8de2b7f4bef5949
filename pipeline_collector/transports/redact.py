"""What of a URL, a header or an answer may be shown in a log line or an error.

Secrets reach a transport in URLs (user info, queries), headers and answers
that echo them back; everything shown passes through here first.  The URL
checks refuse credentials in URLs outright, so they cannot be logged at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError

__all__ = [
    "check_url",
    "excerpt",
    "redact",
    "show_headers",
    "show_proxy",
    "show_url",
    "strip_userinfo",
]

_EXCERPT = 200
_READ = 4096


def show_url(url: str) -> str:
    """A URL fit for logs and errors: no user info, query or fragment.

    >>> show_url("https://user:pw@example.org:8443/up?token=x#frag")
    'https://example.org:8443/up'
    >>> show_url("http://[::1]:80/up")
    'http://[::1]:80/up'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


def show_proxy(proxy: str | None) -> str:
    """The repr of a proxy setting, without its password.

    >>> show_proxy("http://u:secret@proxy:3128")
    "'http://proxy:3128'"
    """
    return repr(None if proxy is None else show_url(proxy))


def show_headers(value: Mapping[str, str]) -> str:
    """Header names only: any value may be a key or a token.

    >>> show_headers({"X-Api-Key": "k"})
    "{'X-Api-Key': ...}"
    """
    return "{" + ", ".join(f"{name!r}: ..." for name in value) + "}"


def strip_userinfo(url: str) -> str:
    """The URL without ``user:password@``, query kept, for checking a proxy URL.

    >>> strip_userinfo("http://u:p@proxy:3128/x?q")
    'http://proxy:3128/x?q'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, parts.query, ""))


def check_url(url: str, *, what: str, needs_tls: bool, allow: bool) -> None:
    """Refuse a URL that is not http(s), carries credentials, or sends them in clear."""
    if not url:
        raise ConfigurationError(f"{what} is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an http:// or https:// URL, got {show_url(url)}")
    if parts.username or parts.password:
        raise ConfigurationError(f"{what} must not carry credentials; pass an auth object instead")
    if needs_tls and parts.scheme != "https" and not allow:
        raise ConfigurationError(
            f"{what} {show_url(url)} is plain http:// but the credentials need TLS; "
            "use https:// or pass allow_insecure=True"
        )


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret in it replaced.

    >>> redact("token abc in the answer", ("abc", ""))
    'token <redacted> in the answer'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def excerpt(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """A short, printable, secret-free excerpt of an answer's body.

    >>> excerpt(b"\\x1b[31mno\\n\\tway")
    '[31mno way'
    >>> excerpt(b"")
    '(empty body)'
    """
    raw = body[:_READ].decode("utf-8", "replace")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())
    text = redact(text, secrets)
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT] + "..."
    return text or "(empty body)"
