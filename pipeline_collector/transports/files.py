"""Names and hashes every transport needs: a safe archive name, the next free
name, and a file's sha256 read in chunks.

Destinations differ (a folder, an ingress, a bucket) but agree on these rules,
so they live here once rather than in one transport that the others borrow from.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import ShipError

__all__ = ["CHUNK", "file_sha256", "next_number", "safe_name"]

CHUNK = 1 << 20
"""Bytes read at a time when copying or hashing an archive."""

_NUMBERED = re.compile(r"(.*-)(\d+)(\.tar\.gz)")


def file_sha256(path: Path, *, chunk_size: int = CHUNK) -> str:
    """Hash a file in chunks, so that large archives never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def safe_name(name: str) -> str:
    """Return ``name`` if it is a plain file name; refuse names that could lead out of a folder.

    >>> safe_name("analytics-0.tar.gz")
    'analytics-0.tar.gz'
    >>> safe_name("../evil.tar.gz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pipeline_collector.errors.ShipError: refusing archive name '../evil.tar.gz': ...
    """
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.path.isabs(name)
        or name.startswith(".")
    ):
        raise ShipError(f"refusing archive name {name!r}: it must be a plain file name")
    return name


def next_number(name: str) -> str:
    """The name to try when ``name`` is taken: its number plus one, or ``-1``.

    >>> next_number("x-3.tar.gz")
    'x-4.tar.gz'
    >>> next_number("x.tar.gz")
    'x-1.tar.gz'
    >>> next_number("x")
    'x-1'
    """
    match = _NUMBERED.fullmatch(name)
    if match is None:
        stem, _, suffix = name.partition(".")
        return f"{stem}-1.{suffix}" if suffix else f"{name}-1"
    return f"{match[1]}{int(match[2]) + 1}{match[3]}"
