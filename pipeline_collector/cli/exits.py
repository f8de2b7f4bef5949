"""How the command ends: its exit codes and the error that means "bad usage"."""

from __future__ import annotations

__all__ = [
    "EXIT_FOR",
    "EXIT_GATED",
    "EXIT_INTERRUPTED",
    "EXIT_LOCK_HELD",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "UsageError",
]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_LOCK_HELD = 3
EXIT_GATED = 4
EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C

# A run's status -> the exit code of ``gather``.
EXIT_FOR: dict[str, int] = {
    "ok": EXIT_OK,
    "partial": EXIT_PARTIAL,
    "failed": EXIT_PARTIAL,
    "lock-held": EXIT_LOCK_HELD,
    "gated": EXIT_GATED,
}


class UsageError(Exception):
    """The command was given something it cannot use; exit code 2."""
