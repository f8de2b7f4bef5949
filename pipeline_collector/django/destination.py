"""``PIPELINE_COLLECTOR['TRANSPORT']``: a folder, an HTTP ingress or an object, checked key by key.

Each value is checked for its type and range before a transport is built,
so a wrong one is one line naming its key; a header's value is never shown.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..protocols import Transport
from .values import keys as _keys
from .values import obj as _object
from .values import where as _where

__all__ = ["build", "seconds"]

_HTTP = frozenset(
    {"URL", "CONTENT_TYPE", "AUTH", "CA_BUNDLE", "HEADERS", "PROXY", "TIMEOUT", "ALLOW_INSECURE"}
)


def build(value: Any) -> Transport:
    where = _where("TRANSPORT")
    if value is None:
        raise ConfigurationError(f"{where} is needed to ship: a directory, a URL or an object")
    if not isinstance(value, Mapping):
        found: Transport = _object(value, where, lambda v: isinstance(v, Transport), "a transport")
        return found
    if "DIRECTORY" in value:
        from ..transports import DirectoryTransport

        _keys(value, frozenset({"DIRECTORY"}), where)
        folder = value["DIRECTORY"]
        if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder):
            raise ConfigurationError(
                f"{_where('TRANSPORT', 'DIRECTORY')} must be a folder path, not"
                f" {type(folder).__name__}"
            )
        return DirectoryTransport(Path(folder))
    _keys(value, _HTTP, where)
    if not value.get("URL") or not value.get("CONTENT_TYPE"):
        raise ConfigurationError(
            f"{where}: give DIRECTORY, or URL and CONTENT_TYPE (the service's registered type)"
        )
    from ..transports import Auth, HttpTransport

    auth = value.get("AUTH")
    if auth is not None:
        auth = _object(auth, _where("TRANSPORT", "AUTH"), lambda v: isinstance(v, Auth), "an auth")
    options: dict[str, Any] = {}
    if value.get("TIMEOUT") is not None:
        limit = seconds(value["TIMEOUT"], _where("TRANSPORT", "TIMEOUT"))
        options["timeout"] = (limit, limit)
    return HttpTransport(
        url=_text(value["URL"], _where("TRANSPORT", "URL")),
        content_type=_text(value["CONTENT_TYPE"], _where("TRANSPORT", "CONTENT_TYPE")),
        auth=auth,
        verify=_verify(value.get("CA_BUNDLE")),
        headers=_headers(value.get("HEADERS")),
        proxy=None
        if value.get("PROXY") is None
        else _text(value["PROXY"], _where("TRANSPORT", "PROXY")),
        allow_insecure=_flag(value.get("ALLOW_INSECURE"), _where("TRANSPORT", "ALLOW_INSECURE")),
        **options,
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where} must be a non-empty string, not {type(value).__name__}")
    return value


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigurationError(f"{where} must be True or False, not {type(value).__name__}")
    return value


def _verify(value: Any) -> bool | str:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    return _text(value, _where("TRANSPORT", "CA_BUNDLE"))


def seconds(value: Any, where: str) -> float:
    from ..cli.options import positive_float

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigurationError(f"{where} must be a number of seconds, not {type(value).__name__}")
    try:
        seconds = positive_float(str(value))
    except argparse.ArgumentTypeError as e:
        raise ConfigurationError(f"{where}: {e}") from None
    if seconds == 0:
        raise ConfigurationError(f"{where} must be more than 0 seconds")
    return seconds


def _headers(value: Any) -> dict[str, str]:
    """A dict of header names to values; the values are never shown (they may be secret)."""
    where = _where("TRANSPORT", "HEADERS")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{where} must be a dict of header names to values, not {type(value).__name__}"
        )
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise ConfigurationError(f"{where}: header {name!r} must map a name to a string")
    return dict(value)
