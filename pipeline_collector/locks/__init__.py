"""Locks: one run at a time per service.

Each lock fits the ``Lock`` protocol: ``acquire()`` returns a context manager
that yields ``True`` when it got the lock and ``False`` when someone else holds
it, and on exit releases only what it got.  A lock that cannot even be tried
(or is lost while held) raises ``LockError``: "held by someone else" and
"broken" are different answers.

``file`` holds an ``flock``; ``postgres`` a session advisory lock whose key
comes from ``keys``; ``polling`` is how both wait.
"""

from __future__ import annotations

from .file import FileLock
from .keys import LOCK_KEYS, Scheme, crc32_key, hashtext_key, sha512_key
from .postgres import DBConnection, PostgresAdvisoryLock

__all__ = [
    "LOCK_KEYS",
    "DBConnection",
    "FileLock",
    "PostgresAdvisoryLock",
    "Scheme",
    "crc32_key",
    "hashtext_key",
    "sha512_key",
]
