"""A state store in one JSON file, replaced atomically on every save."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from ..book.codec import (
    MAX_STATE_SIZE,
    decode_state_json,
    state_from_document,
    state_to_document,
)
from ..errors import ConfigurationError, StateError
from ..log import logger
from ..records import State

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

    A file that cannot be read raises ``StateError`` and is left as it is.
    ``save`` writes a temporary file in the same folder, syncs it, renames it
    over the old one (mode 0600) and syncs the folder: a crash leaves either
    the old state or the new one, never a torn file.
    """

    def __init__(self, path: str | os.PathLike[str], *, entries_form: EntriesForm = "auto") -> None:
        if entries_form not in ("auto", "object", "string"):
            raise ConfigurationError(
                f"entries_form must be auto, object or string: {entries_form!r}"
            )
        self.path = Path(path)
        self.entries_form: EntriesForm = entries_form
        self._entries_as_string = entries_form == "string"

    def __repr__(self) -> str:
        return f"JsonFileStore({str(self.path)!r})"

    def load(self) -> State:
        """Read the state; an empty ``State`` when the file does not exist."""
        try:
            with self.path.open("rb") as handle:
                raw = handle.read(MAX_STATE_SIZE + 1)  # a larger file is refused unread
        except FileNotFoundError:
            log.info("state.missing", store="json", path=str(self.path))
            return State()
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state file: {exc.strerror}") from None
        if not raw.strip():
            raise StateError(f"{self.path}: state file is empty")
        data = decode_state_json(raw, f"{self.path}: state file")
        state, as_string = state_from_document(data, str(self.path))
        if self.entries_form == "auto":
            self._entries_as_string = as_string
        log.debug("state.loaded", store="json", path=str(self.path), entries=len(state.entries))
        return state

    def save(self, state: State) -> None:
        """Replace the file with ``state``, atomically."""
        document = state_to_document(state, entries_as_string=self._entries_as_string)
        try:
            data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise StateError(f"{self.path}: state cannot be written as JSON: {exc}") from None
        _atomic_write(self.path, data)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
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
