"""What the HTTP side reads of the ingress's configuration, and nothing more.

``IngressServer`` fits it; the handler and the upload route are given one,
so they depend on this description rather than on the server.  It is read
on every request, so a setting changed on a running server applies to the
next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

# Where the local ingress finds the secrets of --basic USER and --client ID.
ENV_INGRESS_PASSWORD = "PIPELINE_COLLECTOR_INGRESS_PASSWORD"  # noqa: S105
ENV_INGRESS_CLIENT_SECRET = "PIPELINE_COLLECTOR_INGRESS_CLIENT_SECRET"  # noqa: S105

__all__ = ["Settings"]


class Settings(Protocol):
    """Protocol: the configuration the handler and the upload route read."""

    @property
    def directory(self) -> Path: ...

    @property
    def services(self) -> frozenset[str]: ...

    @property
    def max_body(self) -> int: ...

    @property
    def basic(self) -> tuple[str, str] | None: ...

    @property
    def clients(self) -> Mapping[str, str]: ...

    @property
    def require_identity(self) -> bool: ...

    @property
    def token_lifetime(self) -> int: ...

    @property
    def upload_path(self) -> str: ...

    @property
    def token_path(self) -> str: ...
