"""POST archives to an ingress as ``multipart/form-data``, streamed from disk.

``HttpTransport`` decides (what to send, whether to retry, refresh a token or
give up); its ``Sender`` only puts one request on the wire.  The default
sender uses ``requests``; a test passes ``testing.MockSender`` instead.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
import types
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import attrs
import requests
from attrs import field, frozen

from ..errors import ConfigurationError, ShipError, message_of
from ..log import logger
from ..records import Archive, Receipt
from .messages import (
    Auth,
    Credentials,
    NoAnswer,
    Request,
    Response,
    Sender,
    SendError,
    TlsFailure,
    is_header_value,
)
from .multipart import MultipartBody
from .redact import (
    check_url,
    excerpt,
    printable,
    redact,
    show_headers,
    show_proxy,
    show_url,
    strip_userinfo,
    url_secrets,
)
from .retry import RetryPolicy, parse_retry_after
from .sender import RequestsSender

__all__ = ["HttpTransport"]

_log = logger("ship")

_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")

_STATUS_MEANING = {
    400: "bad request",
    401: "not authorized: check the credentials",
    403: "forbidden: the credentials lack the right",
    404: "no such ingress endpoint: check the URL",
    413: "too large for the ingress",
    415: "unsupported content type: check the service's registered type",
}


def _frozen_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


def _validate_headers(_: object, __: object, value: Mapping[str, str]) -> None:
    for name, item in value.items():
        if not name or not is_header_value(name) or not is_header_value(item):
            raise ConfigurationError(f"header {name!r} has a line break or is empty")


def _default_sender(transport: HttpTransport) -> RequestsSender:
    return RequestsSender(session=transport.session)


def _answer_fields(response: Response) -> tuple[str | None, str | None]:
    """The ingress's ``request_id`` and ``upload`` value, when its answer has them."""
    try:
        answer: Any = response.json()
    except ValueError:
        return None, None
    if not isinstance(answer, dict):
        return None, None
    request_id = None if answer.get("request_id") is None else str(answer["request_id"])
    upload = answer.get("upload")
    if upload is None or isinstance(upload, str):
        return request_id, upload
    return request_id, json.dumps(upload, sort_keys=True, separators=(",", ":"))


