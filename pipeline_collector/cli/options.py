"""Option values from text: sizes, durations, datetimes, keys, headers, numbers.

Each parser raises ``argparse.ArgumentTypeError`` with a message fit to show,
so argparse and the config file reader report a bad value the same way.
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import datetime, timedelta, timezone

from ..config import SANE_SIZE
from ..units import parse_size

__all__ = [
    "LOG_LEVELS",
    "SECRET_HEADERS",
    "aware",
    "count",
    "parse_duration",
    "parse_header",
    "parse_keys",
    "parse_size",
    "parse_run_size",
    "parse_when",
    "positive_float",
]

#: No count or number of seconds past this is meant.
MOST_NUMBER = 10**6
LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

# Headers that carry credentials: never taken from a command line or a file.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-rh-identity", "x-api-key"}
)


def parse_run_size(text: str) -> int:
    """A run's size: as ``parse_size``, but a small one must say its unit.

    ``--max-data-size 10`` is ten bytes, surely meant as 10 MiB: below 1 MiB
    a bare number is refused, and ``10B`` or ``64KiB`` says it is meant.

    >>> parse_run_size("10MiB"), parse_run_size("64KiB"), parse_run_size("2097152")
    (10485760, 65536, 2097152)
    >>> parse_run_size("10")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '10' is 10 bytes, below 1 MiB: write the unit, 10MiB for MiB (or 10B if bytes are meant)
    """  # noqa: E501
    value = parse_size(text)
    number = text.strip()
    if value < SANE_SIZE and number.replace(".", "", 1).isdigit():
        raise argparse.ArgumentTypeError(
            f"{number!r} is {number} bytes, below {SANE_SIZE // 2**20} MiB: write the unit,"
            f" {number}MiB for MiB (or {number}B if bytes are meant)"
        )
    return value


def parse_when(text: str) -> datetime:
    """An ISO-8601 datetime with a timezone; a naive one is refused.

    >>> parse_when("2026-11-01T00:00:00Z").isoformat()
    '2026-11-01T00:00:00+00:00'
    """
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 datetime, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return aware(when, text)


def aware(when: datetime, shown: str) -> datetime:
    """``when`` if it has a timezone; else an error that shows the right form.

    >>> aware(datetime(2026, 11, 1, tzinfo=timezone.utc), "x").year
    2026
    """
    if when.tzinfo is None or when.utcoffset() is None:
        example = when.replace(tzinfo=timezone.utc).isoformat()
        raise argparse.ArgumentTypeError(
            f"{shown!r} has no timezone; naive datetimes are refused because guessing"
            f" the zone would shift every window: write e.g. {example}"
        )
    return when


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([wdhms]?)$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "days"}
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
#: No duration past this is meant (a horizon of a century is a typo).
LONGEST = timedelta(days=36500)


def parse_duration(text: str) -> timedelta:
    """A duration: a number of days, or with a unit ``w``, ``d``, ``h``, ``m``, ``s``.

    >>> parse_duration("4w") == parse_duration("28")
    True
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration, e.g. 28d, 4w, 12h")
    unit = _UNITS[match[2].lower()]
    amount = float(match[1]) if len(match[1]) <= 30 else math.inf
    if amount * _SECONDS[unit] > LONGEST.total_seconds():
        raise argparse.ArgumentTypeError(
            f"{text.strip()[:40]!r} is out of range: at most {LONGEST.days} days"
        )
    value = timedelta(**{unit: amount})
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be positive")
    return value


def parse_keys(text: str) -> list[str]:
    """Comma-separated collector keys.

    >>> parse_keys("jobs, job_events,")
    ['jobs', 'job_events']
    """
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise argparse.ArgumentTypeError("expected one or more keys, e.g. jobs,job_events")
    return keys


# A header name as HTTP defines it (RFC 9110's token).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_header(text: str) -> tuple[str, str]:
    """``NAME=VALUE``; headers that carry credentials are refused.

    A text that is not of that form is never shown: its value may be a
    token.  Only a header name before a colon and a value (``Name: value``)
    is named.

    >>> parse_header("User-Agent = collector/1.0")
    ('User-Agent', 'collector/1.0')
    >>> parse_header("Authorization: Bearer abc.def")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: header Authorization carries credentials and is refused here (command lines and config files are readable by others); use --user, --identity or --client-id with their environment variables
    >>> parse_header("X-Trace: abc")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: header X-Trace: expected NAME=VALUE, not 'NAME: VALUE' (the value is not shown)
    """  # noqa: E501
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _TOKEN.fullmatch(name):
        lead, colon, rest = text.strip().partition(":")
        lead = lead.strip()
        if not (colon and rest.strip() and _TOKEN.fullmatch(lead)):
            raise argparse.ArgumentTypeError(
                "a header must be NAME=VALUE, NAME a header name such as X-Request-Source"
                " (the text given is not shown: it may hold a secret)"
            )
        if lead.lower() not in SECRET_HEADERS:
            raise argparse.ArgumentTypeError(
                f"header {lead}: expected NAME=VALUE, not 'NAME: VALUE' (the value is not shown)"
            )
        name = lead
    if name.lower() in SECRET_HEADERS:
        raise argparse.ArgumentTypeError(
            f"header {name} carries credentials and is refused here (command lines and"
            " config files are readable by others); use --user, --identity or --client-id"
            " with their environment variables"
        )
    return name, value.strip()


def positive_float(text: str) -> float:
    """A finite number of zero or more, at most a million (seconds, mostly).

    >>> positive_float("0.5")
    0.5
    >>> positive_float("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'nan' is not a finite number
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text.strip()[:40]!r} is not a finite number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    if value > MOST_NUMBER:
        raise argparse.ArgumentTypeError(f"{text.strip()[:40]!r} is out of range: at most 1e6")
    return value


def count(text: str) -> int:
    """A whole number of zero or more.

    >>> count("5")
    5
    """
    digits = text.strip()
    if len(digits) > 30:
        raise argparse.ArgumentTypeError(f"a number of {len(digits)} digits is out of range")
    try:
        value = int(digits)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    if value > MOST_NUMBER:
        raise argparse.ArgumentTypeError(f"{value} is out of range: at most {MOST_NUMBER}")
    return value


def parse_compressors(text: str) -> list[str]:
    """Comma-separated ``name`` or ``name:level`` compressor settings.

    >>> parse_compressors("zlib-ng:5, zlib:9,isal")
    ['zlib-ng:5', 'zlib:9', 'isal']
    """
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise argparse.ArgumentTypeError("expected NAME:LEVEL, e.g. zlib-ng:5,zlib:9")
    for spec in specs:
        name, sep, level = spec.partition(":")
        if not name or (sep and not level.isdigit()):
            raise argparse.ArgumentTypeError(f"{spec!r}: expected NAME or NAME:LEVEL, e.g. zlib:9")
    return specs
