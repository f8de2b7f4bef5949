"""How an archive is named, and where a destination files it.

Both are plain functions of an ``ArchiveInfo``: its shipping group, the
windows of its collections, its number ``index`` within the run and the
run's ``until`` (and, for a destination, its name and when it is shipped).
The defaults are today's layout; the old libraries' layouts are one line
each::

    # galaxy_ng: a minute-precision timestamp
    name = lambda a: f"galaxy-hub-analytics-{a.until:%Y-%m-%d-%H%M}-{a.index}.tar.gz"
    # metrics-utility: the first window in the name, one folder per day of it
    name = lambda a: f"{uuid}-{a.window.since:{STAMP}}-{a.window.until:{STAMP}}-{a.index}.tar.gz"
    layout = lambda a: f"data/{a.window.since:%Y/%m/%d}/{a.name}"

``gather(name=...)`` takes a name function; ``DirectoryTransport(layout=...)``
and ``S3Transport(layout=...)`` take a layout, a relative path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from attrs import frozen

from .errors import ConfigurationError, ShipError, describe_exception, message_of
from .records import Archive, Window

__all__ = [
    "STAMP",
    "ArchiveInfo",
    "Layout",
    "Namer",
    "archive_name",
    "by_ship_date",
    "NAME_MAX",
    "PREFIX_MAX",
    "check_name",
    "check_path",
    "check_prefix",
    "flat",
    "layout_path",
    "prefixed",
]

#: The timestamp format of the default names: ``2026-11-27-000000+0000``.
STAMP = "%Y-%m-%d-%H%M%S%z"

#: The most bytes one file name may take (Linux, macOS and Windows file systems).
NAME_MAX = 255
#: The longest prefix whose default names fit ``NAME_MAX``, up to archive 999999 of a run.
PREFIX_MAX = NAME_MAX - len("-2026-11-27-000000+0000-999999.tar.gz")


@frozen(kw_only=True)
class ArchiveInfo:
    """What an archive's name and path may be made of."""

    group: str
    windows: tuple[Window, ...]  # of its collections, in the order they were packed
    index: int  # the archive's number in the run, the ``n`` of the default name
    until: datetime  # the run's until
    name: str = ""  # the file name, once it has one (for layouts)
    shipped_at: datetime | None = None  # when a destination files it (for layouts)

    @property
    def window(self) -> Window:
        """The first collection's window (the old ``Package.collections[0]``)."""
        return self.windows[0] if self.windows else Window(since=self.until, until=self.until)

    @classmethod
    def from_archive(cls, archive: Archive, *, shipped_at: datetime) -> ArchiveInfo:
        """Describe a written archive for a destination's layout."""
        return cls(
            group=archive.group,
            windows=tuple(c.task.window for c in archive.collections),
            index=archive.number,
            until=archive.until,
            name=archive.name,
            shipped_at=shipped_at,
        )


Namer = Callable[[ArchiveInfo], str]
Layout = Callable[[ArchiveInfo], str]


def archive_name(prefix: str, until: datetime, n: int) -> str:
    """``<prefix>-<until:%Y-%m-%d-%H%M%S%z>-<n>.tar.gz``."""
    return f"{prefix}-{until.strftime('%Y-%m-%d-%H%M%S%z')}-{n}.tar.gz"


def prefixed(prefix: str) -> Namer:
    """Today's names: ``<prefix>-<until:%Y-%m-%d-%H%M%S%z>-<index>.tar.gz``.

    >>> from datetime import datetime, timezone
    >>> until = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> prefixed("analytics")(ArchiveInfo(group="default", windows=(), index=2, until=until))
    'analytics-2026-11-27-000000+0000-2.tar.gz'
    """

    def name(info: ArchiveInfo) -> str:
        return archive_name(prefix, info.until, info.index)

    return name


def by_ship_date(info: ArchiveInfo) -> str:
    """Today's folders: ``data/YYYY/MM/DD/<name>`` by the UTC day of shipping."""
    day = (info.shipped_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"data/{day:%Y}/{day:%m}/{day:%d}/{info.name}"


def flat(info: ArchiveInfo) -> str:
    """The archive's name alone: S3's default key under its prefix."""
    return info.name


def check_name(name: object, where: str) -> str:
    """Refuse a name that is not a plain file name; ``where`` says whose it is.

    A plain file name is one path component: not empty, not ``.`` or
    ``..`` nor hidden, no ``/``, ``\\``, NUL or other control character,
    valid Unicode (no lone surrogate), at most ``NAME_MAX`` bytes in UTF-8.

    >>> check_name("a-0.tar.gz", "name function")
    'a-0.tar.gz'
    >>> check_name("../a.tar.gz", "name function")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pipeline_collector.errors.ConfigurationError: name function gave '../a.tar.gz': ...
    """
    if not isinstance(name, str):
        raise ConfigurationError(
            f"{where} gave {type(name).__name__}: an archive name must be a string"
        )
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{where} gave {name!r}: an archive name must be valid Unicode (a lone surrogate)"
        ) from None
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise ConfigurationError(
            f"{where} gave {name!r}: an archive name must be a plain file name"
            " (no '/', '\\\\', NUL or other control character, nor a leading '.')"
        )
    if size > NAME_MAX:
        raise ConfigurationError(
            f"{where} gave a name of {size} bytes: a file name takes at most {NAME_MAX}"
        )
    return name


def check_prefix(prefix: object, where: str = "the archive prefix") -> str:
    """Refuse a prefix that would not make plain file names, before anything runs.

    ``check_name``'s rules, and at most ``PREFIX_MAX`` bytes, so that the
    default names made from it (``<prefix>-<until>-<n>.tar.gz``) fit one
    file name.

    >>> check_prefix("analytics")
    'analytics'
    >>> check_prefix("../escaped")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pipeline_collector.errors.ConfigurationError: the archive prefix gave '../escaped': ...
    """
    name = check_name(prefix, where)
    size = len(name.encode("utf-8"))
    if size > PREFIX_MAX:
        raise ConfigurationError(
            f"{where} is {size} bytes long: at most {PREFIX_MAX}, so that the archive names"
            f" made from it fit one file name ({NAME_MAX} bytes)"
        )
    return name


def check_path(path: object, where: str) -> tuple[str, ...]:
    """Split a relative path into its segments, refusing any that could leave the root.

    >>> check_path("data/2026/11/27/a-0.tar.gz", "layout")
    ('data', '2026', '11', '27', 'a-0.tar.gz')
    >>> check_path("/etc/a.tar.gz", "layout")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    pipeline_collector.errors.ConfigurationError: layout gave '/etc/a.tar.gz': ...
    """
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise ConfigurationError(f"{where} gave {path!r}: it must be a relative path")
    segments = tuple(path.split("/"))
    for segment in segments:
        try:
            check_name(segment, where)
        except ConfigurationError:
            raise ConfigurationError(
                f"{where} gave {path!r}: segment {segment!r} is empty, '.', '..', hidden"
                " or holds '\\\\' or NUL"
            ) from None
    return segments


def layout_path(layout: Layout, info: ArchiveInfo, where: str) -> tuple[str, ...]:
    """Apply a destination's layout; a layout that fails refuses the shipment, naming it.

    A ``ShipError`` (nothing was sent), never a crash of the run.
    """
    try:
        path = layout(info)
    except Exception as e:
        raise ShipError(f"{where} raised {describe_exception(e)}") from None
    try:
        return check_path(path, where)
    except ConfigurationError as e:
        raise ShipError(message_of(e)) from None