@frozen(kw_only=True)
class HttpTransport:
    """POST archives to an ingress as ``multipart/form-data``, streamed from disk.

    One part named ``file``, filename = the archive's name, content type =
    the service's registered type.  Connection errors, timeouts, 408, 429
    and 5xx are retried by ``retry`` (the body is re-read from the start each
    time); other refusals raise ``ShipError`` at once.  Redirects are not
    followed: credentials must reach only the host they were meant for.
    ``timeout`` bounds each connect and each wait for bytes; an attempt as a
    whole (token request, connect, body and the whole answer) ends after
    ``attempt_timeout`` seconds, and no attempt runs past the retry policy's
    ``max_elapsed``.  ``sender`` puts requests on the wire (uploads and token requests alike);
    by default a ``requests`` session, ``session`` when one is given.
    """

    url: str = field(repr=lambda url: repr(show_url(url)))  # its query may hold a token
    content_type: str
    auth: Auth | None = None
    headers: Mapping[str, str] = field(
        factory=dict,
        converter=_frozen_headers,
        validator=_validate_headers,
        repr=show_headers,
    )
    proxy: str | None = field(default=None, repr=show_proxy)
    verify: bool | str = True
    timeout: tuple[float, float] = (31.0, 31.0)
    attempt_timeout: float | None = 300.0
    retry: RetryPolicy = field(factory=RetryPolicy)
    allow_insecure: bool = False
    field_name: str = "file"
    chunk_size: int = 256 * 1024
    session: requests.Session | None = field(default=None, eq=False, repr=False)
    sender: Sender | None = field(default=None, eq=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, eq=False, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, eq=False, repr=False)
    _own: RequestsSender = field(
        default=attrs.Factory(_default_sender, takes_self=True),
        init=False,
        eq=False,
        repr=False,
    )

    def __attrs_post_init__(self) -> None:
        needs_tls = self.auth is not None and self.auth.needs_tls
        check_url(self.url, what="url", needs_tls=needs_tls, allow=self.allow_insecure)
        if not _CONTENT_TYPE.match(self.content_type or ""):
            raise ConfigurationError(
                "content_type must be the service's registered type, "
                "e.g. application/vnd.redhat.<service>.<name>+tgz"
            )
        if self.proxy is not None:
            check_url(strip_userinfo(self.proxy), what="proxy", needs_tls=False, allow=True)
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            raise ConfigurationError(f"CA bundle not found: {self.verify}")
        if self.attempt_timeout is not None and not self.attempt_timeout > 0:
            raise ConfigurationError(
                f"attempt_timeout must be a positive number of seconds, got {self.attempt_timeout}"
            )
        if self.chunk_size <= 0:
            raise ConfigurationError(f"chunk_size must be positive, got {self.chunk_size}")
        if self.sender is not None and self.session is not None:
            raise ConfigurationError("give HttpTransport a session or a sender, not both")

    def close(self) -> None:
        """Close the session this transport created (a given one is left open)."""
        self._own.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, request: Request, *, ends: float | None = None) -> Response:
        """Send with this transport's sender, TLS, proxy and timeouts, done by ``ends``."""
        sender: Sender = self.sender if self.sender is not None else self._own
        deadline = None if ends is None else max(0.0, ends - self.monotonic())
        prepared = attrs.evolve(
            request,
            verify=self.verify,
            proxy=self.proxy,
            timeout=self.timeout,
            deadline=deadline,
        )
        return sender.send(prepared)

    def _attempt_ends(self, started: float, retry: RetryPolicy) -> float | None:
        """When the attempt starting now must be over: its own limit, or ``max_elapsed``."""
        now = self.monotonic()
        ends = [] if self.attempt_timeout is None else [now + self.attempt_timeout]
        if retry.max_elapsed is not None:
            ends.append(started + retry.max_elapsed)
        return min(ends, default=None)

    def send(self, archive: Archive) -> Receipt:
        """Upload one archive, retrying what is worth retrying; see the class docstring."""
        started = self.monotonic()
        name = archive.name
        body = MultipartBody(
            path=archive.path,
            size=archive.size,
            sha256=archive.sha256,
            field_name=self.field_name,
            filename=name,
            content_type=self.content_type,
            chunk_size=self.chunk_size,
        )
        where = show_url(self.url)
        retry = self.retry
        attempts = 0
        refreshed = False
        maybe_delivered = False
        log = _log.bind(archive=name, destination="http", url=where)
        while True:
            attempts += 1
            log.debug("ship.attempt", attempt=attempts, bytes=archive.size)
            # The proxy's user info and the URLs' tokens may come back in an echo too.
            secrets: tuple[str, ...] = (
                *self.headers.values(),
                *url_secrets(self.proxy),
                *url_secrets(self.url),
            )
            retry_after: float | None = None
            send = functools.partial(self._send, ends=self._attempt_ends(started, retry))
            try:
                creds = self.auth.prepare(send) if self.auth is not None else Credentials()
                secrets += creds.secrets
                headers = {
                    **self.headers,
                    **creds.headers,
                    "Content-Type": body.header,
                    "Accept": "application/json",
                }
                request = Request(
                    method="POST", url=self.url, headers=headers, body=body, cert=creds.cert
                )
                response = send(request)
            except ShipError as exc:
                # A token endpoint's answer came through the proxy too: cut its secrets.
                exc.args = (redact(message_of(exc), secrets),)
                if not exc.retryable:
                    exc.attempts = attempts
                    exc.maybe_delivered = exc.maybe_delivered or maybe_delivered
                    raise
                reason = str(exc)
                status: int | None = exc.status
            except TlsFailure as exc:
                raise ShipError(
                    f"TLS failure talking to {where}: {exc}",
                    attempts=attempts,
                    maybe_delivered=maybe_delivered,
                ) from None
            except NoAnswer as exc:
                maybe_delivered = maybe_delivered or exc.body_sent
                reason = (
                    f"no answer after the body was sent ({exc})"
                    if exc.body_sent
                    else f"{exc} before the body was sent"
                )
                status = None
            except SendError as exc:
                raise ShipError(
                    f"could not send {name} to {where}: {exc}",
                    attempts=attempts,
                    maybe_delivered=maybe_delivered,
                ) from None
            else:
                status = response.status
                if 200 <= status < 300:
                    return self._receipt(archive, response, attempts, started, maybe_delivered)
                if status == 401 and self.auth is not None and not refreshed:
                    refreshed = True
                    if self.auth.on_unauthorized():
                        log.warning("ship.retry", attempt=attempts, status=status, delay=0.0)
                        continue
                if not retry.is_retryable(status):
                    raise self._refused(response, name, attempts, maybe_delivered, secrets)
                reason = f"{status} {excerpt(response.body, secrets)}"
                retry_after = parse_retry_after(response.header("Retry-After"))
            retry = retry.increment(reason)
            delay = retry.delay(retry_after)
            elapsed = self.monotonic() - started
            out_of_time = retry.max_elapsed is not None and elapsed + delay > retry.max_elapsed
            if retry.exhausted or out_of_time:
                why = "out of retries" if retry.exhausted else "out of time"
                message = (
                    f"{where} did not accept {name} after {attempts} attempts ({why}): {reason}"
                )
                if maybe_delivered:
                    message += "; it may have arrived anyway"
                raise ShipError(
                    message,
                    status=status,
                    attempts=attempts,
                    retryable=True,
                    maybe_delivered=maybe_delivered,
                )
            log.warning("ship.retry", attempt=attempts, status=status, error=reason, delay=delay)
            self.sleep(delay)

    def _receipt(
        self,
        archive: Archive,
        response: Response,
        attempts: int,
        started: float,
        lost_answer: bool,
    ) -> Receipt:
        request_id, location = _answer_fields(response)
        elapsed = self.monotonic() - started
        return Receipt(
            archive=archive.name,
            sha256=archive.sha256,
            destination="http",
            status=response.status,
            attempts=attempts,
            elapsed=elapsed,
            request_id=request_id,
            location=location,
            maybe_duplicated=lost_answer,
        )

    def _refused(
        self,
        response: Response,
        name: str,
        attempts: int,
        maybe_delivered: bool,
        secrets: tuple[str, ...],
    ) -> ShipError:
        status = response.status
        text = excerpt(response.body, secrets)
        if 300 <= status < 400:
            target = response.header("Location")
            shown = show_url(urljoin(self.url, target)) if target else "nowhere"
            what = f"a redirect to {redact(printable(shown), secrets)}, which is not followed"
        else:
            reason = redact(printable(response.reason), secrets)
            what = _STATUS_MEANING.get(status, reason or "refused")
        return ShipError(
            f"{show_url(self.url)} refused {name}: {status} ({what}): {text}",
            status=status,
            attempts=attempts,
            retryable=False,
            maybe_delivered=maybe_delivered,
        )
