"""The upload body: one ``multipart/form-data`` part, streamed from disk.

The body is a value that can be opened again for every attempt, so a retry
re-sends the archive from its first byte.  Each pass hashes the file on the
way and withholds the closing boundary when it no longer matches the archive
record, so the ingress never receives a complete body that differs from it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from attrs import field, frozen

from ..errors import ShipError

__all__ = ["MultipartBody"]


def _form_quote(value: str) -> str:
    """Escape a form name as browsers do, so no name can break the part headers.

    >>> _form_quote('a "b"\\r\\nc')
    'a %22b%22%0D%0Ac'
    """
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


@frozen(kw_only=True)
class MultipartBody:
    """A ``multipart/form-data`` body with one part, read from disk on demand."""

    path: Path
    size: int
    sha256: str
    field_name: str
    filename: str
    content_type: str
    boundary: str = field(factory=lambda: "pipeline-collector-" + secrets.token_hex(16))
    chunk_size: int = 256 * 1024

    @property
    def head(self) -> bytes:
        name, filename = _form_quote(self.field_name), _form_quote(self.filename)
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()

    @property
    def tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    @property
    def header(self) -> str:
        """The request's ``Content-Type``, which names the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    def open(self) -> _Stream:
        """Start one pass over the body; a file that cannot be read fails here."""
        try:
            return _Stream(self)
        except OSError as exc:
            raise ShipError(f"cannot read {self.filename}: {exc.strerror or exc}") from None


class _Stream:
    """One pass over a multipart body: preamble, the file in chunks, epilogue."""

    def __init__(self, body: MultipartBody) -> None:
        self._body = body
        self._file = body.path.open("rb")

    def __iter__(self) -> Iterator[bytes]:
        body = self._body
        digest = hashlib.sha256()
        size = 0
        yield body.head
        while chunk := self._file.read(body.chunk_size):
            digest.update(chunk)
            size += len(chunk)
            if size > body.size:
                break
            yield chunk
        if size != body.size or digest.hexdigest() != body.sha256:
            raise ShipError(
                f"{body.path.name} changed on disk: it no longer matches its archive record"
            )
        yield body.tail

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
