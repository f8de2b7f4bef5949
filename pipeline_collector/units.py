"""Sizes, durations and text written for people: ``1.50 KiB``, ``1:02:05``.

Pure formatting shared by the archive checks, the errors and the command
line, kept apart so that none has to import the others.
"""

from __future__ import annotations

import argparse
import re
from decimal import Decimal

__all__ = ["MOST_BYTES", "human_bytes", "human_seconds", "parse_size", "valid_text"]


def valid_text(text: str) -> str:
    r"""``text``, its lone surrogates escaped, so that it encodes as UTF-8 wherever it goes.

    A lone surrogate reaches a ``str`` from JSON (``"\ud800"``), from a
    file name decoded with ``surrogateescape``, or from an exception's
    message; written to a UTF-8 file or stream as it is, it raises.

    >>> valid_text("caf\u00e9"), valid_text("old\ud800key"), valid_text("name\udcff")
    ('café', 'old\\ud800key', 'name\\udcff')
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def human_bytes(n: float) -> str:
    """Bytes in binary units, three significant figures.

    >>> human_bytes(512), human_bytes(1536), human_bytes(50 * 2**20)
    ('512 B', '1.50 KiB', '50.0 MiB')
    """
    if n < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} {unit}"


def human_seconds(seconds: float) -> str:
    """A duration as ``m:ss`` (or ``h:mm:ss``).

    >>> human_seconds(5), human_seconds(75.4), human_seconds(3725)
    ('0:05', '1:15', '1:02:05')
    """
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


# No size past this is meant: a typo, not a setting (2**62 bytes = 4 EiB).
MOST_BYTES = 2**62

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([kmgt])(i)?(b)?|(b))?$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """A size in bytes: ``1048576``, ``50MiB``, ``100M`` (binary), ``100MB`` (decimal).

    >>> parse_size("50MiB"), parse_size("100M"), parse_size("1kB"), parse_size("512")
    (52428800, 104857600, 1000, 512)
    """
    match = _SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; use bytes or a unit, e.g. 50MiB, 100M, 200MB"
        )
    number, letter, binary, decimal_b, _ = match.groups()
    factor = 1
    if letter:
        base = 1000 if decimal_b and not binary else 1024
        factor = base ** _POWERS[letter.lower()]
    if len(number) > 30:  # past any size meant, and past what a float holds exactly
        raise argparse.ArgumentTypeError(f"a size of {len(number)} digits is out of range")
    value = int(Decimal(number) * factor)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be positive")
    if value > MOST_BYTES:
        raise argparse.ArgumentTypeError(
            f"{text.strip()!r} is out of range: at most {MOST_BYTES} bytes (4 EiB)"
        )
    return value
