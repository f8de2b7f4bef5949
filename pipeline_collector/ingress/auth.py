"""Reading the credentials a request carries: basic auth, identity, client certificate.

Each function answers ``None`` for anything it cannot read, so a malformed
header is simply not a credential.
"""

from __future__ import annotations

import base64
import binascii
import socket
import ssl
from typing import Any

from ..jsontext import decode

__all__ = ["basic_credentials", "identity_org", "peer_name"]


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The user and password of a ``Basic`` Authorization header.

    >>> basic_credentials("Basic " + base64.b64encode(b"alice:pw").decode())
    ('alice', 'pw')
    >>> basic_credentials("Bearer abc") is None, basic_credentials("Basic !!") is None
    (True, True)
    """
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def identity_org(value: str | None) -> str | None:
    """The org id of an ``x-rh-identity`` header, or None when it is not one.

    >>> import json
    >>> doc = json.dumps({"identity": {"org_id": "77"}}).encode()
    >>> identity_org(base64.b64encode(doc).decode())
    '77'
    >>> identity_org("junk") is None
    True
    """
    if not value:
        return None
    try:
        document = decode(base64.b64decode(value, validate=True))
        identity = document["identity"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if not isinstance(identity, dict):
        return None
    org = identity.get("org_id") or (identity.get("internal") or {}).get("org_id")
    return str(org) if org else "unknown"


def peer_name(connection: socket.socket) -> str | None:
    """Who the client certificate names, or None without TLS or a certificate."""
    if not isinstance(connection, ssl.SSLSocket):
        return None
    cert: Any = connection.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    for kind, value in cert.get("subjectAltName", ()):
        if kind in ("DNS", "email", "IP Address"):
            return str(value)
    return "client certificate"
