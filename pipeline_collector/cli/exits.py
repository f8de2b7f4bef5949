"""How the command ends: its exit codes and the error that means "bad usage"."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..records import Run

__all__ = [
    "EXIT_FOR",
    "EXIT_GATED",
    "EXIT_INTERRUPTED",
    "EXIT_LOCK_HELD",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_STATE",
    "EXIT_UNRECORDED",
    "EXIT_USAGE",
    "UsageError",
    "exit_code",
    "exit_for_error",
]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_LOCK_HELD = 3
EXIT_GATED = 4
# An archive was delivered but the state could not record it: the run stopped
# at once, and a retry would ship the same rows again until the store is fixed.
EXIT_UNRECORDED = 5
# The state store cannot be used: a corrupt or unreadable state file, a
# database out of reach, a store that cannot be written.  A retry meets the
# same state, so a scheduler should not retry: fix or restore the store.
EXIT_STATE = 6
EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C

# A run's status -> the exit code of ``gather``.
EXIT_FOR: dict[str, int] = {
    "ok": EXIT_OK,
    "partial": EXIT_PARTIAL,
    "failed": EXIT_PARTIAL,
    "lock-held": EXIT_LOCK_HELD,
    "gated": EXIT_GATED,
}


def exit_code(run: Run) -> int:
    """The exit code of ``gather`` for ``run``: its status's, or 5 for a delivery not recorded."""
    if any(s.unrecorded for s in run.shipments):
        return EXIT_UNRECORDED
    return EXIT_FOR.get(run.status, EXIT_PARTIAL)


class UsageError(Exception):
    """The command was given something it cannot use; exit code 2."""


def exit_for_error(error: BaseException) -> int:
    """The exit code of a command stopped by ``error``: 2 for usage, 6 for the state, else 1.

    >>> from pipeline_collector.errors import StateError
    >>> exit_for_error(UsageError("x")), exit_for_error(StateError("state.json: not JSON"))
    (2, 6)
    """
    from ..errors import ConfigurationError, StateError, UnrecordedError

    if isinstance(error, (UsageError, ConfigurationError)):
        return EXIT_USAGE
    if isinstance(error, UnrecordedError):
        return EXIT_UNRECORDED
    if isinstance(error, StateError):
        return EXIT_STATE
    return EXIT_PARTIAL
