"""Compression backends: zlib, zlib-ng and ISA-L behind one small interface.

Each backend makes raw deflate streams (no header, no trailer) through zlib's
``compressobj`` interface; zlib-ng and ISA-L are faster drop-ins when
installed.  ``deflate_bound`` is the worst-case size that lets the archive's
size be known before it is written.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any

from attrs import frozen

from ..errors import MissingExtra
from ..protocols import Deflater

__all__ = ["ZlibCompressor", "available", "default_compressor", "deflate_bound", "get_compressor"]


# Module names of the deflate backends, fastest useful first.
_BACKENDS = {
    "zlib-ng": "zlib_ng.zlib_ng",
    "isal": "isal.isal_zlib",
    "zlib": "zlib",
}
# What to install when a backend's module is missing.
_INSTALL = {"zlib-ng": "pip install zlib-ng", "isal": "pip install 'pipeline-collector[isal]'"}
_MAX_LEVEL = {"zlib-ng": 9, "isal": 3, "zlib": 9}
_DEFAULT_LEVEL = {"zlib-ng": 6, "isal": 2, "zlib": 6}


def _module(name: str) -> Any:
    return importlib.import_module(_BACKENDS[name])


def _require(name: str) -> None:
    """Import the backend now, so a missing one stops the caller before any run."""
    try:
        _module(name)
    except ImportError:
        raise MissingExtra(
            f"compressor {name!r} needs the {name} package, which is not installed:"
            f" {_INSTALL.get(name, 'pip install ' + name)}"
        ) from None


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


@frozen(repr=False)
class ZlibCompressor:
    """A compressor over any module with zlib's ``compressobj`` interface.

    ``process``: a cut compresses in a process of its own where allowed
    (``compress.offload``); ``False`` keeps it on threads in this process.
    """

    name: str = "zlib"
    level: int = 6
    process: bool = True

    def __repr__(self) -> str:
        extra = "" if self.process else ", process=False"
        return f"ZlibCompressor(name={self.name!r}, level={self.level}{extra})"

    def __attrs_post_init__(self) -> None:
        if self.name not in _BACKENDS:
            raise ValueError(f"unknown compressor {self.name!r}; known: {sorted(_BACKENDS)}")
        top = _MAX_LEVEL[self.name]
        if not 0 <= self.level <= top:
            raise ValueError(f"compressor {self.name!r} takes levels 0..{top}, not {self.level}")
        if not isinstance(self.process, bool):
            raise ValueError(f"process must be True or False, not {self.process!r}")
        _require(self.name)

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


def get_compressor(name: str, level: int | None = None, *, process: bool = True) -> ZlibCompressor:
    """Return the named backend at ``level`` (its default level when ``None``).

    ``process=False``: compress on threads in this process, never in a
    compressor process of its own.

    >>> get_compressor("zlib", 9).level
    9
    >>> get_compressor("zlib", 9, process=False)
    ZlibCompressor(name='zlib', level=9, process=False)
    """
    if name not in _BACKENDS:
        raise ValueError(f"unknown compressor {name!r}; known: {sorted(_BACKENDS)}")
    return ZlibCompressor(name, _DEFAULT_LEVEL[name] if level is None else level, process)


def default_compressor() -> ZlibCompressor:
    """zlib-ng at level 6 where installed, else zlib at level 6.

    zlib-ng 6 writes archives within 1% of zlib 9's (the old library's) on
    both benchmark workloads (-1.1% and +0.9%) where level 5 is 11% larger on
    wide text; it costs 6% (job events) to 31% (wide text) more wall time
    (``benchmarks/run.py``).
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
