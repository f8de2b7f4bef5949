"""``settings.PIPELINE_COLLECTOR``: what a service's run is, read into what ``gather`` takes.

Keys (upper case, as Django's own settings dicts)::

    PIPELINE_COLLECTOR = {
        "COLLECTORS": "myservice.analytics.collectors",   # required: the collector module
        "TRANSPORT": {"URL": ..., "CONTENT_TYPE": ..., "AUTH": ...},   # or {"DIRECTORY": path}
        "STORE": {"TABLE": "pipeline_collector_state"},  # or {"SETTINGS": ...}, see below
        "LOCK": {"NAME": "gather_analytics_lock", "SCHEME": "sha512"},
        "DATABASE": "default",          # the connection the store and the lock use
        "MAX_DATA_SIZE": "200MiB", "MAX_UPLOAD_SIZE": "100MiB", "HORIZON": "4w",
        "PREFIX": "analytics", "WORKDIR": None, "TASK_TIMEOUT": 600,
        "IS_LICENSED": ..., "IS_SHIPPING_CONFIGURED": ...,   # callables, paths or booleans
        "NAME": ..., "AMEND_CONFIG": ...,
    }

Wherever an object goes (transport, store, lock, auth, a gate) a dotted path
to it or a callable returning it does too.  ``STORE`` with ``SETTINGS``
keeps the bookkeeping in the service's settings (``True`` for
``django.conf.settings``, or a path to a settings object such as
eda-server's ``application_settings``), under ``LAST_GATHER`` and
``LAST_ENTRIES`` (AWX's names by default).  ``LOCK: False`` takes no
database lock.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import ModuleType
from typing import Any

import attrs

from ..book.codec import DEFAULT_TABLE
from ..config import RunConfig
from ..errors import ConfigurationError
from ..naming import Namer
from ..protocols import Lock, StateStore, Transport
from ..run.hooks import ConfigHook
from ..stages.modules import load_collector_module
from ..stores.settings import LAST_ENTRIES, LAST_GATHER
from . import destination
from .destination import seconds
from .values import SETTING
from .values import keys as _keys
from .values import load as _import
from .values import obj as _object
from .values import where as _where

__all__ = ["SETTING", "Service", "read", "transport"]


_KEYS = frozenset(
    {
        "COLLECTORS",
        "TRANSPORT",
        "STORE",
        "LOCK",
        "DATABASE",
        "MAX_DATA_SIZE",
        "MAX_UPLOAD_SIZE",
        "HORIZON",
        "PREFIX",
        "WORKDIR",
        "IS_LICENSED",
        "IS_SHIPPING_CONFIGURED",
        "NAME",
        "AMEND_CONFIG",
        "TASK_TIMEOUT",
    }
)
_TABLE = frozenset({"TABLE", "DATABASE"})
_SETTINGS = frozenset(
    {"SETTINGS", "LAST_GATHER", "LAST_ENTRIES", "EXTRA", "LAST_GATHER_AS", "DATABASE"}
)
_LOCK = frozenset({"NAME", "SCHEME", "TIMEOUT", "DATABASE"})


@attrs.frozen(kw_only=True)
class Service:
    """A service's run as ``PIPELINE_COLLECTOR`` describes it, but for the transport.

    The transport is built by ``transport()``, only for a run that ships and
    only once its gates let it: a service whose shipping is not configured
    may well have no URL to build one from.
    """

    collectors: ModuleType
    state: StateStore
    lock: Lock | None
    config: RunConfig  # limits, horizon, prefix, work folder; mode and window come per run
    is_licensed: Callable[[], bool] | None
    is_shipping_configured: Callable[[], bool] | None
    name: Namer | None
    amend_config: ConfigHook | None


def _callable(value: Any, where: str) -> Callable[..., Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = _import(value, where)
    if not callable(value):
        raise ConfigurationError(f"{where}: expected a callable or a dotted path to one")
    found: Callable[..., Any] = value
    return found


def _gate(value: Any, where: str) -> Callable[[], bool] | None:
    if isinstance(value, bool):
        return lambda: value
    return _callable(value, where)


def _size(value: Any, where: str) -> int | None:
    from ..cli.options import parse_size

    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    try:
        return parse_size(str(value))
    except argparse.ArgumentTypeError as e:
        raise ConfigurationError(f"{where}: {e}") from None


def _horizon(value: Any, where: str) -> timedelta | None:
    from ..cli.options import parse_duration

    if value is None:
        return None
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    try:
        return parse_duration(str(value))
    except argparse.ArgumentTypeError as e:
        raise ConfigurationError(f"{where}: {e} (or a timedelta)") from None


def _connection(alias: str, where: str) -> Any:
    """The connection for ``alias``, resolved per thread as ``django.db.connection`` is."""
    from django.db import connections
    from django.utils.connection import ConnectionProxy

    if alias not in connections:
        raise ConfigurationError(f"{where}: no database {alias!r} in DATABASES")
    return ConnectionProxy(connections, alias)


def _store(value: Any, database: str) -> StateStore:
    where = _where("STORE")
    if not isinstance(value, Mapping) and value is not None:
        found: StateStore = _object(
            value, where, lambda v: isinstance(v, StateStore), "a state store"
        )
        return found
    block: Mapping[str, Any] = value or {}
    if "SETTINGS" in block:
        from ..stores import SettingsStore

        _keys(block, _SETTINGS, where)
        target = block["SETTINGS"]
        settings = None if target is True else target
        if isinstance(settings, str):
            settings = _import(settings, _where("STORE", "SETTINGS"))
        return SettingsStore.from_django(
            settings,
            using=block.get("DATABASE"),
            last_gather_key=block.get("LAST_GATHER", LAST_GATHER),
            entries_key=block.get("LAST_ENTRIES", LAST_ENTRIES),
            extra_key=block.get("EXTRA"),
            last_gather_as=block.get("LAST_GATHER_AS", "iso"),
        )
    from ..stores import PostgresStore

    _keys(block, _TABLE, where)
    alias = block.get("DATABASE", database)
    try:
        return PostgresStore(_connection(alias, where), table=block.get("TABLE", DEFAULT_TABLE))
    except TypeError as e:
        raise ConfigurationError(f"{where}: {e}") from None


def _lock(value: Any, database: str) -> Lock | None:
    where = _where("LOCK")
    if value is False:
        return None
    if not isinstance(value, Mapping) and value is not None:
        found: Lock = _object(value, where, lambda v: isinstance(v, Lock), "a lock")
        return found
    from ..locks import PostgresAdvisoryLock

    block: Mapping[str, Any] = value or {}
    _keys(block, _LOCK, where)
    try:
        return PostgresAdvisoryLock(
            _connection(block.get("DATABASE", database), where),
            block.get("NAME", "gather_analytics_lock"),
            scheme=block.get("SCHEME", "sha512"),
            timeout=block.get("TIMEOUT"),
        )
    except TypeError as e:
        raise ConfigurationError(f"{where}: {e}") from None


def _collectors(value: Any) -> ModuleType:
    where = _where("COLLECTORS")
    if isinstance(value, ModuleType):
        return value
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where} must name the collector module, e.g. 'myapp.collectors'")
    try:
        return load_collector_module(value)
    except ConfigurationError as e:
        raise ConfigurationError(f"{where}: {e}") from None


def _setting(raw: Any) -> Mapping[str, Any]:
    if raw is None:
        from django.conf import settings

        raw = getattr(settings, SETTING, None)
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"settings.{SETTING} must be a dict naming at least COLLECTORS, e.g. "
            f"{SETTING} = {{'COLLECTORS': 'myapp.collectors'}}"
        )
    _keys(raw, _KEYS, f"settings.{SETTING}")
    return raw


def _config(raw: Mapping[str, Any]) -> RunConfig:
    """The run's configuration from the dict: only what it gives; the rest is the record's."""
    values: dict[str, Any] = {
        "max_data_size": _size(raw.get("MAX_DATA_SIZE"), _where("MAX_DATA_SIZE")),
        "max_upload_size": _size(raw.get("MAX_UPLOAD_SIZE"), _where("MAX_UPLOAD_SIZE")),
        "horizon": _horizon(raw.get("HORIZON"), _where("HORIZON")),
        "prefix": raw.get("PREFIX"),
        "workdir": raw.get("WORKDIR"),
        "task_timeout": None
        if raw.get("TASK_TIMEOUT") is None
        else seconds(raw["TASK_TIMEOUT"], _where("TASK_TIMEOUT")),
    }
    try:
        return RunConfig.from_values(None, **values)
    except ConfigurationError as e:
        text = re.sub(r"^([a-z_]+)=", lambda m: f"{_where(m.group(1).upper())}=", str(e))
        raise ConfigurationError(text) from None
    except TypeError as e:  # a path of the wrong type for WORKDIR
        raise ConfigurationError(f"{_where('WORKDIR')}: {e}") from None


def transport(raw: Any = None) -> Transport:
    """The transport ``PIPELINE_COLLECTOR['TRANSPORT']`` names (Django's settings unless given)."""
    return destination.build(_setting(raw).get("TRANSPORT"))


def read(raw: Any = None) -> Service:
    """Read ``PIPELINE_COLLECTOR`` (Django's settings unless given) into a ``Service``."""
    raw = _setting(raw)
    database = raw.get("DATABASE", "default")
    return Service(
        collectors=_collectors(raw.get("COLLECTORS")),
        state=_store(raw.get("STORE"), database),
        lock=_lock(raw.get("LOCK"), database),
        config=_config(raw),
        is_licensed=_gate(raw.get("IS_LICENSED"), _where("IS_LICENSED")),
        is_shipping_configured=_gate(
            raw.get("IS_SHIPPING_CONFIGURED"), _where("IS_SHIPPING_CONFIGURED")
        ),
        name=_callable(raw.get("NAME"), _where("NAME")),
        amend_config=_callable(raw.get("AMEND_CONFIG"), _where("AMEND_CONFIG")),
    )
