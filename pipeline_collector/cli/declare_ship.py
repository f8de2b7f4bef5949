"""The options that name where a run ships: a folder, an HTTP ingress or S3.

Each record is one option of ``declarations.OPTIONS``; the order is the
order of ``--help``.  Their secrets are records of ``declare_tools``.
"""

from __future__ import annotations

import functools
from typing import Final

from .option import ENV_PREFIX, SHIP, Option
from .options import count, parse_header, positive_float
from .secrets import ENV_CLIENT_SECRET, ENV_IDENTITY, ENV_PASSWORD, ENV_PROXY

__all__ = ["SHIP_OPTIONS"]

_http = functools.partial(Option, commands=SHIP, group="destination: an HTTP ingress")
_s3 = functools.partial(Option, commands=SHIP, group="destination: S3")

SHIP_OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        name="dir",
        commands=SHIP,
        group="destination: a folder",
        metavar="DIR",
        help="copy archives into DIR/data/YYYY/MM/DD/ (DirectoryTransport)",
    ),
    _http(name="url", metavar="URL", help="upload URL (HttpTransport)"),
    _http(
        name="content-type",
        metavar="TYPE",
        help="the service's registered type, application/vnd.redhat.<service>.<name>+tgz",
    ),
    _http(
        name="user",
        metavar="USER",
        help=f"basic auth user; the password is read from {ENV_PASSWORD}",
    ),
    _http(
        name="cert",
        nargs="?",
        const="/etc/pki/consumer/cert.pem",
        metavar="PEM",
        help="mutual TLS client certificate (given alone: RHSM's /etc/pki/consumer/cert.pem)",
    ),
    _http(name="key", metavar="PEM", help="client key (default RHSM's /etc/pki/consumer/key.pem)"),
    _http(
        name="identity",
        kind="flag",
        env=ENV_PREFIX + "SEND_IDENTITY",  # PIPELINE_COLLECTOR_IDENTITY is the header, a secret
        help=f"send an x-rh-identity header read from {ENV_IDENTITY}",
    ),
    _http(
        name="token-url",
        metavar="URL",
        help=f"OAuth2 token URL; the client secret is read from {ENV_CLIENT_SECRET}",
    ),
    _http(name="client-id", metavar="ID", help="OAuth2 client id (service account)"),
    _http(name="scope", metavar="SCOPE", help="OAuth2 scope to ask for"),
    _http(name="ca-bundle", metavar="PEM", help="verify TLS against this CA bundle (HTTP and S3)"),
    _http(
        name="proxy",
        metavar="URL",
        env=None,  # PIPELINE_COLLECTOR_PROXY is the secret proxy URL, below
        help=f"HTTP(S) proxy without credentials (else {ENV_PROXY})",
    ),
    _http(
        name="header",
        dest="headers",
        kind="append",
        parse=parse_header,
        metavar="NAME=VALUE",
        help="an extra header, e.g. User-Agent=... (repeatable; credentials refused)",
    ),
    _http(
        name="timeout",
        parse=positive_float,
        metavar="SECONDS",
        help="connect and read timeout (default 31)",
    ),
    _http(name="retries", parse=count, metavar="N", help="retries of a failed upload (default 5)"),
    _http(
        name="allow-insecure",
        kind="flag",
        help="allow credentials over plain http:// (local testing only)",
    ),
    _s3(name="s3-bucket", metavar="BUCKET", help="upload to this bucket (S3Transport)"),
    _s3(name="s3-endpoint", metavar="URL", help="an S3-compatible endpoint"),
    _s3(name="s3-region", metavar="REGION", help="the bucket's region"),
    _s3(name="s3-prefix", metavar="PREFIX", help="object key prefix, e.g. tower/"),
    _s3(name="s3-expected-owner", metavar="ACCOUNT", help="refuse a bucket owned by anyone else"),
)
