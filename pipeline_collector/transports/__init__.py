"""Destinations for archives: a local folder, an HTTP ingress, an S3 bucket.

Each transport is a frozen record with one method, ``send(archive) ->
Receipt``, that fits the ``Transport`` Protocol.  ``send`` either returns a
receipt that proves the archive arrived intact or raises ``ShipError``; it
never returns half-way.  boto3 stays optional: ``S3Transport`` imports it
only when it first needs a client.
"""

from .auth import (
    RHSM_CERT,
    RHSM_KEY,
    Auth,
    BasicAuth,
    ClientCertAuth,
    Credentials,
    IdentityAuth,
    OAuth2ClientCredentials,
)
from .directory import DirectoryTransport
from .http import HttpTransport
from .naming import file_sha256
from .retry import RetryPolicy, parse_retry_after
from .s3 import S3Transport

__all__ = [
    "RHSM_CERT",
    "RHSM_KEY",
    "Auth",
    "BasicAuth",
    "ClientCertAuth",
    "Credentials",
    "DirectoryTransport",
    "HttpTransport",
    "IdentityAuth",
    "OAuth2ClientCredentials",
    "RetryPolicy",
    "S3Transport",
    "file_sha256",
    "parse_retry_after",
]
