"""Destinations for archives: a local folder, an HTTP ingress, an S3 bucket.

Each transport is a frozen record with one method, ``send(archive) ->
Receipt``, that fits the ``Transport`` Protocol; ``preflight(transport)``
proves a destination takes an upload before anything is collected.  ``send`` either returns a
receipt that proves the archive arrived intact or raises ``ShipError``; it
never returns half-way.  ``HttpTransport`` puts its requests on the wire
through a ``Sender`` (``RequestsSender`` by default), which speaks in
``Request`` and ``Response`` values.  boto3 stays optional: ``S3Transport`` imports it
only when it first needs a client.
"""

from .auth import (
    RHSM_CERT,
    RHSM_KEY,
    BasicAuth,
    ClientCertAuth,
    IdentityAuth,
    OAuth2ClientCredentials,
)
from .directory import DirectoryTransport
from .files import file_sha256
from .http import HttpTransport
from .messages import (
    Auth,
    Bytes,
    Credentials,
    NoAnswer,
    Request,
    Response,
    Sender,
    SendError,
    TlsFailure,
)
from .probe import Verdict, content_type_problem, preflight
from .retry import RetryPolicy, parse_retry_after
from .s3 import S3Transport
from .sender import RequestsSender

__all__ = [
    "RHSM_CERT",
    "RHSM_KEY",
    "Auth",
    "BasicAuth",
    "Bytes",
    "ClientCertAuth",
    "Credentials",
    "DirectoryTransport",
    "HttpTransport",
    "IdentityAuth",
    "NoAnswer",
    "OAuth2ClientCredentials",
    "Request",
    "RequestsSender",
    "Response",
    "RetryPolicy",
    "S3Transport",
    "SendError",
    "Sender",
    "TlsFailure",
    "Verdict",
    "content_type_problem",
    "file_sha256",
    "parse_retry_after",
    "preflight",
]
