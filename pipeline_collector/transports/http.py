"""POST archives to an ingress as ``multipart/form-data``, streamed from disk."""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
import types
from collections.abc import Callable, Mapping
from urllib.parse import urljoin

import requests
import structlog
from attrs import field, frozen

from ..errors import ConfigurationError, ShipError
from ..records import Archive, Receipt
from .auth import Auth, Credentials, Post, _as_given
from .multipart import MultipartBody, _Stream
from .redact import check_url, excerpt, show_headers, show_proxy, show_url, strip_userinfo
from .retry import RetryPolicy, parse_retry_after

__all__ = ["HttpTransport"]

_http_log = structlog.get_logger("pipeline_collector.transports", component="http")

_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_HEADER_VALUE = re.compile(r"^[^\r\n\x00]*$")


def _excerpt(response: requests.Response, secrets: tuple[str, ...] = ()) -> str:
    try:
        return excerpt(response.content, secrets)
    except requests.RequestException:
        return "(no readable body)"


class _SessionBox:
    """Holds the lazily created session of a frozen transport."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: requests.Session | None = None

    def __repr__(self) -> str:
        return "<session>"


def _frozen_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


def _validate_headers(_: object, __: object, value: Mapping[str, str]) -> None:
    for name, item in value.items():
        if not _HEADER_VALUE.match(name) or not _HEADER_VALUE.match(item) or not name:
            raise ConfigurationError(f"header {name!r} has a line break or is empty")


@frozen(kw_only=True)
class HttpTransport:
    """POST archives to an ingress as ``multipart/form-data``, streamed from disk.

    One part named ``file``, filename = the archive's name, content type =
    the service's registered type.  Connection errors, timeouts, 408, 429
    and 5xx are retried by ``retry`` (the body is re-read from the start each
    time); other refusals raise ``ShipError`` at once.  Redirects are not
    followed: credentials must reach only the host they were meant for.
    """

    url: str
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
    retry: RetryPolicy = field(factory=RetryPolicy)
    allow_insecure: bool = False
    field_name: str = "file"
    chunk_size: int = 256 * 1024
    session: requests.Session | None = field(default=None, eq=False, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, eq=False, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, eq=False, repr=False)
    _box: _SessionBox = field(factory=_SessionBox, init=False, eq=False, repr=False)

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
        if self.chunk_size <= 0:
            raise ConfigurationError(f"chunk_size must be positive, got {self.chunk_size}")

    # -- session -----------------------------------------------------------

    def _session(self) -> requests.Session:
        if self.session is not None:
            return self.session
        with self._box.lock:
            if self._box.session is None:
                self._box.session = requests.Session()
            return self._box.session

    def close(self) -> None:
        """Close the session this transport created (a given one is left open)."""
        with self._box.lock:
            if self._box.session is not None:
                self._box.session.close()
                self._box.session = None

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self) -> Post:
        proxies = {"http": self.proxy, "https": self.proxy} if self.proxy else None
        return functools.partial(
            self._session().post,
            timeout=self.timeout,
            verify=self.verify,
            proxies=proxies,
            allow_redirects=False,
        )

    # -- sending -----------------------------------------------------------

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
        post = self._post()
        retry = self.retry
        attempts = 0
        refreshed = False
        maybe_delivered = False
        log = _http_log.bind(archive=name, url=where)
        while True:
            attempts += 1
            log.info("ship.attempt", attempt=attempts, bytes=archive.size)
            secrets_: tuple[str, ...] = tuple(self.headers.values())
            retry_after: float | None = None
            stream: _Stream | None = None
            try:
                creds = self.auth.prepare(post) if self.auth is not None else Credentials()
                secrets_ += creds.secrets
                headers = {
                    **self.headers,
                    **creds.headers,
                    "Content-Type": body.header,
                    "Accept": "application/json",
                }
                stream = body.open()
                with stream:
                    response = post(
                        self.url, data=stream, headers=headers, cert=creds.cert, auth=_as_given
                    )
            except ShipError as exc:
                if not exc.retryable:
                    exc.attempts = attempts
                    exc.maybe_delivered = exc.maybe_delivered or maybe_delivered
                    log.warning("ship.refused", attempts=attempts, error=str(exc))
                    raise
                reason = str(exc)
                status: int | None = exc.status
            except requests.exceptions.SSLError as exc:
                message = f"TLS failure talking to {where}: {_tls_reason(exc)}"
                log.warning("ship.refused", attempts=attempts, error=message)
                raise ShipError(
                    message, attempts=attempts, maybe_delivered=maybe_delivered
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                lost_answer = (stream is not None and stream.sent_all) and not isinstance(
                    exc, requests.exceptions.ConnectTimeout
                )
                maybe_delivered = maybe_delivered or lost_answer
                reason = (
                    f"no answer after the body was sent ({type(exc).__name__})"
                    if lost_answer
                    else f"{type(exc).__name__} before the body was sent"
                )
                status = None
            except requests.RequestException as exc:
                message = f"could not send {name} to {where}: {type(exc).__name__}"
                log.warning("ship.refused", attempts=attempts, error=message)
                raise ShipError(
                    message, attempts=attempts, maybe_delivered=maybe_delivered
                ) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._receipt(archive, response, attempts, started, log, maybe_delivered)
                if status == 401 and self.auth is not None and not refreshed:
                    refreshed = True
                    if self.auth.on_unauthorized():
                        log.info("ship.retry", attempt=attempts, status=status, delay=0.0)
                        continue
                if not retry.is_retryable(status):
                    raise self._refused(response, name, attempts, maybe_delivered, secrets_, log)
                reason = f"{status} {_excerpt(response, secrets_)}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
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
                log.warning(
                    "ship.refused",
                    attempts=attempts,
                    status=status,
                    error=reason,
                    maybe_delivered=maybe_delivered,
                )
                raise ShipError(
                    message,
                    status=status,
                    attempts=attempts,
                    retryable=True,
                    maybe_delivered=maybe_delivered,
                )
            log.info("ship.retry", attempt=attempts, status=status, error=reason, delay=delay)
            self.sleep(delay)

    def _receipt(
        self,
        archive: Archive,
        response: requests.Response,
        attempts: int,
        started: float,
        log: structlog.typing.FilteringBoundLogger,
        lost_answer: bool = False,
    ) -> Receipt:
        request_id: str | None = None
        location: str | None = None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            if answer.get("request_id") is not None:
                request_id = str(answer["request_id"])
            upload = answer.get("upload")
            if isinstance(upload, str):
                location = upload
            elif upload is not None:
                location = json.dumps(upload, sort_keys=True, separators=(",", ":"))
        elapsed = self.monotonic() - started
        log.info(
            "ship.accepted",
            status=response.status_code,
            attempts=attempts,
            request_id=request_id,
            elapsed=round(elapsed, 3),
            maybe_duplicated=lost_answer,
        )
        return Receipt(
            archive=archive.name,
            sha256=archive.sha256,
            destination="http",
            status=response.status_code,
            attempts=attempts,
            elapsed=elapsed,
            request_id=request_id,
            location=location,
            maybe_duplicated=lost_answer,
        )

    def _refused(
        self,
        response: requests.Response,
        name: str,
        attempts: int,
        maybe_delivered: bool,
        secrets_: tuple[str, ...],
        log: structlog.typing.FilteringBoundLogger,
    ) -> ShipError:
        status = response.status_code
        excerpt = _excerpt(response, secrets_)
        if 300 <= status < 400:
            target = response.headers.get("Location")
            shown = show_url(urljoin(self.url, target)) if target else "nowhere"
            what = f"a redirect to {shown}, which is not followed"
        else:
            what = _STATUS_MEANING.get(status, response.reason or "refused")
        log.warning("ship.refused", attempts=attempts, status=status, error=excerpt)
        return ShipError(
            f"{show_url(self.url)} refused {name}: {status} ({what}): {excerpt}",
            status=status,
            attempts=attempts,
            retryable=False,
            maybe_delivered=maybe_delivered,
        )


_STATUS_MEANING = {
    400: "bad request",
    401: "not authorized: check the credentials",
    403: "forbidden: the credentials lack the right",
    404: "no such ingress endpoint: check the URL",
    413: "too large for the ingress",
    415: "unsupported content type: check the service's registered type",
}


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verification failed (unknown CA or wrong host name)"
    return "handshake failed"
