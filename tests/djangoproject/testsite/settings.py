"""Settings of the test service: the tests' PostgreSQL server, the app, PIPELINE_COLLECTOR.

The tests set ``TESTSITE_DSN`` (a libpq connection string), ``TESTSITE_SHIP``
(the folder a DirectoryTransport ships to) or ``TESTSITE_URL`` (an ingress), ``TESTSITE_TABLE`` (a fresh state
table) and ``TESTSITE_LOCK`` (a fresh lock name), so that runs never share
state or locks with other tests.
"""

from __future__ import annotations

import os
from typing import Any

from psycopg.conninfo import conninfo_to_dict

_dsn = conninfo_to_dict(os.environ.get("TESTSITE_DSN", "host=127.0.0.1 dbname=postgres"))

SECRET_KEY = "testsite-only"  # noqa: S105
USE_TZ = True
INSTALLED_APPS = ["pipeline_collector.django"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _dsn.get("dbname", "postgres"),
        "USER": _dsn.get("user", "postgres"),
        "HOST": _dsn.get("host", "127.0.0.1"),
        "PORT": _dsn.get("port", ""),
    }
}

# TESTSITE_URL: ship to a local ingress instead of a folder.
TRANSPORT: dict[str, Any] | None = (
    {
        "URL": os.environ["TESTSITE_URL"],
        "CONTENT_TYPE": "application/vnd.redhat.testsite.filename+tgz",
        "ALLOW_INSECURE": True,  # the tests' ingress listens on loopback, without TLS
    }
    if os.environ.get("TESTSITE_URL")
    else {"DIRECTORY": os.environ.get("TESTSITE_SHIP", "shipped")}
)

if os.environ.get("TESTSITE_TRANSPORT") == "none":  # a service that has not set one up
    TRANSPORT = None

PIPELINE_COLLECTOR = {
    "COLLECTORS": "testsite.collectors",
    "TRANSPORT": TRANSPORT,
    "STORE": {"TABLE": os.environ.get("TESTSITE_TABLE", "testsite_state")},
    "LOCK": {"NAME": os.environ.get("TESTSITE_LOCK", "gather_analytics_lock")},
    "PREFIX": os.environ.get("TESTSITE_PREFIX", "testsite"),
    "IS_SHIPPING_CONFIGURED": os.environ.get("TESTSITE_SHIPPING", "1") == "1",
}
