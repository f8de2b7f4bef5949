"""``gather``'s arguments checked before anything runs, each with a one-line fix.

A path where a store, transport or lock belongs, or a size the archives
cannot fit in, would otherwise surface deep in a run (``'str' object has
no attribute 'load'``) after collectors ran; here it is named at the call.
"""

from __future__ import annotations

import os
from typing import Any

from ..config import RESERVE
from ..errors import ConfigurationError
from ..protocols import Compressor, Lock, StateStore, Transport
from ..units import human_bytes

__all__ = ["check_effects", "check_sizes"]


def _methods(protocol: type) -> tuple[str, ...]:
    """The methods ``protocol`` declares (its properties are not called, so not checked)."""
    return tuple(n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))


# Each effect: the methods its Protocol needs, and what to pass instead.
_SEAMS = {
    "state": (
        _methods(StateStore),
        "JsonFileStore({!r}), SqliteStore(path) or PostgresStore(...)",
    ),
    "transport": (
        _methods(Transport),
        "DirectoryTransport({!r}), HttpTransport(url=..., content_type=...) or S3Transport(...)",
    ),
    "lock": (_methods(Lock), "FileLock({!r}) or PostgresAdvisoryLock(...)"),
    "compressor": (_methods(Compressor), "get_compressor({!r})"),
}


def check_effects(**effects: Any) -> None:
    """Each given effect fits its Protocol; a path or name in its place says what to pass.

    >>> check_effects(state="state.json")
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: state='state.json' is a str, not a state \
store; pass pc.JsonFileStore('state.json'), SqliteStore(path) or PostgresStore(...)
    """
    for name, value in effects.items():
        methods, instead = _SEAMS[name]
        if value is None or all(callable(getattr(value, m, None)) for m in methods):
            continue
        shown = os.fspath(value) if isinstance(value, os.PathLike) else value
        example = instead.format(shown if isinstance(shown, str) else "...")
        what = "a state store" if name == "state" else f"a {name}"
        raise ConfigurationError(
            f"{name}={value!r} is a {type(value).__name__}, not {what}; pass pc.{example}"
        )


def check_sizes(max_data_size: Any, max_upload_size: Any) -> None:
    """Both sizes are whole numbers of bytes an archive can fit in.

    >>> check_sizes(200 * 2**20, 64 * 2**10)
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: max_upload_size=65536 (64.0 KiB) is too \
small: an archive needs more than 131072 bytes (128 KiB) for its config and metadata; the \
ingress takes 100 MiB
    """
    for name, value in (("max_data_size", max_data_size), ("max_upload_size", max_upload_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(
                f"{name}={value!r} must be a whole number of bytes, e.g. 50 * 2**20 for 50 MiB"
            )
    if max_data_size <= 0:
        raise ConfigurationError(
            f"max_data_size={max_data_size!r} must be positive, e.g. 200 * 2**20 (the default)"
        )
    if max_upload_size <= 2 * RESERVE:
        raise ConfigurationError(
            f"max_upload_size={max_upload_size!r} ({human_bytes(max_upload_size)}) is too"
            f" small: an archive needs more than {2 * RESERVE} bytes"
            f" ({2 * RESERVE // 1024} KiB) for its config and metadata; the ingress takes 100 MiB"
        )
