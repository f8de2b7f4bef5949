"""AWX's own ``register`` and ``gather``, reproduced to compare against.

It follows the algorithm of ``awx/main/analytics/core.py`` (``register``,
``calculate_collection_interval``, ``gather``) on a plain psycopg connection
instead of Django: the bookkeeping is read from and written to the
``conf_setting`` table (``AUTOMATION_ANALYTICS_LAST_GATHER`` and
``AUTOMATION_ANALYTICS_LAST_ENTRIES``) as AWX's settings wrapper does
(``support.awx_schema``), datetimes are encoded as Django's
``DjangoJSONEncoder`` does (milliseconds, ``Z``), the config collector is
the one keyed ``config``, slicers are called by position with ``since=None``
unless one was asked for, JSON goes into one archive and each CSV file into
its own, with ``config.json``.
"""

from __future__ import annotations

import inspect
import io
import json
import tarfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import attrs

from support import awx_schema

F = TypeVar("F", bound=Callable[..., Any])

HORIZON = timedelta(weeks=4)
ENTRIES = "AUTOMATION_ANALYTICS_LAST_ENTRIES"
LAST_GATHER = "AUTOMATION_ANALYTICS_LAST_GATHER"


def register(
    key: str,
    version: str,
    description: str | None = None,
    format: str = "json",
    expensive: Callable[..., Any] | None = None,
    full_sync_interval: int | None = None,
) -> Callable[[F], F]:
    """AWX's decorator: its attribute names, its keywords."""

    def decorate(f: F) -> F:
        f.__awx_analytics_key__ = key  # type: ignore[attr-defined]
        f.__awx_analytics_version__ = version  # type: ignore[attr-defined]
        f.__awx_analytics_description__ = description  # type: ignore[attr-defined]
        f.__awx_analytics_type__ = format  # type: ignore[attr-defined]
        f.__awx_expensive__ = expensive  # type: ignore[attr-defined]
        f.__awx_full_sync_interval__ = full_sync_interval  # type: ignore[attr-defined]
        return f

    return decorate


def django_datetime(value: datetime) -> str:
    """What ``DjangoJSONEncoder`` writes for an aware datetime."""
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return django_datetime(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


def _hook(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        try:
            out[key] = _parse(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def read_setting(conn: Any, key: str) -> Any:
    row = conn.execute(
        "SELECT value FROM conf_setting WHERE key = %s AND user_id IS NULL ORDER BY id LIMIT 1",
        (key,),
    ).fetchone()
    return None if row is None else row[0]


def write_setting(conn: Any, key: str, value: str) -> None:
    """As AWX's settings wrapper writes a system setting (``awx_schema``)."""
    awx_schema.write_setting(conn, key, value)


def last_entries(conn: Any) -> dict[str, Any]:
    value = read_setting(conn, ENTRIES)
    parsed: dict[str, Any] = json.loads(value or "{}", object_hook=_hook)
    return parsed


@attrs.define
class Shipped:
    """What one AWX gather produced: archives, and the windows each key was collected over."""

    archives: list[Path] = attrs.Factory(list)
    windows: dict[str, list[tuple[datetime, datetime]]] = attrs.Factory(dict)


def gather(
    module: ModuleType,
    conn: Any,
    dest: Path,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    collection_type: str = "manual",
) -> Shipped:
    """AWX's ``gather``: archives land in ``dest`` (shipping always succeeds)."""
    shipped = Shipped()
    # calculate_collection_interval
    until = min(until or now, now)
    if since is not None and since < until - HORIZON:
        since = until - HORIZON
    horizon = until - HORIZON
    stored = read_setting(conn, LAST_GATHER)
    last_gather = max(_parse(stored) if stored else horizon, horizon)
    entries = last_entries(conn)

    funcs: list[Any] = [
        f
        for _, f in inspect.getmembers(module)
        if inspect.isfunction(f) and hasattr(f, "__awx_analytics_key__")
    ]
    json_funcs = [f for f in funcs if f.__awx_analytics_type__ == "json"]
    csv_funcs = [f for f in funcs if f.__awx_analytics_type__ == "csv"]
    stage = dest / "stage"
    stage.mkdir(parents=True)
    shipping = collection_type != "dry-run"

    def save() -> None:
        write_setting(conn, ENTRIES, json.dumps(entries, default=_encode))

    data: dict[str, tuple[Any, str]] = {}
    for f in json_funcs:
        key = f.__awx_analytics_key__
        last_entry = max(entries.get(key) or last_gather, until - HORIZON)
        data[f"{key}.json"] = (
            f(since or last_entry, collection_type=collection_type, until=until),
            f.__awx_analytics_version__,
        )
    config = data["config.json"]
    shipped.archives.append(_package(dest, data, until))
    if shipping:
        for filename in data:
            key = filename.removesuffix(".json")
            entries[key] = max(entries[key], until) if entries.get(key) else until
        save()

    for f in csv_funcs:
        key = f.__awx_analytics_key__
        full = False
        if f.__awx_full_sync_interval__:
            last_full = entries.get(f"{key}_full")
            full = not last_full or last_full < now - timedelta(days=f.__awx_full_sync_interval__)
        slicer = f.__awx_expensive__ or module.trivial_slicing
        for start, end in slicer(key, since, until, last_gather, full_sync_enabled=full):
            shipped.windows.setdefault(key, []).append((start, end))
            files = f(start, full_path=stage, until=end)
            for path in files or []:
                payload = {f"{key}.csv": (path, f.__awx_analytics_version__), "config.json": config}
                shipped.archives.append(_package(dest, payload, until))
            if shipping:
                entry = entries.get(key)
                entries[key] = max(entry, end) if entry else end
                save()
        if full and shipping:
            entries[f"{key}_full"] = now
            save()
    if shipping:
        stored_last = read_setting(conn, LAST_GATHER)
        if not stored_last or until > _parse(stored_last):
            write_setting(conn, LAST_GATHER, django_datetime(until))
    return shipped


def _package(dest: Path, data: dict[str, tuple[Any, str]], until: datetime) -> Path:
    base = f"awx-{until:%Y-%m-%d-%H%M%S%z}"
    path = dest / f"{base}-{len(list(dest.glob(f'{base}-*.*')))}.tar.gz"
    manifest = {}
    with tarfile.open(path, "w:gz") as tar:
        for name, (item, version) in data.items():
            if isinstance(item, (str, Path)):
                tar.add(str(item), arcname=f"./{name}")
            else:
                blob = json.dumps(item, default=_encode).encode()
                info = tarfile.TarInfo(f"./{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
            manifest[name] = version
        blob = json.dumps(manifest).encode()
        info = tarfile.TarInfo("./manifest.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    return path
