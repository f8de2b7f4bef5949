"""Between chunk and pack, guard: a CSV header must not change under one version.

Each CSV collection's part headers are compared with the header its key
last shipped under the same version (``schemas``), and with the headers of
its earlier windows in this run.  A difference fails the collection before
any of it is packed: its parts are removed, the ledger stops its key, and
the error says which columns changed and to bump the version.  A collector
registered with ``dynamic_columns=True`` is not guarded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import attrs

from ..book.schemas import Header, describe, header_of
from ..log import logger
from ..records import Collection

__all__ = ["check", "guard", "mismatch"]

log = logger("guard")


def check(collection: Collection, known: Mapping[str, Mapping[str, Header]]) -> str | None:
    """Why ``collection``'s header may not ship under its version, or ``None``.

    >>> from datetime import datetime, timezone
    >>> from pipeline_collector.records import Collector, Part, Task, Window
    >>> at = datetime(2026, 11, 27, tzinfo=timezone.utc)
    >>> jobs = Collector(key="jobs", version="1.0", func=print, format="csv")
    >>> task = Task(collector=jobs, window=Window(since=at, until=at), seq=1)
    >>> part = Part(key="jobs", seq=1, index=0, filename="jobs.csv", path=None,
    ...             raw_size=9, deflated_size=9, crc32=0, header=b"id,host\\n")
    >>> c = Collection(task=task, status="ok", started_at=at, elapsed=0.0, parts=(part,))
    >>> check(c, {"jobs": {"1.0": ("id", "host")}}) is None
    True
    >>> error = check(c, {"jobs": {"1.0": ("id",)}})
    >>> "shipped before: id; now: id,host (added: host); bump the version" in error
    True
    """
    found = mismatch(collection, known)
    if found is None:
        return None
    collector = collection.task.collector
    return _message(collector.key, collector.version, *found)


def mismatch(
    collection: Collection, known: Mapping[str, Mapping[str, Header]]
) -> tuple[Header, Header] | None:
    """The header shipped before and the one now, when they differ under one version."""
    collector = collection.task.collector
    if collector.format != "csv" or collector.dynamic_columns or not collection.ok:
        return None
    before = known.get(collector.key, {}).get(collector.version)
    for part in collection.parts:
        now = header_of(part.header)
        if before is None:
            before = now
        elif now != before:
            return before, now
    return None


def _message(key: str, version: str, before: Header, now: Header) -> str:
    change = ""
    if not isinstance(before, str) and not isinstance(now, str):
        added = [c for c in now if c not in before]
        removed = [c for c in before if c not in now]
        bits = [f"added: {','.join(added)}"] if added else []
        bits += [f"removed: {','.join(removed)}"] if removed else []
        change = f" ({'; '.join(bits) or 'same columns, another order'})"
    return (
        f"collector {key!r} version {version}: its CSV header changed while its version did"
        f" not (the cloud parses each member by its version); shipped before:"
        f" {describe(before)}; now: {describe(now)}{change}; bump the version in"
        f" register({key!r}, ...), or register it with dynamic_columns=True if its columns"
        " are meant to vary"
    )


def guard(
    collections: Iterable[Collection], *, known: Mapping[str, Mapping[str, Header]]
) -> Iterator[Collection]:
    """Pass each collection on, failing one whose header changed under its version.

    ``known`` is what the state remembers; the first window of a key in
    this run sets what its later windows must match.
    """
    seen: dict[str, dict[str, Header]] = {k: dict(v) for k, v in known.items()}
    for c in collections:
        collector = c.task.collector
        found = mismatch(c, seen)
        if found is not None:
            for part in c.parts:
                part.path.unlink(missing_ok=True)
            before, now = found
            error = _message(c.key, collector.version, before, now)
            log.error(
                "schema.changed",
                key=c.key,
                version=collector.version,
                window=str(c.task.window),
                before=describe(before),
                now=describe(now),
                error=error,
            )
            yield attrs.evolve(c, status="failed", parts=(), rows=0, bytes=0, error=error)
            continue
        if c.ok and c.parts and collector.format == "csv" and not collector.dynamic_columns:
            seen.setdefault(c.key, {}).setdefault(collector.version, header_of(c.parts[0].header))
        yield c
