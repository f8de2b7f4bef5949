"""``gather``'s arguments checked before anything runs, each with a one-line fix.

A path where a store, transport or lock belongs, or a size the archives
cannot fit in, would otherwise surface deep in a run (``'str' object has
no attribute 'load'``) after collectors ran; here it is named at the call.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigurationError
from ..protocols import Compressor, Lock, StateStore, Transport

__all__ = ["check_effects"]


def _methods(protocol: type) -> tuple[str, ...]:
    """The methods ``protocol`` declares (its properties are not called, so not checked)."""
    return tuple(n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))


# Each effect: the methods its Protocol needs, and what to pass instead.
_SEAMS = {
    "state": (
        _methods(StateStore),
        "JsonFileStore({!r}), SqliteStore(path) or PostgresStore(...)",
    ),
    # A run only sends; ``close`` is the owner's to call, so a transport without
    # one (a user's fake of old) still fits here.
    "transport": (
        tuple(m for m in _methods(Transport) if m != "close"),
        "DirectoryTransport({!r}), HttpTransport(url=..., content_type=...) or S3Transport(...)",
    ),
    "lock": (_methods(Lock), "FileLock({!r}) or PostgresAdvisoryLock(...)"),
    "compressor": (_methods(Compressor), "get_compressor({!r})"),
}


def _instead(name: str, text: str) -> str | None:
    """What to pass for a URL given as ``name``: the adapter its scheme names."""
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if name == "transport" and scheme in ("http", "https"):
        return (
            f"HttpTransport(url={text!r}, content_type="
            "'application/vnd.redhat.<service>.<name>+tgz')"
        )
    if name == "transport" and scheme == "s3":
        bucket, _, prefix = text.partition("://")[2].partition("/")
        return f"S3Transport(bucket={bucket!r}, prefix={prefix!r})"
    if scheme == "sqlite" and name == "state":
        return f"SqliteStore({text.partition(':///')[2]!r})"
    if scheme in ("postgresql", "postgres"):
        return (
            "PostgresStore.from_dsn(dsn)"
            if name == "state"
            else "PostgresAdvisoryLock.from_dsn(dsn, 'gather_analytics_lock')"
        )
    return None


def check_effects(**effects: Any) -> None:
    """Each given effect fits its Protocol; a path or name in its place says what to pass.

    >>> check_effects(state="state.json")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: state='state.json' is a str, not a state \
store; pass pc.JsonFileStore('state.json'), SqliteStore(path) or PostgresStore(...)
    >>> check_effects(transport="https://ingress.example.com/upload")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: transport='https://ingress.example.com/upload' \
is a str, not a transport; pass pc.HttpTransport(url='https://ingress.example.com/upload', \
content_type='application/vnd.redhat.<service>.<name>+tgz')
    """
    for name, value in effects.items():
        methods, instead = _SEAMS[name]
        if value is None or all(callable(getattr(value, m, None)) for m in methods):
            continue
        shown = os.fspath(value) if isinstance(value, os.PathLike) else value
        by_scheme = _instead(name, shown) if isinstance(shown, str) else None
        example = by_scheme or instead.format(shown if isinstance(shown, str) else "...")
        what = "a state store" if name == "state" else f"a {name}"
        raise ConfigurationError(
            f"{name}={value!r} is a {type(value).__name__}, not {what}; pass pc.{example}"
        )
