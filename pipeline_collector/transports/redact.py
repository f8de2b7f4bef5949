"""What of a URL, a header or an answer may be shown in a log line or an error.

Secrets reach a transport in URLs (user info, queries), headers and answers
that echo them back; everything shown passes through here first.  The URL
checks refuse credentials in the ingress's URL outright; a proxy's URL may
carry ``user:password``, and any URL a query's token: ``url_secrets`` lists
them.  A secret goes on the wire in more than one encoding (base64 of
``id:secret`` in a Basic or Proxy-Authorization header, URL-encoded in a
form body or a URL), and a peer may echo any of them: ``redact`` cuts every
one of ``encodings``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

from ..errors import ConfigurationError

__all__ = [
    "check_url",
    "encodings",
    "excerpt",
    "printable",
    "redact",
    "show_headers",
    "show_proxy",
    "show_url",
    "strip_userinfo",
    "url_secrets",
]

_EXCERPT = 200
_REDACTED = "<redacted>"


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


# Query parameters whose values are secrets whatever their length.
_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|cred|session|code", re.IGNORECASE)
_SHORTEST = 3  # a shorter value would cut ordinary text out of every message
_LONG = 8  # a query value this long may be a token whatever its name


def url_secrets(url: str | None) -> tuple[str, ...]:
    """Every secret ``url`` carries, as it may go on the wire.

    Its password, as written and percent-decoded, and ``user:password`` both
    ways (its base64 is the Basic or Proxy-Authorization header that
    ``requests`` sends for a proxy's user info); and its query's values that
    may be tokens: those of a parameter named like one, and any of
    ``_LONG`` characters or more.  A URL that does not parse is a secret
    whole.

    >>> url_secrets("http://me:p%40ss@proxy:3128")
    ('p%40ss', 'me:p%40ss', 'p@ss', 'me:p@ss')
    >>> url_secrets("https://ingress.example/up?token=abc&v=1&sig=0123456789ab")
    ('abc', '0123456789ab')
    >>> url_secrets(None), url_secrets("http://proxy:3128")
    ((), ())
    """
    if not url:
        return ()
    try:
        parts = urlsplit(url)
        user, password = parts.username or "", parts.password
    except ValueError:
        return (url,)
    found: list[str] = []
    if password:
        for u, p in ((user, password), (unquote(user), unquote(password))):
            found += [p, f"{u}:{p}"] if len(p) >= _SHORTEST else [f"{u}:{p}"]
    for name, value in parse_qsl(parts.query):
        if len(value) >= _LONG or (len(value) >= _SHORTEST and _SECRET_PARAM.search(name)):
            found.append(value)
    return tuple(dict.fromkeys(found))


def encodings(secret: str) -> frozenset[str]:
    """Every form of ``secret`` that may come back in an echo of what was sent.

    The value itself, URL-encoded (``quote`` and the form body's
    ``quote_plus``), JSON-escaped, as a latin-1 header value reads in UTF-8,
    and base64 (standard and URL-safe, with and without padding) of its
    UTF-8 bytes and of its latin-1 bytes (``requests`` encodes a Basic
    header's ``user:password`` as latin-1).  Pass ``f"{user}:{secret}"`` too
    for a Basic header: its base64 is one of that pair's encodings.

    >>> sorted(encodings("a b/c"))
    ['YSBiL2M', 'YSBiL2M=', 'a b/c', 'a%20b%2Fc', 'a+b%2Fc']
    >>> encodings("")
    frozenset()
    """
    if not secret:
        return frozenset()
    raw = secret.encode("utf-8")
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    raws = [raw]
    with contextlib.suppress(UnicodeEncodeError):  # a header value goes out as latin-1
        latin = secret.encode("latin-1")
        forms.add(latin.decode("utf-8", "replace"))
        raws.append(latin)
    for data in raws:
        for b64 in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
            text = b64.decode("ascii")
            forms |= {text, text.rstrip("=")}
    return frozenset(f for f in forms if f)


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = {form for secret in secrets for form in encodings(secret)}
    if not forms:
        return None
    # Longest first, so that a form inside a longer one never leaves a tail;
    # case-blind, as percent-escapes may come back in either case.
    ordered = sorted(forms, key=lambda f: (-len(f), f))
    return re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in it replaced, in each of its ``encodings``.

    >>> redact("token abc in the answer", ("abc", ""))
    'token <redacted> in the answer'
    >>> redact("Authorization: Basic aWQ6czNjcmV0 and s3cret", ("id:s3cret", "s3cret"))
    'Authorization: Basic <redacted> and <redacted>'
    >>> redact("client_secret=p%40ss+word", ["p@ss word"])
    'client_secret=<redacted>'
    """
    pattern = _pattern(tuple(secrets))
    return text if pattern is None else pattern.sub(_REDACTED, text)


def printable(text: str) -> str:
    """``text`` on one line: control characters become spaces, runs of space one.

    >>> printable("\\x1b[31mno\\n\\tway")
    '[31mno way'
    """
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def excerpt(body: bytes, secrets: Iterable[str] = ()) -> str:
    """A short, printable, secret-free excerpt of an answer's body.

    Secrets are cut from the whole body before it is shortened (a cut
    through a secret would leave its start) and again once it is on one
    line (where a secret's own spaces or line breaks may reappear).

    >>> excerpt(b"\\x1b[31mno\\n\\tway")
    '[31mno way'
    >>> excerpt(b"")
    '(empty body)'
    >>> excerpt(b"x" * 180 + b" secret-value", ["secret-value"])[-12:]
    'x <redacted>'
    """
    known = tuple(secrets)
    text = redact(printable(redact(body.decode("utf-8", "replace"), known)), known)
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT] + "..."
    return text or "(empty body)"
