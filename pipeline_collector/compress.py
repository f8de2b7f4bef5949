"""Compressors: raw deflate segments that splice into one gzip stream.

Every part is compressed once, while it is cut, into a raw deflate segment
that ends on a byte boundary (a sync flush).  Segments compressed on their own
can be laid end to end inside one gzip member, so an archive is assembled by
copying bytes, its exact compressed size is known before it is written, and
compression runs beside the collector on the other core (zlib, zlib-ng and
ISA-L release the GIL while they work).  The result is plain gzip.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from attrs import frozen

__all__ = [
    "Compressor",
    "Deflater",
    "ZlibCompressor",
    "available",
    "crc32",
    "crc32_combine",
    "default_compressor",
    "deflate_bound",
    "get_compressor",
]


class Deflater(Protocol):
    """Protocol: one raw deflate stream (``zlib.compressobj(wbits=-15)``)."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


class Compressor(Protocol):
    """Protocol: makes raw deflate streams; ``name`` and ``level`` describe it."""

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> int: ...

    def deflater(self) -> Deflater: ...

    def sync_flush(self, deflater: Deflater) -> bytes: ...

    def finish(self, deflater: Deflater) -> bytes: ...


# Module names of the deflate backends, fastest useful first.
_BACKENDS = {
    "zlib-ng": "zlib_ng.zlib_ng",
    "isal": "isal.isal_zlib",
    "zlib": "zlib",
}
_MAX_LEVEL = {"zlib-ng": 9, "isal": 3, "zlib": 9}
_DEFAULT_LEVEL = {"zlib-ng": 5, "isal": 2, "zlib": 6}


def _module(name: str) -> Any:
    return importlib.import_module(_BACKENDS[name])


def available() -> tuple[str, ...]:
    """Names of the backends importable here."""
    found = []
    for name in _BACKENDS:
        try:
            _module(name)
        except ImportError:
            continue
        found.append(name)
    return tuple(found)


@frozen
class ZlibCompressor:
    """A compressor over any module with zlib's ``compressobj`` interface."""

    name: str = "zlib"
    level: int = 6

    def __attrs_post_init__(self) -> None:
        if self.name not in _BACKENDS:
            raise ValueError(f"unknown compressor {self.name!r}; known: {sorted(_BACKENDS)}")
        top = _MAX_LEVEL[self.name]
        if not 0 <= self.level <= top:
            raise ValueError(f"compressor {self.name!r} takes levels 0..{top}, not {self.level}")

    def deflater(self, zdict: bytes = b"") -> Deflater:
        """A raw deflate stream; ``zdict``, the data that precedes it, primes its window.

        A primed stream started after a sync flush continues the one before it as
        if it had never stopped (as pigz does), so blocks compressed on several
        threads splice with no loss of ratio.
        """
        mod = _module(self.name)
        if zdict:
            primed: Deflater = mod.compressobj(self.level, mod.DEFLATED, -15, zdict=zdict)
            return primed
        obj: Deflater = mod.compressobj(self.level, mod.DEFLATED, -15)
        return obj

    def sync_flush(self, deflater: Deflater) -> bytes:
        return deflater.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, deflater: Deflater) -> bytes:
        return deflater.flush(zlib.Z_FINISH)


def get_compressor(name: str, level: int | None = None) -> ZlibCompressor:
    """Return the named backend at ``level`` (its default level when ``None``).

    >>> get_compressor("zlib", 9).level
    9
    """
    if name not in _BACKENDS:
        raise ValueError(f"unknown compressor {name!r}; known: {sorted(_BACKENDS)}")
    _module(name)  # raise ImportError now, not in the middle of a run
    return ZlibCompressor(name, _DEFAULT_LEVEL[name] if level is None else level)


def default_compressor() -> ZlibCompressor:
    """zlib-ng at level 5 where installed, else zlib at level 6.

    zlib-ng 5 writes archives within 0.3% of zlib 9's size at more than twice
    zlib 6's speed (``benchmarks/run.py``).
    """
    return get_compressor("zlib-ng" if "zlib-ng" in available() else "zlib")


def deflate_bound(n: int) -> int:
    """An upper bound of the raw deflate size of ``n`` bytes plus one sync flush.

    Deflate never expands data by more than its stored-block overhead: 5 bytes
    per 16 KiB block at worst, plus the flush marker.

    >>> deflate_bound(0) >= len(zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_SYNC_FLUSH))
    True
    """
    return n + 5 * (n // 16383 + 1) + 16


crc32: Callable[[bytes, int], int] = zlib.crc32


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    i = 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def _native_combine() -> Callable[[int, int, int], int] | None:
    for name in ("zlib-ng", "isal"):
        try:
            combine: Callable[[int, int, int], int] = _module(name).crc32_combine
        except (ImportError, AttributeError):
            continue
        return combine
    return None


_NATIVE_COMBINE = _native_combine()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)``.

    zlib-ng's or ISA-L's own function when one is installed; else zlib's
    algorithm in Python, which stdlib zlib does not expose.

    >>> a, b = b"hello ", b"world"
    >>> crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    True
    """
    if len2 <= 0:
        return crc1
    if _NATIVE_COMBINE is not None:
        return _NATIVE_COMBINE(crc1, crc2, len2) & 0xFFFFFFFF
    return _python_combine(crc1, crc2, len2)


def _python_combine(crc1: int, crc2: int, len2: int) -> int:
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return (crc1 ^ crc2) & 0xFFFFFFFF
