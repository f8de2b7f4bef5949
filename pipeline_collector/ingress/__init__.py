"""A local ingress that behaves like the cloud's, for tests, demos and benchmarks.

``IngressServer`` is a real HTTP(S) server on 127.0.0.1.  It accepts a
``multipart/form-data`` POST with one part named ``file`` (or ``upload``)
whose content type is ``application/vnd.redhat.<service>.<name>+tgz`` with a
known ``<service>``, streams the part to disk, and answers 202 with
``{"request_id": ..., "upload": ...}``.  Like the real one it refuses bodies
over its limit (413, checked before reading), unknown content types (415)
and missing credentials (401).  Failures can be scripted::

    with IngressServer(tmp_path) as server:
        server.script([Fail(503), Fail(429, retry_after=1), Drop(), Stall(2)])
        ...  # the next four uploads meet these, in order; later ones succeed

Run it from a shell with ``python -m pipeline_collector.ingress --help``.

The modules: ``script`` (what to do to the next uploads, and the records of
what was seen), ``books`` (the thread-safe keeping of those records, the
script queue and the tokens), ``settings`` (what the HTTP side reads of the
configuration), ``multipart`` (the bounded streaming parser), ``auth``
(reading credentials), ``handler`` (HTTP routing and answers), ``upload``
(the upload route), ``server`` (``IngressServer``) and ``cli``.
"""

from __future__ import annotations

from .cli import main
from .handler import SECRET_HEADERS as SECRET_HEADERS
from .script import Drop, Fail, Planned, Redirect, Request, Stall, Upload
from .server import DEFAULT_SERVICES, IngressServer
from .server import TOKEN_PATH as TOKEN_PATH
from .server import UPLOAD_PATH as UPLOAD_PATH

# SECRET_HEADERS, TOKEN_PATH and UPLOAD_PATH stay importable from here, as before.
__all__ = [
    "DEFAULT_SERVICES",
    "Drop",
    "Fail",
    "IngressServer",
    "Planned",
    "Redirect",
    "Request",
    "Stall",
    "Upload",
    "main",
]
