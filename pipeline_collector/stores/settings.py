"""A state store over a service's own settings, where the old library's hooks kept it.

eda-server, AWX and others keep ``last_gather`` and the entries in two
settings (``AUTOMATION_ANALYTICS_LAST_GATHER`` and
``AUTOMATION_ANALYTICS_LAST_ENTRIES``): the entries as a JSON string written
by Django's encoder, ``last_gather`` as an ISO string or a datetime.  This
store reads what they wrote and writes what they read, so a service moves
over without a data migration.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from ..book.codec import (
    check_namespace,
    decode_state_json,
    entry_key,
    format_datetime,
    parse_at,
    stored_text,
)
from ..database.db import describe_db_error
from ..errors import ConfigurationError, StateError
from ..locks.keys import STORE_WRITERS, WRITERS_LOCK
from ..log import logger
from ..records import Change, State

__all__ = ["LAST_ENTRIES", "LAST_GATHER", "SettingsStore"]

log = logger("state")

LAST_GATHER = "AUTOMATION_ANALYTICS_LAST_GATHER"
LAST_ENTRIES = "AUTOMATION_ANALYTICS_LAST_ENTRIES"

Getter = Callable[[str], Any]
Setter = Callable[[str, Any], None]
Atomic = Callable[[], contextlib.AbstractContextManager[Any]]


class SettingsStore:
    """State in two (or three) values of the service's settings.

    ``get(key)`` reads a setting (``None`` when unset) and ``set(key, value)``
    writes one.  ``last_gather`` is read as an ISO string or a datetime and
    written as ``last_gather_as`` says: ``"iso"`` (eda-server) or
    ``"datetime"`` (AWX's datetime setting).  The entries are read as a JSON
    string or a mapping, their values ISO strings (Django's encoder's
    ``...00.123Z`` included) or datetimes, and written as a JSON string.
    ``extra_key`` names a setting for the rest of the bookkeeping (the
    run history and CSV headers); without one it is not kept.

    A save writes the entries first and ``last_gather`` last, inside
    ``atomic()`` when given (``transaction.atomic`` for settings kept in the
    database), so a save cut short leaves the entries ahead, never behind.

    Whatever the settings hold, and whatever ``get`` or ``set`` raise, a
    load or a save that fails is a ``StateError`` naming the setting, in one
    line with anything like a password blanked (a getter that reads the
    database may fail with its connection string in the message).

    ``update`` reads the entries again and writes them back with only the
    changed keys set, so runs over other keys keep theirs.  Runs that update
    at once must take turns: ``atomic`` is to make the read and the write one
    exclusive step (``from_django(using=...)`` takes a PostgreSQL advisory
    lock in the transaction); without that, one run's keys can be lost.

    ``namespace`` keeps a tenant's bookkeeping in settings of its own: each
    key becomes ``<key>:<namespace>`` (``AUTOMATION_ANALYTICS_LAST_GATHER:eu``),
    so tenants sharing the settings never write the same one.
    """

    def __init__(
        self,
        get: Getter,
        set: Setter,
        *,
        last_gather_key: str = LAST_GATHER,
        entries_key: str = LAST_ENTRIES,
        extra_key: str | None = None,
        last_gather_as: Literal["iso", "datetime"] = "iso",
        atomic: Atomic | None = None,
        namespace: str | None = None,
    ) -> None:
        if last_gather_as not in ("iso", "datetime"):
            raise ConfigurationError(
                f"last_gather_as must be 'iso' or 'datetime', not {last_gather_as!r}"
            )
        self.namespace = check_namespace(namespace)
        tenant = "" if namespace is None else f":{namespace}"
        self._get = get
        self._set = set
        self.last_gather_key = last_gather_key + tenant
        self.entries_key = entries_key + tenant
        self.extra_key = None if extra_key is None else extra_key + tenant
        self.last_gather_as = last_gather_as
        self._atomic = atomic

    @classmethod
    def from_django(
        cls,
        settings: Any = None,
        *,
        using: str | None = None,
        last_gather_key: str = LAST_GATHER,
        entries_key: str = LAST_ENTRIES,
        extra_key: str | None = None,
        last_gather_as: Literal["iso", "datetime"] = "iso",
        namespace: str | None = None,
    ) -> SettingsStore:
        """Over settings read and written as attributes (``django.conf.settings`` by default).

        A service whose settings live in its database (eda-server's
        ``application_settings``, AWX's ``settings``) passes that object;
        ``using`` names the database alias whose ``transaction.atomic`` wraps
        each save; on PostgreSQL it also holds an advisory lock for the
        transaction, so runs sharing the settings save in turn.
        """
        if settings is None:
            from django.conf import settings as django_settings

            settings = django_settings
        atomic: Atomic | None = None
        if using is not None:
            alias, name = using, entries_key + ("" if namespace is None else f":{namespace}")

            def atomic() -> contextlib.AbstractContextManager[Any]:
                return _django_exclusive(alias, name)

        return cls(
            lambda key: getattr(settings, key, None),
            lambda key, value: setattr(settings, key, value),
            last_gather_key=last_gather_key,
            entries_key=entries_key,
            extra_key=extra_key,
            last_gather_as=last_gather_as,
            atomic=atomic,
            namespace=namespace,
        )

    def __repr__(self) -> str:
        keys = f"last_gather_key={self.last_gather_key!r}, entries_key={self.entries_key!r}"
        return f"SettingsStore({keys})"

    def _read(self, key: str) -> Any:
        try:
            return self._get(key)
        except Exception as exc:
            raise StateError(f"setting {key}: cannot read it: {describe_db_error(exc)}") from None

    def load(self) -> State:
        """Read the state; an empty ``State`` when the settings are unset or empty."""
        key = self.last_gather_key
        try:
            last = self._read(key)
            last_gather = None if _unset(last) else _at(last, key)
            key = self.entries_key
            entries = _entries(self._read(key), key)
            extra: dict[str, Any] = {}
            if self.extra_key is not None:
                key = self.extra_key
                extra = _extra(self._read(key), key)
        except StateError:
            raise
        except Exception as exc:  # a value of a kind nothing here expected, that failed
            raise StateError(f"setting {key}: cannot read it: {describe_db_error(exc)}") from None
        state = State(
            namespace=self.namespace, last_gather=last_gather, entries=entries, extra=extra
        )
        log.debug("state.loaded", store="settings", entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Write the entries (and extra), then ``last_gather`` when there is one."""
        entries = json.dumps(
            {k: format_datetime(v) for k, v in state.entries.items()}, sort_keys=True
        )
        writes: list[tuple[str, Any]] = []
        if self.extra_key is not None:
            try:
                writes.append((self.extra_key, json.dumps(dict(state.extra), sort_keys=True)))
            except (TypeError, ValueError) as exc:
                raise StateError(f"setting {self.extra_key}: extra is not JSON: {exc}") from None
        writes.append((self.entries_key, entries))
        if state.last_gather is not None:
            format_datetime(state.last_gather)  # refuses a naive one before anything is written
            value: Any = state.last_gather
            if self.last_gather_as == "iso":
                value = format_datetime(state.last_gather)
            writes.append((self.last_gather_key, value))
        with self._atomic() if self._atomic is not None else contextlib.nullcontext():
            for key, value in writes:
                self._write(key, value)

    def update(self, change: Change) -> None:
        """Set only the items of ``change``: the entries read again, the changed keys set.

        An empty change writes the entries back as they are: it proves the
        settings writable.
        """
        with self._atomic() if self._atomic is not None else contextlib.nullcontext():
            if change.entries or change.empty:
                entries = _raw(self._read(self.entries_key), self.entries_key)
                entries.update({k: format_datetime(v) for k, v in change.entries.items()})
                self._write(self.entries_key, _dumps(entries, self.entries_key))
            if change.extra and self.extra_key is not None:
                extra = _raw(self._read(self.extra_key), self.extra_key)
                extra.update(change.extra)
                self._write(self.extra_key, _dumps(extra, self.extra_key))
            if change.last_gather is not None:
                value: Any = change.last_gather
                if self.last_gather_as == "iso":
                    value = format_datetime(change.last_gather)
                else:
                    format_datetime(value)  # refuses a naive one
                self._write(self.last_gather_key, value)

    def _write(self, key: str, value: Any) -> None:
        try:
            self._set(key, value)
        except Exception as exc:
            raise StateError(f"setting {key}: cannot write it: {describe_db_error(exc)}") from None


@contextlib.contextmanager
def _django_exclusive(alias: str, name: str) -> Iterator[None]:
    """``transaction.atomic(using=alias)``, holding on PostgreSQL an advisory lock on ``name``.

    ``update`` reads the entries and writes them back: two runs over other keys
    doing so at once, each at READ COMMITTED, would both read the old value and
    the second write would drop the first's keys.  The lock (the stores'
    writers' lock, on the setting's name), released when the transaction ends,
    makes them take turns.  Other databases serialize their
    writers themselves (SQLite) or have no transaction-level lock to take.
    """
    from django.db import connections, transaction

    with transaction.atomic(using=alias):
        connection = connections[alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(WRITERS_LOCK, [STORE_WRITERS, name])
        yield


def _at(value: object, key: str) -> datetime:
    """A stored datetime: an aware ``datetime`` as it is, an ISO string parsed."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise StateError(f"setting {key}: a datetime without a timezone: {value.isoformat()}")
        return value
    return parse_at(value, f"setting {key}")


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _decoded(value: object, key: str) -> object:
    """A setting that holds JSON text, decoded within bounds; anything else as it is."""
    if not isinstance(value, (str, bytes)):
        return value
    where = f"setting {key}"
    if isinstance(value, bytes):
        value = stored_text(value, where)
    if not value.strip():
        return {}
    try:
        return decode_state_json(value, where)
    except StateError:
        if "'" not in value:
            raise
    # eda-server reads its entries after turning single quotes into double
    # ones, so a dict's repr stored there once still loads; so does it here.
    return decode_state_json(value.replace("'", '"'), where)


def _raw(value: object, key: str) -> dict[str, Any]:
    """A setting that holds a JSON object, decoded as stored: datetimes written as ISO."""
    raw = {} if value is None else _decoded(value, key)
    if not isinstance(raw, Mapping):
        raise StateError(f"setting {key}: expected a JSON object, got {type(raw).__name__}")
    return {str(k): format_datetime(v) if isinstance(v, datetime) else v for k, v in raw.items()}


def _dumps(value: dict[str, Any], key: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StateError(f"setting {key}: cannot be written as JSON: {exc}") from None


def _entries(value: object, key: str) -> dict[str, datetime]:
    raw = {} if value is None else _decoded(value, key)
    if not isinstance(raw, Mapping):
        raise StateError(f"setting {key}: expected a JSON object, got {type(raw).__name__}")
    where = f"setting {key}"
    return {entry_key(k, where): _at(v, f"{key}[{k!r}]") for k, v in raw.items()}


def _extra(value: object, key: str) -> dict[str, Any]:
    raw = {} if value is None else _decoded(value, key)
    if not isinstance(raw, Mapping):
        raise StateError(f"setting {key}: expected a JSON object, got {type(raw).__name__}")
    return dict(raw)
