"""``settings.PIPELINE_COLLECTOR``: what a service's run is, read into what ``gather`` takes.

Keys (upper case, as Django's own settings dicts)::

    PIPELINE_COLLECTOR = {
        "COLLECTORS": "myservice.analytics.collectors",   # required: the collector module
        "TRANSPORT": {"URL": ..., "CONTENT_TYPE": ..., "AUTH": ...},   # or {"DIRECTORY": path}
        "STORE": {"TABLE": "pipeline_collector_state"},  # or {"SETTINGS": ...}, see below
        "LOCK": {"NAME": "gather_analytics_lock", "SCHEME": "sha512"},
        "DATABASE": "default",          # the connection the store and the lock use
        "MAX_DATA_SIZE": "200MiB", "MAX_UPLOAD_SIZE": "100MiB", "HORIZON": "4w",
        "PREFIX": "analytics", "WORKDIR": None,
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
import importlib
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from ..book.codec import DEFAULT_TABLE
from ..config import RunConfig
from ..errors import ConfigurationError
from ..naming import Namer
from ..protocols import Lock, StateStore, Transport
from ..run.hooks import ConfigHook
from ..stores.settings import LAST_ENTRIES, LAST_GATHER

__all__ = ["SETTING", "Service", "read", "transport"]

SETTING = "PIPELINE_COLLECTOR"

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
    }
)
_HTTP = frozenset(
    {"URL", "CONTENT_TYPE", "AUTH", "CA_BUNDLE", "HEADERS", "PROXY", "TIMEOUT", "ALLOW_INSECURE"}
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


def _where(key: str, sub: str | None = None) -> str:
    return f"{SETTING}[{key!r}]" + (f"[{sub!r}]" if sub else "")


def _import(path: str, where: str) -> Any:
    """``package.module.name`` (or ``package.module:name``) -> the object."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigurationError(f"{where}: cannot import {path!r}: {e}") from None


def _object(value: Any, where: str, fits: Callable[[Any], bool], what: str) -> Any:
    """An object that ``fits``: given, at a dotted path, or made by a callable found either way."""
    if isinstance(value, str):
        value = _import(value, where)
    if not fits(value) and callable(value):
        try:
            value = value()
        except (ConfigurationError, TypeError) as e:
            raise ConfigurationError(f"{where}: {e}") from None
    if not fits(value):
        raise ConfigurationError(f"{where}: expected {what}, got {type(value).__name__}")
    return value


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


def _keys(block: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(block) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )


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


def _transport(value: Any) -> Transport:
    where = _where("TRANSPORT")
    if value is None:
        raise ConfigurationError(f"{where} is needed to ship: a directory, a URL or an object")
    if not isinstance(value, Mapping):
        found: Transport = _object(value, where, lambda v: isinstance(v, Transport), "a transport")
        return found
    if "DIRECTORY" in value:
        from ..transports import DirectoryTransport

        _keys(value, frozenset({"DIRECTORY"}), where)
        return DirectoryTransport(Path(value["DIRECTORY"]))
    _keys(value, _HTTP, where)
    if not value.get("URL") or not value.get("CONTENT_TYPE"):
        raise ConfigurationError(
            f"{where}: give DIRECTORY, or URL and CONTENT_TYPE (the service's registered type)"
        )
    from ..transports import Auth, HttpTransport

    auth = value.get("AUTH")
    if auth is not None:
        auth = _object(auth, _where("TRANSPORT", "AUTH"), lambda v: isinstance(v, Auth), "an auth")
    timeout = float(value.get("TIMEOUT") or 31.0)
    return HttpTransport(
        url=value["URL"],
        content_type=value["CONTENT_TYPE"],
        auth=auth,
        verify=value.get("CA_BUNDLE") or True,
        headers=dict(value.get("HEADERS") or {}),
        proxy=value.get("PROXY"),
        timeout=(timeout, timeout),
        allow_insecure=bool(value.get("ALLOW_INSECURE")),
    )


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
        return importlib.import_module(value)
    except ImportError as e:
        raise ConfigurationError(f"{where}: cannot import {value!r}: {e}") from None


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
    return _transport(_setting(raw).get("TRANSPORT"))


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
