"""Prove a destination will take an upload, before anything is collected.

``preflight(transport)`` asks the destination what an upload would meet and
stores nothing there.  An ingress gets a ``multipart/form-data`` POST whose
only field is ``test=test``, which the cloud ingress (and the local one)
answers 200 with a request id without staging anything: the answer proves
the host is reached, through the proxy, over verified TLS, with credentials
it accepts (an OAuth2 token is fetched for it).  The content type is checked
here against the ingress's form, ``application/vnd.redhat.<service>.<category>+tgz``,
which it answers 415 otherwise.  A folder is probed with a file made and
removed at once; a bucket with ``head_bucket``.  The ``Verdict`` says in one
line what was proven or what is wrong, and whether a later try may pass.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from ..errors import ConfigurationError, ShipError, message_of
from ..log import logger
from ..units import human_bytes
from .directory import DirectoryTransport
from .http import _STATUS_MEANING, HttpTransport, _answer_fields
from .messages import (
    Bytes,
    Credentials,
    NoAnswer,
    Request,
    Response,
    Send,
    SendError,
    TlsFailure,
)
from .redact import excerpt, printable, redact, show_url, url_secrets
from .retry import RetryPolicy
from .s3 import S3Transport, _error_code, _retryable

__all__ = ["INGRESS_TYPE", "Verdict", "content_type_problem", "preflight"]

_log = logger("ship")

INGRESS_TYPE = re.compile(
    r"^application/vnd\.redhat\.(?P<service>[a-z0-9][a-z0-9-]*)\.(?P<category>[a-z0-9_-]+)\+tgz$",
    re.IGNORECASE,
)
# Retries a preflight allows itself at most: it answers a person, soon.
_RETRIES = 2


@frozen(kw_only=True)
class Verdict:
    """What a preflight found: whether the destination takes an upload, and one line why.

    ``retryable`` says that a later try may pass (no answer, a 5xx or 429):
    the settings may be right and the destination away for now.
    """

    ok: bool
    destination: str
    message: str
    retryable: bool = False
    request_id: str | None = None

    def __str__(self) -> str:
        return f"{self.destination}: {self.message}"


def content_type_problem(content_type: str) -> str | None:
    """Why the ingress would answer 415 to this content type, or ``None``.

    >>> content_type_problem("application/vnd.redhat.tower.analytics+tgz") is None
    True
    >>> content_type_problem("application/gzip")
    "content type 'application/gzip' is not of the ingress's form \
application/vnd.redhat.<service>.<category>+tgz: it would answer 415"
    """
    if INGRESS_TYPE.match(content_type or ""):
        return None
    return (
        f"content type {content_type!r} is not of the ingress's form"
        " application/vnd.redhat.<service>.<category>+tgz: it would answer 415"
    )


def preflight(transport: Any) -> Verdict:
    """Ask the destination whether it takes an upload, storing nothing; see the module."""
    if isinstance(transport, HttpTransport):
        return _http(transport)
    if isinstance(transport, DirectoryTransport):
        return _directory(transport)
    if isinstance(transport, S3Transport):
        return _s3(transport)
    own = getattr(transport, "preflight", None)
    if callable(own):
        verdict = own()
        if isinstance(verdict, Verdict):
            return verdict
    raise ConfigurationError(
        f"{type(transport).__name__} cannot be preflighted: give it a preflight() method"
        " that returns a pipeline_collector.transports.Verdict"
    )


def _done(verdict: Verdict) -> Verdict:
    _log.info(
        "preflight.done",
        destination=verdict.destination,
        ok=verdict.ok,
        message=verdict.message,
        request_id=verdict.request_id,
    )
    return verdict


# -- an ingress ---------------------------------------------------------------------


def _form() -> tuple[str, Bytes]:
    """The request's content type and a body whose only field is ``test=test``."""
    boundary = "pipeline-collector-" + secrets.token_hex(16)
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="test"\r\n\r\n'
        f"test\r\n--{boundary}--\r\n"
    ).encode()
    return f"multipart/form-data; boundary={boundary}", Bytes(body)


def _proven(t: HttpTransport, status: int) -> str:
    """What an accepted preflight proved, in order."""
    bits = ["reached"]
    if t.proxy:
        bits.append(f"through the proxy {show_url(t.proxy)}")
    if t.url.lower().startswith("https://"):
        bits.append("over TLS, its certificate verified" if t.verify else "over unverified TLS")
    if t.auth is not None:
        fetched = getattr(t.auth, "token_url", None)
        token = f"a token fetched from {show_url(fetched)}, " if fetched else ""
        bits.append(f"{token}{type(t.auth).__name__} credentials accepted")
    return (
        f"takes uploads: {', '.join(bits)}; a test upload was answered {status} and stored"
        f" nothing; content type {t.content_type} is of the ingress's form"
    )


def _no_answer(t: HttpTransport, exc: NoAnswer) -> str:
    if "Proxy" in str(exc) and t.proxy:
        return f"the proxy {show_url(t.proxy)} did not pass the request on ({exc})"
    if "Timeout" in str(exc):
        return f"no answer within {t.timeout[0]:g} s ({exc})"
    return f"cannot be reached: no answer ({exc})"


