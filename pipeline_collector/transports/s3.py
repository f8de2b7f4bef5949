"""Ship archives to an S3 bucket (or any S3-compatible store).

boto3 is optional (``pip install 'pipeline-collector[s3]'``): this module
always imports, and a transport without boto3 is refused when it is built,
before any run collects.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, Literal

from attrs import field, frozen

from ..errors import ConfigurationError, MissingExtra, ShipError
from ..log import logger
from ..naming import ArchiveInfo, Layout, flat, layout_path
from ..records import Archive, Receipt
from .files import file_sha256, next_number, safe_name
from .redact import show_url, url_secrets

__all__ = ["S3Transport"]

_log = logger("ship")

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise MissingExtra(
            "S3Transport needs boto3, which is not installed: pip install 'pipeline-collector[s3]'"
        ) from None
    return boto3


def _botocore_config(**kwargs: Any) -> Any:
    from botocore.config import Config

    return Config(**kwargs)


class _ClientBox:
    """Holds the lazily created client of a frozen transport."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: Any = None

    def __repr__(self) -> str:
        return "<client>"


def _normal_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ConfigurationError(f"key prefix {prefix!r} has an empty, '.' or '..' segment")
    return f"{prefix}/" if prefix else ""


@frozen(kw_only=True)
class S3Transport:
    """Upload archives to ``s3://<bucket>/<prefix>/<archive>``.

    ``layout`` maps the archive (``pipeline_collector.naming.ArchiveInfo``)
    to its key under the prefix; by default the archive's name alone.

    The upload streams from disk (``upload_file``, multipart for large
    files) with the archive's sha256 stored as object metadata; it counts as
    done only when ``head_object`` then shows an object of the right size and
    hash.  An object already at the key is never overwritten: the same
    archive there is taken as delivered, anything else is an error.
    """

    bucket: str
    prefix: str = field(default="", converter=_normal_prefix)
    endpoint_url: str | None = field(default=None, repr=lambda url: repr(url and show_url(url)))
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    expected_bucket_owner: str | None = None
    verify: bool | str = True
    content_type: str = "application/gzip"
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    timeout: tuple[float, float] = (31.0, 31.0)
    max_attempts: int = 5
    client: Any = field(default=None, eq=False, repr=False)
    layout: Layout = field(default=flat, eq=False)
    _box: _ClientBox = field(factory=_ClientBox, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.bucket:
            raise ConfigurationError("S3Transport needs a bucket")
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            raise ConfigurationError(f"{self.bucket!r} is not a valid S3 bucket name")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ConfigurationError("give both access_key_id and secret_access_key, or neither")
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if self.endpoint_url and url_secrets(self.endpoint_url):
            raise ConfigurationError(
                f"endpoint_url {show_url(self.endpoint_url)} must not carry credentials;"
                " give access_key_id and secret_access_key"
            )
        if self.client is None:
            _boto3()  # a missing extra is found now, not at the first upload

    def key_for(self, archive: Archive) -> str:
        """The object key an archive is stored under: the prefix, then its ``layout`` path."""
        safe_name(archive.name)
        info = ArchiveInfo.from_archive(archive, shipped_at=datetime.now(timezone.utc))
        return self.prefix + "/".join(layout_path(self.layout, info, "the S3 layout"))

    def _client(self) -> Any:
        if self.client is not None:
            return self.client
        with self._box.lock:
            if self._box.client is None:
                boto3 = _boto3()
                session = boto3.session.Session(
                    aws_access_key_id=self.access_key_id,
                    aws_secret_access_key=self.secret_access_key,
                    aws_session_token=self.session_token,
                    region_name=self.region,
                )
                config = _botocore_config(
                    connect_timeout=self.timeout[0],
                    read_timeout=self.timeout[1],
                    retries={"max_attempts": self.max_attempts, "mode": "standard"},
                    s3={"addressing_style": self.addressing_style},
                )
                self._box.client = session.client(
                    "s3", endpoint_url=self.endpoint_url, verify=self.verify, config=config
                )
            return self._box.client

    def _owner(self) -> dict[str, str]:
        if self.expected_bucket_owner:
            return {"ExpectedBucketOwner": self.expected_bucket_owner}
        return {}

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self._client().head_object(
                Bucket=self.bucket, Key=key, **self._owner()
            )
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise
        return head

    def send(self, archive: Archive) -> Receipt:
        """Upload one archive and confirm it with ``head_object``."""
        started = time.monotonic()
        key = self.key_for(archive)
        location = f"s3://{self.bucket}/{key}"
        log = _log.bind(archive=archive.name, destination="s3")
        boto3 = _boto3()
        from botocore.exceptions import BotoCoreError, ClientError

        # Hash before sending: the store only learns what was read from disk,
        # so a file changed since it was packed must be caught here.
        try:
            local = file_sha256(archive.path)
        except OSError as exc:
            raise ShipError(f"cannot read {archive.name}: {exc.strerror or exc}") from None
        if local != archive.sha256:
            raise ShipError(f"{archive.name} changed on disk: it no longer matches its record")
        log.debug("ship.attempt", attempt=1, bytes=archive.size, location=location)
        try:
            while (existing := self._head(key)) is not None:
                if self._matches(existing, archive):
                    log.info("ship.already_there", location=location)
                    return self._receipt(archive, location, existing, started)
                # Another archive of the same name (an earlier run ending in the
                # same second): never overwrite it, take the next free number.
                folder, _, name = key.rpartition("/")
                key = f"{folder}/{next_number(name)}" if folder else next_number(name)
                location = f"s3://{self.bucket}/{key}"
            self._client().upload_file(
                str(archive.path),
                self.bucket,
                key,
                ExtraArgs={
                    "ContentType": self.content_type,
                    "Metadata": {"sha256": archive.sha256},
                    **self._owner(),
                },
            )
            head = self._head(key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = f"{location}: S3 answered {status} {_error_code(exc)}"
            raise ShipError(message, status=status, retryable=_retryable(status)) from None
        except boto3.exceptions.S3UploadFailedError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError):
                status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = _error_code(cause)
            else:
                status, code = None, type(cause).__name__ if cause else "upload failed"
            raise ShipError(
                f"upload to {location} failed: S3 answered {status} {code}",
                status=status,
                retryable=_retryable(status),
            ) from None
        except BotoCoreError as exc:
            raise ShipError(
                f"upload to {location} failed: {type(exc).__name__}", retryable=True
            ) from None
        if head is None or not self._matches(head, archive):
            size = None if head is None else head.get("ContentLength")
            raise ShipError(
                f"{location} was not confirmed after upload "
                f"(found {'nothing' if head is None else f'{size} bytes'}, "
                f"expected {archive.size} bytes with sha256 {archive.sha256[:12]}..)",
                maybe_delivered=head is not None,
            )
        return self._receipt(archive, location, head, started)

    @staticmethod
    def _matches(head: dict[str, Any], archive: Archive) -> bool:
        metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        return bool(
            head.get("ContentLength") == archive.size and metadata.get("sha256") == archive.sha256
        )

    @staticmethod
    def _receipt(archive: Archive, location: str, head: dict[str, Any], started: float) -> Receipt:
        request_id = (head.get("ResponseMetadata") or {}).get("RequestId")
        return Receipt(
            archive=archive.name,
            sha256=archive.sha256,
            destination="s3",
            status=200,
            attempts=1,
            elapsed=time.monotonic() - started,
            request_id=str(request_id) if request_id else None,
            location=location,
        )

    def close(self) -> None:
        """Close the client this transport created (a given one is left open)."""
        with self._box.lock:
            if self._box.client is not None:
                self._box.client.close()
                self._box.client = None

    def __enter__(self) -> S3Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))


def _retryable(status: int | None) -> bool:
    return status is None or status in (408, 429) or status >= 500
