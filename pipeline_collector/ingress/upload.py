"""The upload route: play the script, check the request, stream the file to disk.

Checks run in the cloud ingress's order: a scripted answer first, then
credentials (401), Content-Length (411, 413 before reading) and the media
type (415); only then is the body read.  A form field ``test`` of value
``test`` is a preflight: it is answered 200 with a request id and nothing is
staged, whatever file part came with it and whatever its type, as the cloud
ingress does.  Otherwise a file part that turns out too large or of an
unknown service is refused once read.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import os
import re
import socket
import uuid
from collections.abc import Mapping
from email.message import Message
from types import MappingProxyType
from typing import Any, Protocol

from ..log import logger
from .auth import basic_credentials, identity_org, peer_name
from .books import Books
from .multipart import (
    BoundedReader,
    Discard,
    Malformed,
    PartWriter,
    Readable,
    Sink,
    read_multipart,
)
from .script import Drop, Fail, Planned, Redirect, Stall, Upload
from .settings import Settings

__all__ = ["CONTENT_TYPE", "NAME_MAX", "Exchange", "disk_name", "handle", "safe_filename"]

CONTENT_TYPE = re.compile(
    r"^application/vnd\.redhat\.(?P<service>[a-z0-9][a-z0-9-]*)\.(?P<name>[a-z0-9_-]+)\+tgz$",
    re.IGNORECASE,
)
_FORM_OVERHEAD = 64 * 1024  # room for boundaries and part headers around the file
NAME_MAX = 255  # bytes of one file name on Linux and macOS file systems
# Storage that is full or over a limit: the client may try again later.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

log = logger("ingress")


class Exchange(Protocol):
    """Protocol: the request being answered, as the handler offers it to this route."""

    close_connection: bool

    @property
    def headers(self) -> Message: ...

    @property
    def rfile(self) -> Readable: ...

    @property
    def connection(self) -> socket.socket: ...

    def content_length(self) -> int | None: ...

    def safe_headers(self) -> tuple[dict[str, str], frozenset[str]]: ...

    def record(self, status: int | None) -> None: ...

    def answer(
        self,
        status: int,
        payload: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> None: ...

    def refuse_early(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None: ...


def handle(settings: Settings, books: Books, handler: Exchange) -> None:
    """Answer one POST to the upload path."""
    planned = books.next_planned()
    length = handler.content_length()
    if _play(handler, planned, length):
        return
    allowed, auth, principal = _authenticate(settings, books, handler)
    boundary = handler.headers.get_param("boundary")
    refusal: tuple[int, str, dict[str, str]] | None = None
    if not allowed:
        refusal = (401, "not authorized", {"WWW-Authenticate": 'Basic realm="ingress"'})
    elif length is None:
        refusal = (411, "Content-Length is required", {})
    elif length > settings.max_body + _FORM_OVERHEAD:
        refusal = (413, f"payload too large: limit is {settings.max_body} bytes", {})
    elif (
        handler.headers.get_content_type() != "multipart/form-data"
        or not isinstance(boundary, str)
        or not boundary
    ):
        refusal = (415, "expected multipart/form-data", {})
    if refusal is not None or length is None or not isinstance(boundary, str):
        status, message, headers = refusal or (400, "bad request", {})
        handler.refuse_early(status, message, headers)
        return
    _receive(settings, books, handler, planned, length, boundary, auth, principal)


def _authenticate(
    settings: Settings, books: Books, handler: Exchange
) -> tuple[bool, str | None, str | None]:
    """Whether the request may upload, how it proved it, and who it is."""
    header = handler.headers.get("Authorization") or ""
    if settings.basic is not None:
        given = basic_credentials(header)
        if given is not None and all(
            hmac.compare_digest(a.encode(), b.encode())
            for a, b in zip(given, settings.basic, strict=True)
        ):
            return True, "basic", given[0]
    if settings.clients and header.lower().startswith("bearer "):
        client = books.token_owner(header[7:].strip())
        if client is not None:
            return True, "bearer", client
    if settings.require_identity:
        org = identity_org(handler.headers.get("x-rh-identity"))
        if org is not None:
            return True, "identity", org
    if settings.basic is None and not settings.clients and not settings.require_identity:
        return True, None, None
    return False, None, None


def _play(handler: Exchange, planned: Planned | None, length: int | None) -> bool:
    """Carry out a scripted failure; False when the upload proceeds normally."""
    if isinstance(planned, Drop):
        handler.close_connection = True
        if length is not None:
            want = length if planned.after is None else min(planned.after, length)
            with contextlib.suppress(OSError, Malformed):
                BoundedReader(handler.rfile, want).drain()
        handler.record(None)
        log.debug("ingress.dropped", after=planned.after)
        return True
    if isinstance(planned, Fail):
        headers = {}
        if planned.retry_after is not None:
            value = planned.retry_after
            headers["Retry-After"] = str(int(value)) if isinstance(value, int | float) else value
        message = planned.body if planned.body is not None else "scripted failure"
        handler.refuse_early(planned.status, message, headers)
        return True
    if isinstance(planned, Redirect):
        handler.refuse_early(planned.status, "moved", {"Location": planned.location})
        return True
    return False


def _receive(
    settings: Settings,
    books: Books,
    handler: Exchange,
    planned: Planned | None,
    length: int,
    boundary: str,
    auth: str | None,
    principal: str | None,
) -> None:
    """Stream the multipart body to disk and answer like the cloud ingress."""
    request_id = uuid.uuid4().hex
    chosen: list[Sink] = []
    rejected: list[str] = []
    tests: list[Sink] = []

    def open_part(headers: Message) -> PartWriter:
        name = headers.get_param("name", header="content-disposition")
        if name == "test" and not tests:
            tests.append(Sink(headers, None))  # a small field, held in memory up to a bound
            return tests[0]
        if chosen or name not in ("file", "upload"):
            return Discard()
        part_type = headers.get_content_type() if headers.get("content-type") else ""
        match = CONTENT_TYPE.match(part_type)
        if match is None or match["service"].lower() not in settings.services:
            rejected.append(part_type)
            return Discard()
        filename = safe_filename(headers.get_filename())
        sink = Sink(headers, settings.directory / disk_name(request_id, filename))
        chosen.append(sink)
        return sink

    reader = BoundedReader(handler.rfile, length)
    try:
        read_multipart(reader, boundary.encode("latin-1"), open_part)
    except (Malformed, OSError) as exc:
        for sink in chosen:
            sink.close()
            if sink.path is not None:
                with contextlib.suppress(OSError):
                    sink.path.unlink(missing_ok=True)
        handler.close_connection = True
        if isinstance(exc, Malformed):
            with contextlib.suppress(OSError):
                handler.answer(400, {"error": f"malformed multipart body: {exc}"})
        elif isinstance(exc, TimeoutError):  # the client stalled: it may still hear us
            with contextlib.suppress(OSError):
                handler.answer(408, {"error": "the body did not arrive in time"})
        else:  # the connection is gone: nobody to answer
            handler.record(None)
        return
    if tests and bytes(tests[0].buffer) == b"test":
        _preflight(handler, chosen, request_id, auth, principal)
        return
    if not chosen:
        if rejected:
            handler.answer(415, {"error": f"unsupported content type {rejected[0]!r}"})
        else:
            handler.answer(400, {"error": "no part named 'file' or 'upload'"})
        return
    sink = chosen[0]
    assert sink.path is not None
    if sink.failed is not None:
        with contextlib.suppress(OSError):  # the folder may be gone, or not a folder
            sink.path.unlink(missing_ok=True)
        status, message = _storage_refusal(sink.failed)
        log.error("ingress.store_failed", request_id=request_id, error=message)
        handler.answer(status, {"error": message})
        return
    if sink.size > settings.max_body:
        sink.path.unlink(missing_ok=True)
        handler.answer(413, {"error": f"payload too large: limit is {settings.max_body} bytes"})
        return
    match = CONTENT_TYPE.match(sink.content_type or "")
    assert match is not None
    shown, _ = handler.safe_headers()
    cert = peer_name(handler.connection)
    upload = Upload(
        request_id=request_id,
        field=str(sink.name),
        filename=safe_filename(sink.filename),
        content_type=str(sink.content_type),
        service=match["service"].lower(),
        size=sink.size,
        sha256=sink.digest.hexdigest(),
        path=sink.path,
        headers=MappingProxyType(shown),
        auth=auth or ("cert" if cert else None),
        principal=principal,
        client_cert=cert,
    )
    books.accept(upload)
    log.info("ingress.received", request_id=request_id, bytes=upload.size, auth=upload.auth)
    if isinstance(planned, Stall):
        books.pause(planned.seconds)
    with contextlib.suppress(OSError):
        handler.answer(
            202,
            {
                "request_id": request_id,
                "upload": _identity(auth, principal),
            },
        )


def _preflight(
    handler: Exchange,
    chosen: list[Sink],
    request_id: str,
    auth: str | None,
    principal: str | None,
) -> None:
    """Answer a ``test=test`` form 200 with a request id; stage nothing it carried."""
    for sink in chosen:
        sink.close()
        if sink.path is not None:
            with contextlib.suppress(OSError):
                sink.path.unlink(missing_ok=True)
    log.info("ingress.preflight", request_id=request_id, auth=auth)
    with contextlib.suppress(OSError):
        handler.answer(200, {"request_id": request_id, "upload": _identity(auth, principal)})


def _identity(auth: str | None, principal: str | None) -> dict[str, str]:
    return {
        "account_number": "0000001",
        "org_id": principal if auth == "identity" and principal else "000001",
    }


def _storage_refusal(exc: OSError) -> tuple[int, str]:
    """The answer to an upload that could not be stored: 507 for full storage, else 500."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return 507, f"insufficient storage: the upload could not be stored ({reason}); try later"
    return 500, f"the upload could not be stored ({reason})"


