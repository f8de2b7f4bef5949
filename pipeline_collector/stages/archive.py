"""Stage 6, archive: write the ``.tar.gz`` of one batch, never overwriting a file.

Members: the parts (``./<key>.csv``, ``./<key>.json``), then ``./config.json``,
``./data_collection_status.csv`` and ``./manifest.json`` (docs/contract.md, section 5).
The gzip stream is assembled from the parts' raw deflate segments as they are
(see ``compress``): writing an archive is copying bytes, and its size is
bounded exactly before it is written.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import tarfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..compress import crc32, crc32_combine, default_compressor
from ..config import DEFAULT_PREFIX, Limits
from ..errors import ConfigurationError
from ..log import logger
from ..naming import ArchiveInfo, Namer, archive_name, check_name, check_prefix
from ..protocols import Compressor
from ..records import Archive, Batch, Collection, Collector, Part, Task, Window
from .archive_format import manifest, status_csv, tar_header, tar_padding
from .chunk import document_part
from .collect import json_document
from .pack import pack

__all__ = ["archive", "write_archive"]

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE

log = logger("archive")


class _GzipWriter:
    """Writes one gzip member from raw deflate segments and small blobs."""

    def __init__(self, file: IO[bytes], compressor: Compressor, mtime: float) -> None:
        self.file = file
        self.sha = hashlib.sha256()
        self.size = 0
        self.raw = 0
        self.crc = 0
        self.compressor = compressor
        self._emit(b"\x1f\x8b\x08\x00" + struct.pack("<I", int(mtime) & 0xFFFFFFFF) + b"\x00\xff")

    def _emit(self, data: bytes) -> None:
        self.file.write(data)
        self.sha.update(data)
        self.size += len(data)

    def blob(self, data: bytes) -> None:
        if not data:
            return
        deflater = self.compressor.deflater()
        self._emit(deflater.compress(data) + self.compressor.sync_flush(deflater))
        self.crc = crc32(data, self.crc)
        self.raw += len(data)

    def segment(self, part: Part) -> None:
        with part.path.open("rb") as f:
            copied = 0
            while chunk := f.read(1 << 20):
                self._emit(chunk)
                copied += len(chunk)
        if copied != part.deflated_size:
            raise OSError(
                f"part {part.path.name} holds {copied} bytes, expected {part.deflated_size}"
            )
        self.crc = crc32_combine(self.crc, part.crc32, part.raw_size)
        self.raw += part.raw_size

    def close(self) -> None:
        self._emit(self.compressor.finish(self.compressor.deflater()))
        self._emit(struct.pack("<II", self.crc, self.raw & 0xFFFFFFFF))


def write_archive(
    batch: Batch,
    *,
    config: Part,
    config_version: str,
    directory: Path,
    until: datetime,
    prefix: str = DEFAULT_PREFIX,
    start: int = 0,
    compressor: Compressor | None = None,
    namer: Namer | None = None,
) -> Archive:
    """Write ``batch`` as a ``.tar.gz`` in ``directory`` and describe it.

    The file is created exclusively: the first free ``n`` from ``start`` on
    is taken, so an earlier archive is never overwritten.  Mode 0600.
    ``namer`` turns ``(group, windows, n, until)`` into the file name
    (``pipeline_collector.naming``); by default ``<prefix>-<until>-<n>.tar.gz``,
    and a prefix that would not make a plain file name is refused
    (``naming.check_prefix``) before anything is written.
    """
    if namer is None:
        check_prefix(prefix)
    comp = compressor or default_compressor()
    mtime = until.timestamp()
    windows = tuple(c.task.window for c in batch.collections)
    n = start
    tried: set[str] = set()
    while True:
        if namer is None:
            filename = archive_name(prefix, until, n)
        else:
            info = ArchiveInfo(group=batch.group, windows=windows, index=n, until=until)
            filename = check_name(namer(info), "the archive name function")
        if filename in tried:
            raise ConfigurationError(
                f"the archive name function gave {filename!r} again for index {n}, and that"
                " file exists: make the name depend on the index"
            )
        tried.add(filename)
        path = directory / filename
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            n += 1
            continue
        break
    members: list[str] = []
    try:
        with os.fdopen(fd, "wb") as f:
            gz = _GzipWriter(f, comp, mtime)
            pending = b""
            for part in [*batch.parts, config]:
                name = part.filename if part is not config else "config.json"
                pending += tar_header(name, part.raw_size, mtime)
                gz.blob(pending)
                gz.segment(part)
                members.append(f"./{name}")
                pending = b"\0" * tar_padding(part.raw_size)
            for name, data in (
                ("data_collection_status.csv", status_csv(batch.collections)),
                ("manifest.json", manifest(batch.parts, batch.collections, config_version)),
            ):
                gz.blob(pending + tar_header(name, len(data), mtime) + data)
                members.append(f"./{name}")
                pending = b"\0" * tar_padding(len(data))
            end = pending + b"\0" * (2 * _BLOCK)
            total = gz.raw + len(end)
            end += b"\0" * (-total % _RECORD)
            gz.blob(end)
            gz.close()
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    archive = Archive(
        path=path,
        size=gz.size,
        sha256=gz.sha.hexdigest(),
        members=tuple(members),
        batch=batch,
        until=until,
        number=n,
    )
    log.info(
        "archive.written",
        archive=path.name,
        bytes=archive.size,
        raw_bytes=gz.raw,
        members=len(members),
        sha256=archive.sha256,
    )
    return archive


def _nothing(**kwargs: Any) -> None:
    """The function of a collector that stands for a user's own parts: never called."""


