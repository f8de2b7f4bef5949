"""Stage 4, chunk: cut collector output into size-limited, compressed parts.

``cut`` streams CSV records into parts of at most ``limit`` bytes of
uncompressed CSV (bytes, not characters), cutting only between records, with
the header on top of every part.  Each part is compressed as it is written,
on worker threads, into a raw deflate segment (``compress.segment``), so
memory stays flat whatever the table size and the part's exact compressed
size is known.  ``split`` turns one collector's output into a ``Collection``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal

from ..compress import crc32, default_compressor
from ..config import Limits
from ..errors import CollectorError, ConfigurationError
from ..log import logger
from ..protocols import Compressor
from ..records import Collection, Part, Status
from .collect import Collected, describe, json_document
from .cutter import CHUNK, TARGET, Cutter, whole_records
from .discover import KEY, RESERVED
from .rows import Rows, first_record, record_blocks

__all__ = [
    "CHUNK",
    "chunk",
    "csv_records",
    "cut",
    "document_part",
    "file_records",
    "read_part",
    "split",
]


log = logger("chunk")


def _record(value: Any, key: str, n: int) -> bytes:
    if type(value) is bytes:
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise CollectorError(
            f"collector {key!r} yielded {type(value).__name__} as record {n}; expected bytes or str"
        )
    return data if data.endswith(b"\n") else data + b"\n"


def cut(
    records: Iterable[bytes | str],
    *,
    key: str,
    directory: Path,
    limit: int,
    max_deflated: int | None = None,
    seq: int = 0,
    compressor: Compressor | None = None,
    stem: str | None = None,
) -> Iterator[Part]:
    """Cut CSV records (header first) into parts; yield each part when done.

    A part holds at most ``limit`` bytes, header included, unless a single
    record alone exceeds it (that part is marked ``oversized``).  A part is
    also closed before its compressed size could pass ``max_deflated``.
    Header-only or empty output yields no part.  Parts are files in
    ``directory`` named ``<stem>-<n>.part``; read one back with ``read_part``.

    Records are ``bytes`` or ``str``, one record each, or ``Rows``, many
    whole records in one block (``copy_rows`` yields those): records are
    taken from the producer in batches of about 256 KiB, so the Python work
    per row is a few C calls.
    """
    if limit <= 0:
        raise ValueError(f"limit must be positive, not {limit}")
    it = iter(records)
    first = next(it, None)
    if first is None:
        return
    if type(first) is Rows:
        end = first_record(first)
        header = bytes(first[:end])
        if end < len(first):
            it = chain([Rows(first[end:], first.rows - 1, first.utf8)], it)
    else:
        header = _record(first, key, 0)
    state = Cutter(
        key=key,
        directory=directory,
        limit=limit,
        ceiling=max_deflated if max_deflated is not None else sys.maxsize,
        compressor=compressor or default_compressor(),
        seq=seq,
        stem=stem or f"{key}-{seq}",
        header=header,
    )
    try:
        n = 1  # the number of the batch's first record (the header is record 0)
        # Items in the next batch, about TARGET bytes; few at first, as they
        # may be blocks.
        count = 1 if type(first) is Rows else 8
        while batch := list(islice(it, count)):
            ready = whole_records(batch)
            if ready is not None:
                state.records(*ready)
                count = max(1, min(4096, TARGET * len(batch) // (ready[1] or 1)))
            else:
                pending: list[bytes] = []
                for i, value in enumerate(batch, n):
                    if type(value) is Rows:
                        if pending:
                            state.records(pending, sum(map(len, pending)))
                            pending = []
                        state.block(value)
                    else:
                        pending.append(_record(value, key, i))
                if pending:
                    state.records(pending, sum(map(len, pending)))
                # Blocks are large: take as few at a time as keep about TARGET bytes.
                count = max(1, min(4096, TARGET * len(batch) // (sum(map(len, batch)) or 1)))
            n += len(batch)
            if state.done:
                yield from state.done
                state.done.clear()
        if state.segment is not None:
            state.finish(state.segment)
            yield from state.done
    finally:
        state.abort()


def document_part(
    data: bytes,
    *,
    key: str,
    filename: str,
    directory: Path,
    seq: int = 0,
    compressor: Compressor | None = None,
    stem: str | None = None,
) -> Part:
    """Store a whole JSON document as a single part, ``<stem>.part`` in ``directory``."""
    comp = compressor or default_compressor()
    path = directory / f"{stem or f'{key}-{seq}'}.part"
    deflater = comp.deflater()
    out = deflater.compress(data) + comp.sync_flush(deflater)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(out)
    return Part(
        key=key,
        seq=seq,
        index=0,
        filename=filename,
        path=path,
        raw_size=len(data),
        deflated_size=len(out),
        crc32=crc32(data, 0),
    )


def read_part(part: Part) -> bytes:
    """Decompress a part back to its content (for checks and tests)."""
    d = zlib.decompressobj(-15)
    data = d.decompress(part.path.read_bytes()) + d.flush()
    if len(data) != part.raw_size or crc32(data, 0) != part.crc32:
        raise ValueError(f"part {part.path.name} does not match its record")
    return data


def csv_records(lines: Iterable[bytes]) -> Iterator[bytes]:
    r"""Join lines into whole CSV records: a newline inside quotes does not end one.

    >>> list(csv_records([b'a,b\n', b'1,"x\n', b'y"\n', b'2,z\n']))
    [b'a,b\n', b'1,"x\ny"\n', b'2,z\n']
    """
    pending: list[bytes] = []
    quotes = 0
    for line in lines:
        quotes += line.count(b'"')
        if quotes % 2:
            pending.append(line)
            continue
        if pending:
            pending.append(line)
            yield b"".join(pending)
            pending.clear()
        else:
            yield line
        quotes = 0
    if pending:
        yield b"".join(pending)


def file_records(path: Path, key: str) -> Iterator[Rows]:
    if not path.is_file():
        raise CollectorError(f"collector {key!r} returned {path}, which is not a file")
    if path.stat().st_size == 0:
        raise CollectorError(f"collector {key!r} wrote {path.name} with no CSV header")
    with path.open("rb") as f:
        yield from record_blocks(iter(partial(f.read, CHUNK), b""))


def chunk(
    data: Iterable[bytes | str] | Any,
    *,
    key: str,
    directory: str | os.PathLike[str],
    format: Literal["csv", "json"] = "csv",
    limits: Limits | None = None,
    seq: int = 0,
    compressor: Compressor | None = None,
) -> tuple[Part, ...]:
    """The chunk stage alone: one key's own rows or JSON document, cut into parts.

    ``data`` is CSV records (``bytes``, ``str`` or ``Rows`` blocks, the header
    first) or, with ``format="json"``, a JSON value.  The parts are the ones
    the pipeline would make: at most ``limits.max_data_size`` bytes of CSV
    each, and each small enough to fit one upload of ``limits.max_upload_size``
    with a config document of up to 64 KiB compressed.  ``archive`` packs them.
    """
    if not isinstance(key, str) or not KEY.match(key) or key in RESERVED:
        raise ConfigurationError(
            f"key {key!r} must match {KEY.pattern} and not be one of {sorted(RESERVED)}"
            " (it names the archive member)"
        )
    limits = limits if limits is not None else Limits()
    folder = Path(directory)
    stem = f"{key}-{seq}-{secrets.token_hex(4)}"
    if format == "json":
        part = document_part(
            json_document(data, f"the document of {key!r}"),
            key=key,
            filename=f"{key}.json",
            directory=folder,
            seq=seq,
            compressor=compressor,
            stem=stem,
        )
        if part.deflated_size > limits.max_deflated():
            part.path.unlink(missing_ok=True)
            raise ConfigurationError(
                f"the document of {key!r} compresses to {part.deflated_size} bytes, more than"
                f" one upload of {limits.max_upload_size} bytes may carry"
            )
        return (part,)
    if format != "csv":
        raise ConfigurationError(f"format={format!r} must be 'csv' or 'json'")
    if isinstance(data, (str, bytes)):
        raise ConfigurationError(
            f"the rows of {key!r} are one {type(data).__name__}; give an iterable of records"
            " (a file opened in binary mode, a list of lines, Rows blocks)"
        )
    parts = cut(
        data,
        key=key,
        directory=folder,
        limit=limits.max_data_size,
        max_deflated=limits.max_deflated(),
        seq=seq,
        compressor=compressor,
        stem=stem,
    )
    return tuple(p for p in parts if p.rows)


def split(
    collected: Collected,
    *,
    directory: Path,
    max_data_size: int,
    max_deflated: int | None = None,
    compressor: Compressor | None = None,
) -> Collection:
    """Cut what was collected into parts and report the collection.

    Records are pulled through here, so a generator's failure surfaces here
    and is recorded for its task; parts of a failed collection are removed.
    """
    task = collected.task
    key = task.key
    # Fresh names per attempt: an executor may run a task again (a dask
    # worker died mid-task), and part files are created exclusively.
    attempt = f"{key}-{task.seq}-{secrets.token_hex(4)}"
    parts: list[Part] = []
    error = collected.error
    failure = collected.exception
    try:
        if error is None and collected.document is not None:
            parts.append(
                document_part(
                    collected.document,
                    key=key,
                    filename=task.collector.filename,
                    directory=directory,
                    seq=task.seq,
                    compressor=compressor,
                    stem=attempt,
                )
            )
            size = parts[-1].deflated_size
            if max_deflated is not None and size > max_deflated:
                raise CollectorError(
                    f"collector {key!r}: its JSON document compresses to {size} bytes, more"
                    f" than one upload may carry beside the archive's own members"
                    f" ({max_deflated}); return less, or raise max_upload_size"
                )
        elif error is None:
            sources: list[Iterable[Any]] = (
                [collected.records]
                if collected.records is not None
                else [file_records(p, key) for p in collected.files]
            )
            for n, records in enumerate(sources):
                parts.extend(
                    cut(
                        records,
                        key=key,
                        directory=directory,
                        limit=max_data_size,
                        max_deflated=max_deflated,
                        seq=task.seq,
                        compressor=compressor,
                        stem=f"{attempt}-{n}",
                    )
                )
    except Exception as e:
        error = describe(key, e)
        failure = e
    finally:
        shutil.rmtree(collected.full_path, ignore_errors=True)
    elapsed = time.perf_counter() - collected.started
    if error is not None:
        for p in parts:
            p.path.unlink(missing_ok=True)
        log.error(
            "collection.failed",
            key=key,
            window=str(task.window),
            error=error,
            exc_info=failure if not isinstance(failure, CollectorError) else None,
        )
        return Collection(
            task=task,
            status="failed",
            started_at=collected.started_at,
            elapsed=elapsed,
            error=error,
        )
    parts = [p for p in parts if p.rows or task.collector.format == "json"]
    rows = sum(p.rows for p in parts)
    size = sum(p.raw_size for p in parts)
    status: Status = "ok" if parts else "empty"
    (log.info if parts else log.debug)(  # an empty window is news only when asked for
        "collection.done",
        key=key,
        window=str(task.window),
        status=status,
        rows=rows,
        bytes=size,
        parts=len(parts),
        seconds=round(elapsed, 3),
    )
    return Collection(
        task=task,
        status=status,
        started_at=collected.started_at,
        elapsed=elapsed,
        rows=rows,
        bytes=size,
        parts=tuple(parts),
    )
