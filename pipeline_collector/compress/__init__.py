"""Compression: raw deflate segments that splice into one gzip stream.

Every part is compressed once, while it is cut, into a raw deflate segment
that ends on a byte boundary (a sync flush).  Segments compressed on their own
can be laid end to end inside one gzip member, so an archive is assembled by
copying bytes, its exact compressed size is known before it is written, and
compression runs beside the collector on the other cores.  The result is
plain gzip.

``backends`` holds the compressors, ``crc`` the checksum arithmetic,
``segment`` the threaded writer of one part, ``offload`` the choice between
it and a compressor process of the cut's own (``child`` starts and feeds it,
``worker`` is the program it runs).
"""

from ..protocols import Compressor, Deflater
from .backends import ZlibCompressor, available, default_compressor, deflate_bound, get_compressor
from .crc import crc32, crc32_combine
from .offload import ENV, Compression, PartWriter
from .segment import SegmentWriter

__all__ = [
    "ENV",
    "Compression",
    "Compressor",
    "Deflater",
    "PartWriter",
    "SegmentWriter",
    "ZlibCompressor",
    "available",
    "crc32",
    "crc32_combine",
    "default_compressor",
    "deflate_bound",
    "get_compressor",
]
