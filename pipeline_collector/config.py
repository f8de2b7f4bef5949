"""One run's configuration: a frozen record, every default stated once.

``RunConfig`` is what a run is told (mode, window, keys, limits, horizon,
prefix, work folder, how many tasks may be in flight); ``Limits`` the size
bounds of parts and archives, a value of their own because the stages used
alone take them too.  Python callers build a ``RunConfig`` directly or
through ``gather``'s keywords; the CLI (flags, environment, TOML), Django's
``PIPELINE_COLLECTOR`` dict and the demo build one with ``from_values``, so a
default written here is the default everywhere.  The objects a run works
with (state store, transport, lock, clock, executor) are not configuration:
they are passed to ``gather`` beside it.

``MAX_UPLOAD_SIZE`` is the ingress's limit per upload (compressed);
``MAX_DATA_SIZE`` the uncompressed CSV per part and per archive;
``HORIZON`` how far back a run looks at most (docs/contract.md, section 2).
``SANE_SIZE`` is the least either size is ever meant to be: below it, a size
was most likely written in bytes where MiB were meant, and a run says so
before it collects (``Limits.unusual``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import attrs
from attrs import field, frozen

from .errors import ConfigurationError
from .naming import check_prefix
from .records import Mode
from .units import MOST_BYTES, human_bytes

__all__ = [
    "DEFAULT_PREFIX",
    "HORIZON",
    "MAX_DATA_SIZE",
    "MAX_UPLOAD_SIZE",
    "MOST_BYTES",
    "RESERVE",
    "SANE_SIZE",
    "Limits",
    "RunConfig",
    "require_aware",
]

MAX_DATA_SIZE = 200 * 2**20
MAX_UPLOAD_SIZE = 100 * 2**20
HORIZON = timedelta(weeks=4)
DEFAULT_PREFIX = "analytics"
# Below this, a part or an archive holds a handful of rows: bytes written where MiB were meant.
SANE_SIZE = 2**20
# Room kept in a lone part's archive for config.json and the metadata members.
RESERVE = 64 * 2**10
# No size or count past these is meant: a typo, not a setting (2**62 bytes = 4 EiB).
_MOST_IN_FLIGHT = 1 << 20
_MOST_SECONDS = 1e6


def _whole(name: str, value: object, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{name}={value!r} must be a whole number of bytes, e.g. {example}"
        )
    if value <= 0:
        raise ConfigurationError(f"{name}={value!r} must be positive, e.g. {example}")
    if value > MOST_BYTES:
        raise ConfigurationError(
            f"{name} of {value.bit_length()} bits is out of range: at most {MOST_BYTES} bytes"
        )
    return value


def require_aware(name: str, value: datetime | None) -> None:
    """Refuse a naive datetime: guessing its zone would shift every window."""
    if value is not None and not isinstance(value, datetime):
        raise ConfigurationError(f"{name}={value!r} must be a datetime, not {type(value).__name__}")
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ConfigurationError(
            f"{name}={value.isoformat()} has no timezone; pass an aware datetime"
            " (for example datetime(..., tzinfo=timezone.utc))"
        )


@frozen(kw_only=True)
class Limits:
    """The size bounds: uncompressed CSV per part and archive, compressed bytes per upload.

    >>> Limits(max_upload_size=64 * 2**10)
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: max_upload_size=65536 (64.0 KiB) is too \
small: an archive needs more than 131072 bytes (128 KiB) for its config and metadata; the \
ingress takes 100 MiB
    """

    max_data_size: int = MAX_DATA_SIZE
    max_upload_size: int = MAX_UPLOAD_SIZE

    def __attrs_post_init__(self) -> None:
        _whole("max_data_size", self.max_data_size, "200 * 2**20 (the default)")
        _whole("max_upload_size", self.max_upload_size, "50 * 2**20 for 50 MiB")
        if self.max_upload_size <= 2 * RESERVE:
            raise ConfigurationError(
                f"max_upload_size={self.max_upload_size!r}"
                f" ({human_bytes(self.max_upload_size)}) is too small: an archive needs more"
                f" than {2 * RESERVE} bytes ({2 * RESERVE // 1024} KiB) for its config and"
                " metadata; the ingress takes 100 MiB"
            )

    def unusual(self) -> tuple[str, ...]:
        """One line per size below ``SANE_SIZE``: most likely bytes where MiB were meant.

        The stages take any size (tests cut tiny parts on purpose); a run
        logs these as ``limits.small`` before it collects, and the command
        line refuses such a size written without a unit.

        >>> Limits(max_data_size=10).unusual()
        ('max_data_size=10 (10 B) is below 1 MiB: each part, and each archive, holds at most \
that much CSV; sizes are in bytes (200 MiB is 200 * 2**20)',)
        """
        found = []
        for name, value, holds, example in (
            ("max_data_size", self.max_data_size, "each part, and each archive, holds", 200),
            ("max_upload_size", self.max_upload_size, "each archive is", 100),
        ):
            if value < SANE_SIZE:
                amount = "that much CSV" if name == "max_data_size" else "that large compressed"
                found.append(
                    f"{name}={value} ({human_bytes(value)}) is below {SANE_SIZE // 2**20} MiB:"
                    f" {holds} at most {amount}; sizes are in bytes"
                    f" ({example} MiB is {example} * 2**20)"
                )
        return tuple(found)

    def max_deflated(self, config_size: int = 0) -> int:
        """The compressed size one part may reach and still fit an upload with config.json."""
        return self.max_upload_size - RESERVE - config_size


def _subset(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise ConfigurationError(
            f"subset={value!r} is one string; give a list of collector keys, e.g. [{value!r}]"
        )
    return tuple(value)


def _workdir(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


@frozen(kw_only=True)
class RunConfig:
    """What one run is told; every field has its default here and only here.

    ``mode`` is ``dry-run`` (collect and archive, ship nothing, keep the
    archives), ``manual`` or ``scheduled`` (ship, save progress; a scheduled
    run logs skips quietly).  ``since``/``until`` bound the window (aware
    datetimes; docs/contract.md, section 2), ``subset`` names the keys to
    collect (all when ``None``), ``workdir`` is where parts and archives are
    written (a private temporary folder when ``None``), ``max_in_flight`` how
    many tasks an executor runs at once (its own size when ``None``),
    ``task_timeout`` the seconds one task may run before the run ends.
    """

    mode: Mode = "dry-run"
    since: datetime | None = None
    until: datetime | None = None
    subset: tuple[str, ...] | None = field(default=None, converter=_subset)
    limits: Limits = Limits()
    horizon: timedelta = HORIZON
    prefix: str = DEFAULT_PREFIX
    workdir: Path | None = field(default=None, converter=_workdir)
    max_in_flight: int | None = None
    task_timeout: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.mode not in get_args(Mode):
            raise ConfigurationError(f"mode {self.mode!r} must be one of {get_args(Mode)}")
        require_aware("since", self.since)
        require_aware("until", self.until)
        if not isinstance(self.limits, Limits):
            raise ConfigurationError(f"limits={self.limits!r} must be a Limits")
        if not isinstance(self.horizon, timedelta) or not (
            timedelta(0) < self.horizon <= timedelta(days=3650)
        ):
            raise ConfigurationError(
                f"horizon={self.horizon!r} must be a timedelta from 1 second to 3650 days"
            )
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ConfigurationError(f"prefix={self.prefix!r} must be a non-empty string")
        check_prefix(self.prefix)
        n = self.max_in_flight
        if n is not None and (
            isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MOST_IN_FLIGHT
        ):
            raise ConfigurationError(
                f"max_in_flight={n!r} must be a whole number from 1 to {_MOST_IN_FLIGHT}"
            )

        s = self.task_timeout
        if s is not None and (
            isinstance(s, bool)
            or not isinstance(s, (int, float))
            or not math.isfinite(s)
            or not 0 < s <= _MOST_SECONDS
        ):
            raise ConfigurationError(
                f"task_timeout={s!r} must be a number of seconds, more than 0 and at most"
                f" {_MOST_SECONDS:g}"
            )

    @property
    def ships(self) -> bool:
        """Whether the run ships archives (and keeps books): every mode but ``dry-run``."""
        return self.mode != "dry-run"

    @property
    def quiet(self) -> bool:
        """Scheduled runs log skips at debug level; manual runs say them aloud."""
        return self.mode == "scheduled"

    @property
    def whole(self) -> bool:
        """Every collector is asked for, so a clean run moves ``last_gather``."""
        return self.subset is None

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The names ``from_values`` takes: the fields, with the limits' sizes flat."""
        fields = [f.name for f in attrs.fields(cls) if f.name != "limits"]
        return (*fields, *(f.name for f in attrs.fields(Limits)))

    @classmethod
    def from_values(cls, base: RunConfig | None = None, **values: Any) -> RunConfig:
        """``base`` (the defaults when ``None``) with the given values; ``None`` keeps a value.

        The limits' two sizes are given flat (``max_data_size=``,
        ``max_upload_size=``), as every front-end names them.

        >>> RunConfig.from_values(mode="manual", max_data_size=None).mode
        'manual'
        >>> RunConfig.from_values(colour="red")
        Traceback (most recent call last):
        ...
        pipeline_collector.errors.ConfigurationError: unknown run setting 'colour'; known: \
horizon, max_data_size, max_in_flight, max_upload_size, mode, prefix, since, subset, \
task_timeout, until, workdir
        """
        config = base if base is not None else cls()
        given = {k: v for k, v in values.items() if v is not None}
        sizes = {f.name for f in attrs.fields(Limits)}
        known = set(cls.setting_names()) - sizes
        for name in given:
            if name not in known | sizes:
                raise ConfigurationError(
                    f"unknown run setting {name!r}; known: {', '.join(sorted(known | sizes))}"
                )
        limits = {k: given.pop(k) for k in sizes & set(given)}
        if limits:
            given["limits"] = attrs.evolve(config.limits, **limits)
        return attrs.evolve(config, **given) if given else config