def archive(
    parts: Iterable[Part],
    *,
    config: Mapping[str, Any],
    directory: str | os.PathLike[str],
    limits: Limits | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    versions: Mapping[str, str] | None = None,
    config_version: str = "1.0",
    prefix: str = DEFAULT_PREFIX,
    group: str = "default",
    compressor: Compressor | None = None,
    namer: Namer | None = None,
) -> tuple[Archive, ...]:
    """The pack and archive stages alone: parts of one's own into ``.tar.gz`` archives.

    ``config`` is the ``config.json`` document every archive carries;
    ``versions`` maps a key to the version its manifest entry says (``1.0``
    by default); ``[since, until)`` is the window the status CSV reports
    (``until`` is now when not given).  Parts are placed as the pipeline
    places them, and no archive passes ``limits.max_upload_size``: a part
    that could not fit one is refused before anything is written.  The parts'
    files are left as they are.
    """
    limits = limits if limits is not None else Limits()
    until = until if until is not None else datetime.now(timezone.utc)
    since = since if since is not None else until
    for name, value in (("since", since), ("until", until)):
        if value.utcoffset() is None:
            raise ConfigurationError(f"{name}={value!r} must be a timezone-aware datetime")
    folder = Path(directory)
    window = Window(since=since, until=until)
    collections: dict[tuple[str, int], list[Part]] = {}
    for part in parts:
        collections.setdefault((part.key, part.seq), []).append(part)
    records = [
        Collection(
            task=Task(
                collector=Collector(
                    key=key,
                    version=(versions or {}).get(key, "1.0"),
                    func=_nothing,
                    format="json" if held[0].filename.endswith(".json") else "csv",
                    shipping_group=group,
                ),
                window=window,
                seq=seq,
            ),
            status="ok",
            started_at=until,
            elapsed=0.0,
            rows=sum(p.rows for p in held),
            bytes=sum(p.raw_size for p in held),
            parts=tuple(held),
        )
        for (key, seq), held in collections.items()
    ]
    config_part = document_part(
        json_document(dict(config), "the config document"),
        key="config",
        filename="config.json",
        directory=folder,
        seq=-1,
        compressor=compressor,
        stem=f"config-{secrets.token_hex(4)}",
    )
    written: list[Archive] = []
    try:
        batches = list(
            pack(
                records,
                max_data_size=limits.max_data_size,
                max_upload_size=limits.max_upload_size,
                config=config_part,
                config_version=config_version,
            )
        )
        n = 0
        for batch in batches:
            made = write_archive(
                batch,
                config=config_part,
                config_version=config_version,
                directory=folder,
                until=until,
                prefix=prefix,
                start=n,
                compressor=compressor,
                namer=namer,
            )
            written.append(made)
            n = made.number + 1
    finally:
        config_part.path.unlink(missing_ok=True)
    return tuple(written)
