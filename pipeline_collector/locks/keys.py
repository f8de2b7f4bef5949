"""How each project turns a lock name into a PostgreSQL advisory lock key.

All three end up in ``pg_try_advisory_lock(bigint)``: the 32-bit keys of
django-pglocks and of ``hashtext`` are widened to bigint by PostgreSQL (the
two-argument ``(int4, int4)`` form is a different key space and would not
exclude them).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping
from typing import Literal

__all__ = [
    "LOCK_KEYS",
    "STORE_WRITERS",
    "Scheme",
    "WRITERS_LOCK",
    "crc32_key",
    "hashtext_key",
    "sha512_key",
]

Scheme = Literal["sha512", "crc32", "hashtext"]


def sha512_key(name: str) -> int:
    """The key of insights-analytics-collector: sha512 of the name, mod 2**63.

    >>> sha512_key("gather_analytics_lock")
    5213266487902095019
    """
    return int(hashlib.sha512(name.encode()).hexdigest(), 16) % 2**63


def crc32_key(name: str) -> int:
    """The key of django-pglocks (AWX): CRC-32 of the UTF-8 name as a signed int32.

    >>> crc32_key("gather_analytics_lock")
    706743891
    """
    unsigned = zlib.crc32(name.encode("utf-8"))
    return unsigned - 2**32 if unsigned & 2**31 else unsigned


def hashtext_key(name: str) -> int:
    """PostgreSQL's ``hashtext(name)`` (metrics-utility), computed here.

    The server's hash of the UTF-8 bytes (Bob Jenkins' lookup3, as PostgreSQL
    computes it on little-endian machines), as a signed int32.  The lock asks
    the server itself, so the two can never disagree on a lock.

    >>> hashtext_key("gather_analytics_lock")
    -2081102714
    """
    data = name.encode("utf-8")
    length = len(data)
    a = b = c = (0x9E3779B9 + length + 3923095) & _MASK
    words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, length, 4)]
    pos = 0
    while length - pos >= 12:
        a = (a + words[pos // 4]) & _MASK
        b = (b + words[pos // 4 + 1]) & _MASK
        c = (c + words[pos // 4 + 2]) & _MASK
        a, b, c = _mix(a, b, c)
        pos += 12
    tail = data[pos:]
    # The lowest byte of c is reserved for the length: c takes bytes 8..10 shifted left by 8.
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + (int.from_bytes(tail[8:11], "little") << 8)) & _MASK
    c = _final(a, b, c)
    return c - 2**32 if c & 2**31 else c


_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _MASK
    a ^= _rot(c, 4)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 6)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 8)
    b = (b + a) & _MASK
    a = (a - c) & _MASK
    a ^= _rot(c, 16)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 19)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 4)
    b = (b + a) & _MASK
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rot(b, 14)) & _MASK
    a ^= c
    a = (a - _rot(c, 11)) & _MASK
    b ^= a
    b = (b - _rot(a, 25)) & _MASK
    c ^= b
    c = (c - _rot(b, 16)) & _MASK
    a ^= c
    a = (a - _rot(c, 4)) & _MASK
    b ^= a
    b = (b - _rot(a, 14)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return c


LOCK_KEYS: Mapping[str, Callable[[str], int]] = {
    "sha512": sha512_key,
    "crc32": crc32_key,
    "hashtext": hashtext_key,
}

# The stores' writers take turns under a transaction-level lock in the
# two-key form: its own key space, apart from the single-key run locks above.
# The first key is "pcst" as a signed 32-bit integer, the second the name of
# what is written (a table, a setting).
STORE_WRITERS = int.from_bytes(b"pcst", "big", signed=True)
WRITERS_LOCK = "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))"
