"""What the ingress is told to do, and what it saw: plain frozen records.

A test scripts the next uploads' fate with ``Fail``, ``Drop``, ``Stall`` and
``Redirect``, then reads back ``Upload`` and ``Request`` records, which
carry the names of secret headers but never their values.

>>> Fail(429, retry_after=1)
Fail(status=429, retry_after=1, body=None)
>>> Drop().after
65536
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs
from attrs import field, frozen

__all__ = ["Drop", "Fail", "Planned", "Redirect", "Request", "Stall", "Upload"]


# -- scripted answers --------------------------------------------------------


@frozen(kw_only=False)
class Fail:
    """Answer the next upload with ``status`` (after reading its body)."""

    status: int
    retry_after: float | str | None = field(default=None, kw_only=True)
    body: str | None = field(default=None, kw_only=True)


@frozen(kw_only=False)
class Drop:
    """Close the connection without an answer after ``after`` body bytes (all if None)."""

    after: int | None = 64 * 1024


@frozen(kw_only=False)
class Stall:
    """Handle the upload normally, but wait ``seconds`` before answering."""

    seconds: float


@frozen(kw_only=False)
class Redirect:
    """Answer with a redirect to ``location``."""

    location: str
    status: int = 307


Planned = Fail | Drop | Stall | Redirect


# -- what the server saw -------------------------------------------------------


@frozen(kw_only=True)
class Upload:
    """An accepted upload: where it was saved and who sent it (no secrets)."""

    request_id: str
    field: str
    filename: str
    content_type: str
    service: str
    size: int
    sha256: str
    path: Path
    headers: Mapping[str, str] = attrs.field(repr=False)
    auth: str | None = None
    principal: str | None = None
    client_cert: str | None = None


@frozen(kw_only=True)
class Request:
    """Any request the server saw, with the names (never values) of secret headers."""

    method: str
    path: str
    status: int | None
    headers: Mapping[str, str] = attrs.field(repr=False)
    secret_headers: frozenset[str] = frozenset()
