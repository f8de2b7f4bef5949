"""What an archive holds and how large it may get (docs/contract.md, section 5).

Pure functions shared by ``pack`` (which needs the size bound before anything
is written), ``archive`` (which writes the members) and ``checks``.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Iterable, Sequence

from ..compress import deflate_bound
from ..records import Collection, Part

__all__ = [
    "STATUS_FIELDS",
    "STATUS_VERSION",
    "archive_bound",
    "manifest",
    "status_csv",
    "tar_header",
    "tar_padding",
]

STATUS_FIELDS = ("collection_start_timestamp", "since", "until", "file_name", "status", "elapsed")
STATUS_VERSION = "1.0"
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_GZIP_OVERHEAD = 10 + 8 + 2  # header, trailer, final empty block


def status_csv(collections: Iterable[Collection]) -> bytes:
    """``data_collection_status.csv``: one row per collection in the archive."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STATUS_FIELDS)
    for c in collections:
        writer.writerow(
            (
                str(c.started_at),
                str(c.task.window.since),
                str(c.task.window.until),
                c.task.collector.filename,
                "ok" if c.status in ("ok", "empty") else "failed",
                int(c.elapsed),
            )
        )
    return out.getvalue().encode("utf-8")


def manifest(
    parts: Iterable[Part], collections: Iterable[Collection], config_version: str
) -> bytes:
    """``manifest.json``: each member's file name mapped to its collector version."""
    versions = {c.key: c.task.collector.version for c in collections}
    data = {p.filename: versions.get(p.key, "1.0") for p in parts}
    data["config.json"] = config_version
    data["data_collection_status.csv"] = STATUS_VERSION
    return json.dumps(data).encode("utf-8")


def tar_header(name: str, size: int, mtime: float) -> bytes:
    """The PAX header block(s) of member ``./<name>``."""
    info = tarfile.TarInfo(f"./{name}")
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o640
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_padding(size: int) -> int:
    """Zero bytes that follow a member of ``size`` bytes, up to the next 512-byte block.

    >>> tar_padding(1), tar_padding(512)
    (511, 0)
    """
    return -size % _BLOCK


def archive_bound(
    parts: Sequence[Part],
    collections: Sequence[Collection],
    config: Part,
    config_version: str = "1.0",
) -> int:
    """An upper bound of the archive's compressed size, exact enough to pack by.

    Part segments count at their known size; headers, padding and the small
    metadata members at the deflate bound of their uncompressed size.
    """
    status = len(status_csv(collections))
    meta = len(manifest(parts, collections, config_version))
    members = len(parts) + 3
    glue = members * (_BLOCK * 2) + status + meta + _RECORD + 2 * _BLOCK
    return (
        _GZIP_OVERHEAD
        + sum(p.deflated_size for p in parts)
        + config.deflated_size
        + deflate_bound(glue)
        + members * 32
    )
