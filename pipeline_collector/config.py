"""The bounds a run works within, in one place.

``MAX_UPLOAD_SIZE`` is the ingress's limit per upload (compressed);
``MAX_DATA_SIZE`` the uncompressed CSV per part and per archive;
``HORIZON`` how far back a run looks at most (docs/contract.md, section 2).
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["HORIZON", "MAX_DATA_SIZE", "MAX_UPLOAD_SIZE", "RESERVE"]

MAX_DATA_SIZE = 200 * 2**20
MAX_UPLOAD_SIZE = 100 * 2**20
HORIZON = timedelta(weeks=4)
# Room kept in a lone part's archive for config.json and the metadata members.
RESERVE = 64 * 2**10