def _http(t: HttpTransport) -> Verdict:
    where = show_url(t.url)
    problem = content_type_problem(t.content_type)
    if problem is not None:
        return _done(Verdict(ok=False, destination=where, message=problem))
    content_type, body = _form()
    started = t.monotonic()
    retry = attrs.evolve(t.retry, total=min(t.retry.total, _RETRIES))
    secret_values = [*t.headers.values(), *url_secrets(t.proxy), *url_secrets(t.url)]
    attempts, refreshed = 0, False
    while True:
        attempts += 1
        send = functools.partial(t._send, ends=t._attempt_ends(started, retry))
        outcome = _exchange(t, send, content_type, body, secret_values)
        if isinstance(outcome, Response):
            if outcome.status == 401 and t.auth is not None and not refreshed:
                refreshed = True
                if t.auth.on_unauthorized():  # a cached token the ingress no longer takes
                    continue
            outcome = _answered(t, outcome, retry, secret_values)
        if isinstance(outcome, Verdict):
            return _done(outcome)
        retry = retry.increment(outcome)
        delay = retry.delay(None)
        elapsed = t.monotonic() - started + delay
        if retry.exhausted or (retry.max_elapsed is not None and elapsed > retry.max_elapsed):
            tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
            message = redact(f"{outcome} (after {tries})", secret_values)
            return _done(Verdict(ok=False, destination=where, message=message, retryable=True))
        _log.warning("preflight.retry", destination=where, attempt=attempts, error=outcome,
                     delay=delay)  # fmt: skip
        t.sleep(delay)


def _exchange(
    t: HttpTransport, send: Send, content_type: str, body: Bytes, secret_values: list[str]
) -> Response | Verdict | str:
    """One test upload: the answer, a verdict (retrying will not help), or why to retry."""
    where = show_url(t.url)

    def fail(message: str) -> Verdict:
        shown = redact(printable(message), secret_values)
        return Verdict(ok=False, destination=where, message=shown)

    try:
        creds = t.auth.prepare(send) if t.auth is not None else Credentials()
        secret_values += creds.secrets
        headers = {
            **t.headers,
            **creds.headers,
            "Content-Type": content_type,
            "Accept": "application/json",
        }
        return send(Request(method="POST", url=t.url, headers=headers, body=body, cert=creds.cert))
    except ShipError as exc:  # the token endpoint, or a client certificate file
        if not exc.retryable:
            return fail(f"credentials: {message_of(exc)}")
        return redact(message_of(exc), secret_values)
    except TlsFailure as exc:
        return fail(f"TLS failure: {exc}")
    except NoAnswer as exc:
        return _no_answer(t, exc)
    except SendError as exc:
        return fail(f"the request could not be sent: {exc}")


def _answered(
    t: HttpTransport, response: Response, retry: RetryPolicy, secret_values: list[str]
) -> Verdict | str:
    """The verdict on an ingress's answer, or why to ask again (a 5xx, 408 or 429)."""
    where = show_url(t.url)
    status = response.status
    if 200 <= status < 300:
        request_id, _ = _answer_fields(response)
        return Verdict(
            ok=True, destination=where, message=_proven(t, status), request_id=request_id
        )
    text = excerpt(response.body, secret_values)
    if retry.is_retryable(status):
        return f"answered {status}: {text}"
    if 300 <= status < 400:
        message = f"answered {status}, a redirect, which is not followed: check the URL"
    else:
        meaning = _STATUS_MEANING.get(status, printable(response.reason) or "refused")
        message = f"answered {status} ({meaning}): {text}"
    return Verdict(ok=False, destination=where, message=redact(printable(message), secret_values))


# -- a folder -----------------------------------------------------------------------


def _directory(t: DirectoryTransport) -> Verdict:
    root = Path(t.root)
    where = str(root)

    def fail(message: str) -> Verdict:
        return _done(Verdict(ok=False, destination=where, message=message))

    today = t.folder_for(datetime.now(timezone.utc))
    try:
        if os.path.lexists(root):
            if not root.is_dir():
                return fail("is not a folder")
            fd, probe = tempfile.mkstemp(dir=root, prefix=".preflight-")
            os.close(fd)
            os.unlink(probe)
            free = human_bytes(shutil.disk_usage(root).free)
            return _done(
                Verdict(
                    ok=True,
                    destination=where,
                    message=f"takes uploads: writable, {free} free; archives go to {today}/",
                )
            )
        parent = root.parent
        while not os.path.lexists(parent) and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            return fail(f"cannot be made: {parent} is not a folder")
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".preflight-"))
    except OSError as exc:
        return fail(f"is not writable: {exc.strerror or exc}")
    return _done(
        Verdict(
            ok=True,
            destination=where,
            message=f"takes uploads: it does not exist yet, and {parent} is writable, so the"
            f" first upload makes it; archives go to {today}/",
        )
    )


# -- a bucket -----------------------------------------------------------------------


def _s3(t: S3Transport) -> Verdict:
    where = f"s3://{t.bucket}/{t.prefix}"
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    def fail(message: str, *, retryable: bool = False) -> Verdict:
        return _done(Verdict(ok=False, destination=where, message=message, retryable=retryable))

    try:
        t._client().head_bucket(Bucket=t.bucket, **t._owner())
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        meaning = {
            301: "the bucket is in another region: give its region",
            400: "bad request: check the region and the endpoint",
            403: "access denied: check the credentials, the bucket's policy and its owner",
            404: "no such bucket",
        }.get(status, "refused")
        return fail(
            f"answered {status} {_error_code(exc)} ({meaning})", retryable=_retryable(status)
        )
    except NoCredentialsError:
        return fail(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a"
            " profile or role"
        )
    except EndpointConnectionError:
        endpoint = show_url(t.endpoint_url) if t.endpoint_url else "the S3 endpoint"
        return fail(f"cannot reach {endpoint}: no answer", retryable=True)
    except BotoCoreError as exc:
        return fail(f"could not be asked: {type(exc).__name__}", retryable=True)
    return _done(
        Verdict(
            ok=True,
            destination=where,
            message="takes uploads: the bucket answers, and these credentials may reach it"
            " (head_bucket); nothing was written",
        )
    )