def disk_name(request_id: str, filename: str) -> str:
    """``<request_id>-<filename>``, shortened to one file name's ``NAME_MAX`` bytes.

    The request id keeps it unique; a long name loses its middle, keeping
    its end (``.tar.gz``).  ``filename`` is ``safe_filename``'s (ASCII).

    >>> name = disk_name("0" * 32, "a" * 240 + ".tar.gz")
    >>> len(name), name[:34], name[-9:]
    (255, '00000000000000000000000000000000-a', 'aa.tar.gz')
    >>> disk_name("r1", "analytics.tar.gz")
    'r1-analytics.tar.gz'
    """
    name = f"{request_id}-{filename}"
    if len(name.encode()) <= NAME_MAX:
        return name
    tail = 16  # the name's end, its extension
    head = NAME_MAX - len(request_id) - 1 - tail
    return f"{request_id}-{filename[:head]}{filename[-tail:]}"


def safe_filename(name: str | None) -> str:
    """A client's filename reduced to one harmless path component.

    >>> safe_filename("../../etc/pass wd"), safe_filename(None)
    ('pass_wd', 'upload.tar.gz')
    """
    base = os.path.basename((name or "").replace("\\", "/"))
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "_", base).lstrip(".")
    return cleaned or "upload.tar.gz"
