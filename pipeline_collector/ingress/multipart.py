"""A bounded, streaming ``multipart/form-data`` parser.

The body is read through ``BoundedReader`` (never past its Content-Length)
and each part goes to a sink as it streams in, so an upload of any size is
never held in memory.  A body that is not the form it claims to be raises
``Malformed``.

>>> import io
>>> body = (b'--b\\r\\nContent-Disposition: form-data; name="file"\\r\\n\\r\\n'
...         b'hello\\r\\n--b--\\r\\n')
>>> parts = []
>>> def open_part(headers):
...     parts.append(Sink(headers, None))
...     return parts[-1]
>>> read_multipart(BoundedReader(io.BytesIO(body), len(body)), b"b", open_part)
>>> [(p.name, bytes(p.buffer)) for p in parts]
[('file', b'hello')]
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import os
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import IO, Protocol

__all__ = [
    "CHUNK",
    "BoundedReader",
    "Discard",
    "Malformed",
    "PartWriter",
    "Readable",
    "Sink",
    "read_multipart",
]

CHUNK = 256 * 1024
MAX_PART_HEADERS = 16 * 1024
MAX_FIELD = 64 * 1024


class Malformed(Exception):
    """The request body is not the multipart form it claims to be."""


class Readable(Protocol):
    """Protocol: a binary stream to read a request body from."""

    def read(self, size: int = -1, /) -> bytes: ...


class PartWriter(Protocol):
    """Protocol: where the bytes of one part go as they stream in."""

    def write(self, data: bytes | bytearray) -> None: ...

    def close(self) -> None: ...


class BoundedReader:
    """Reads at most ``length`` bytes of a request body.

    >>> import io
    >>> reader = BoundedReader(io.BytesIO(b"abcdef"), 4)
    >>> reader.read(3), reader.read(3), reader.read(3)
    (b'abc', b'd', b'')
    """

    def __init__(self, rfile: Readable, length: int) -> None:
        self._rfile = rfile
        self.remaining = length

    def read(self, size: int = CHUNK) -> bytes:
        if self.remaining <= 0:
            return b""
        data = self._rfile.read(min(size, self.remaining))
        if not data:
            raise Malformed("the body ended before its Content-Length")
        self.remaining -= len(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass


class Sink:
    """Where one part's bytes go: a file on disk (hashed) or a small buffer.

    A file that cannot be created or written (a full disk, a folder gone
    or not writable, a name too long) is noted in ``failed`` and the rest
    of the part is read and dropped, so that the request can still be
    answered once its body is read.
    """

    def __init__(self, headers: Message, path: Path | None) -> None:
        self.headers = headers
        self.name = headers.get_param("name", header="content-disposition")
        self.filename = headers.get_filename()
        self.content_type = headers.get_content_type() if headers.get("content-type") else None
        self.path = path
        self.size = 0
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self.failed: OSError | None = None
        self._file: IO[bytes] | None = None
        if path is not None:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                self.failed = exc
            else:
                self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray) -> None:
        if not data:
            return
        self.size += len(data)
        if self._file is not None:
            self.digest.update(data)
            try:
                self._file.write(data)
            except OSError as exc:
                self._fail(exc)
        elif self.path is None and self.size <= MAX_FIELD:
            self.buffer += data

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:  # the last bytes are written out here
                self.failed = self.failed or exc
            self._file = None

    def _fail(self, exc: OSError) -> None:
        self.failed = exc
        self.close()


class Discard:
    """A part nobody wants: its bytes are read and dropped."""

    def write(self, data: bytes | bytearray) -> None:
        pass

    def close(self) -> None:
        pass


def read_multipart(
    body: BoundedReader,
    boundary: bytes,
    open_part: Callable[[Message], PartWriter],
) -> None:
    """Split a multipart body into parts as it streams in, never holding a part in memory.

    Only ``len(delimiter)`` bytes are held back between reads, so a delimiter
    split across two reads is still found.
    """
    delimiter = b"\r\n--" + boundary
    keep = len(delimiter) - 1
    buf = bytearray(b"\r\n")  # the first delimiter has no CRLF before it
    sink: PartWriter = Discard()  # the preamble

    def more() -> None:
        chunk = body.read()
        if not chunk:
            raise Malformed("the body ended before the closing boundary")
        buf.extend(chunk)

    while True:
        at = buf.find(delimiter)
        if at < 0:
            if len(buf) > keep:
                sink.write(buf[: len(buf) - keep])
                del buf[: len(buf) - keep]
            more()
            continue
        sink.write(buf[:at])
        sink.close()
        sink = Discard()
        del buf[: at + len(delimiter)]
        while len(buf) < 2:
            more()
        if buf[:2] == b"--":
            body.drain()  # the epilogue
            return
        while bytes(buf[:1]) in (b" ", b"\t"):
            del buf[:1]
            while len(buf) < 2:
                more()
        if buf[:2] != b"\r\n":
            raise Malformed("a boundary is not followed by a line break")
        del buf[:2]
        while (end := buf.find(b"\r\n\r\n")) < 0 and not buf.startswith(b"\r\n"):
            if len(buf) > MAX_PART_HEADERS:
                raise Malformed("part headers are too long")
            more()
        blob = b"" if buf.startswith(b"\r\n") else bytes(buf[: end + 2])
        del buf[: (2 if not blob else end + 4)]
        headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(blob)
        sink = open_part(headers)
