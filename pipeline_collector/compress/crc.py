"""CRC-32 helpers: the checksum of a gzip member assembled from separate parts.

Each part's CRC is computed while it is compressed; the archive's CRC is then
combined from them without reading the data again.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable

__all__ = ["crc32", "crc32_combine"]

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


_NATIVE = {"zlib-ng": "zlib_ng.zlib_ng", "isal": "isal.isal_zlib"}


def _native_combine() -> Callable[[int, int, int], int] | None:
    for name in ("zlib-ng", "isal"):
        try:
            module = importlib.import_module(_NATIVE[name])
            combine: Callable[[int, int, int], int] = module.crc32_combine
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
