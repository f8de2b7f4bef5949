"""A state store in one JSON file, replaced atomically on every save."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from ..book.codec import (
    MAX_STATE_SIZE,
    NAMESPACES,
    check_namespace,
    decode_state_json,
    patch_document,
    state_from_document,
    state_to_document,
)
from ..errors import ConfigurationError, StateError
from ..log import logger
from ..records import Change, State

__all__ = ["EntriesForm", "JsonFileStore"]

log = logger("state")

EntriesForm = Literal["auto", "object", "string"]


class JsonFileStore:
    """State in one JSON file, replaced atomically on every save.

    The file is an object ``{"last_gather": ISO, "entries": {key: ISO}, ...}``.
    ``entries`` may also be a JSON-encoded string (as AWX keeps
    ``AUTOMATION_ANALYTICS_LAST_ENTRIES``); with ``entries_form="auto"`` it is
    written back in the form it was read in.  Other top-level keys are kept in
    ``State.extra`` and written back as they were.

    ``namespace`` keeps a tenant's state apart in a file several tenants
    share: under ``"namespaces": {name: {...}}``, in the same shape, beside
    the top-level state the old library reads.  A save changes only its own
    namespace; ``update`` only the items it is given.  Each save reads the
    file again and writes it under a lock on its folder, so tenants and runs
    saving at once never undo each other's saves.

    A file that cannot be read raises ``StateError`` and is left as it is.
    A save writes a temporary file in the same folder, syncs it, renames it
    over the old one (mode 0600) and syncs the folder: a crash leaves either
    the old state or the new one, never a torn file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        entries_form: EntriesForm = "auto",
        namespace: str | None = None,
    ) -> None:
        if entries_form not in ("auto", "object", "string"):
            raise ConfigurationError(
                f"entries_form must be auto, object or string: {entries_form!r}"
            )
        self.path = Path(path)
        self.entries_form: EntriesForm = entries_form
        self.namespace = check_namespace(namespace)
        self._entries_as_string = entries_form == "string"
        # The file as this store last wrote it, and its document: a save
        # whose file is unchanged since then skips decoding it again.
        self._written: tuple[bytes, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        tenant = "" if self.namespace is None else f", namespace={self.namespace!r}"
        return f"JsonFileStore({str(self.path)!r}{tenant})"

    @property
    def _where(self) -> str:
        return str(self.path) + ("" if self.namespace is None else f" [{self.namespace}]")

    def load(self) -> State:
        """Read the state; an empty ``State`` when the file (or its namespace) holds none."""
        raw = self._read()
        if raw is None:
            log.info("state.missing", store="json", path=str(self.path))
            return State(namespace=self.namespace)
        slot = _slot(_decode(raw, self.path), self.namespace, self._where)
        if slot is None:
            return State(namespace=self.namespace)
        state, as_string = state_from_document(slot, self._where)
        if self.entries_form == "auto" and self.namespace is None:
            self._entries_as_string = as_string
        log.debug("state.loaded", store="json", path=str(self.path), entries=len(state.entries))
        return state if self.namespace is None else _tenant(state, self.namespace)

    def save(self, state: State) -> None:
        """Replace this namespace's state with ``state``, atomically; the rest stays."""
        if NAMESPACES in state.extra:
            raise StateError(f"{self._where}: extra may not be named {NAMESPACES!r}")
        as_string = self._entries_as_string and self.namespace is None
        new = state_to_document(state, entries_as_string=as_string)
        self._rewrite(lambda _old: new)

    def update(self, change: Change) -> None:
        """Merge ``change`` into this namespace's state, atomically; the rest stays.

        An empty change rewrites the file as it is: it proves the store writable.
        """
        if NAMESPACES in change.extra:
            raise StateError(f"{self._where}: extra may not be named {NAMESPACES!r}")
        self._rewrite(lambda old: patch_document(old, change, self._where))

    def _read(self) -> bytes | None:
        try:
            with self.path.open("rb") as handle:
                return handle.read(MAX_STATE_SIZE + 1)  # a larger file is refused unread
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state file: {exc.strerror}") from None

    def _rewrite(self, new_slot: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Read the file under the folder's lock, replace this namespace's slot, write it back."""
        with _folder_lock(self.path):
            raw = self._read()
            if raw is None:
                document: dict[str, Any] = {}
            elif self._written is not None and self._written[0] == raw:
                document = self._written[1]
            else:
                document = _decode(raw, self.path)
            old = _slot(document, self.namespace, self._where)
            slot = new_slot(old if old is not None else _empty_slot())
            if self.namespace is None:
                if self.entries_form != "auto":
                    slot = _in_form(slot, as_string=self.entries_form == "string")
                new = dict(slot)
                if NAMESPACES in document:
                    new[NAMESPACES] = document[NAMESPACES]
            else:
                tenants = {**(document.get(NAMESPACES) or {}), self.namespace: slot}
                new = {**document, NAMESPACES: tenants}
            try:
                # One line, keys sorted: the C encoder writes it (an indented
                # document takes the slow one, over 1 ms for 2,000 keys).
                data = (json.dumps(new, sort_keys=True) + "\n").encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise StateError(f"{self._where}: state cannot be written as JSON: {exc}") from None
            _atomic_write(self.path, data)
            self._written = (data, new)


def _empty_slot() -> dict[str, Any]:
    return {"last_gather": None, "entries": {}}


def _in_form(slot: dict[str, Any], *, as_string: bool) -> dict[str, Any]:
    """``slot`` with its entries an object, or a JSON-encoded string."""
    entries = slot.get("entries")
    if as_string and isinstance(entries, dict):
        return {**slot, "entries": json.dumps(entries, sort_keys=True)}
    if not as_string and isinstance(entries, str):
        try:
            return {**slot, "entries": json.loads(entries) if entries.strip() else {}}
        except json.JSONDecodeError:
            raise StateError("the state file's entries is a string but not valid JSON") from None
    return slot


def _decode(raw: bytes, path: Path) -> dict[str, Any]:
    """The file's document, within the JSON bounds; anything but an object is a ``StateError``."""
    if not raw.strip():
        raise StateError(f"{path}: state file is empty")
    data = decode_state_json(raw, f"{path}: state file")
    if not isinstance(data, dict):
        raise StateError(f"{path}: state must be a JSON object, got {type(data).__name__}")
    return data


def _slot(document: dict[str, Any], namespace: str | None, where: str) -> dict[str, Any] | None:
    """The part of the document that holds ``namespace``'s state (``None``: nothing yet)."""
    tenants = document.get(NAMESPACES)
    if tenants is not None and not isinstance(tenants, dict):
        raise StateError(f"{where}: {NAMESPACES} must be an object, got {type(tenants).__name__}")
    if namespace is None:
        return {k: v for k, v in document.items() if k != NAMESPACES}
    if tenants is None or namespace not in tenants:
        return None
    slot = tenants[namespace]
    if not isinstance(slot, dict):
        raise StateError(f"{where}: the namespace must be an object, got {type(slot).__name__}")
    return slot


def _tenant(state: State, namespace: str) -> State:
    return State(
        last_gather=state.last_gather,
        entries=state.entries,
        extra=state.extra,
        namespace=namespace,
    )


@contextlib.contextmanager
def _folder_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the state file's folder (made if missing) while saving."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise StateError(f"{path}: cannot write state file: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise StateError(f"{path}: cannot lock its folder to save: {exc.strerror}") from None
        yield
    finally:
        os.close(fd)  # closing the folder drops the lock


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StateError(f"{path}: cannot write state file: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StateError(f"{path}: cannot write state file: {exc.strerror}") from None
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder itself is synced.
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
