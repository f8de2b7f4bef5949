"""The exit codes each command's ``--help`` lists, each meaning wrapped under its number."""

from __future__ import annotations

import textwrap

from .exits import (
    EXIT_GATED,
    EXIT_LOCK_HELD,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STATE,
    EXIT_UNRECORDED,
    EXIT_USAGE,
)

__all__ = ["EXIT_CODES", "STATE_EXIT", "USAGE_EXIT", "exit_codes"]


def exit_codes(*rows: tuple[int, str]) -> str:
    """A help text's list of exit codes, each meaning wrapped under its number.

    >>> print(exit_codes((0, "success"), (1, "failure")))
    exit codes:
      0  success
      1  failure
    """
    lines = ["exit codes:"]
    for code, meaning in rows:
        wrapped = textwrap.wrap(meaning, 72) or [""]
        lines.append(f"  {code}  {wrapped[0]}")
        lines += [f"     {more}" for more in wrapped[1:]]
    return "\n".join(lines)


USAGE_EXIT = (EXIT_USAGE, "bad configuration or usage (options, config file, module, collectors)")
STATE_EXIT = (
    EXIT_STATE,
    "the state cannot be read or written (a corrupt or unreadable file, a database out of"
    " reach): fix or restore it; a retry would meet the same state",
)

# gather's exit codes, which the command list shows too.
EXIT_CODES = exit_codes(
    (EXIT_OK, "success"),
    (EXIT_PARTIAL, "partial failure: a collection, an upload or the bookkeeping failed"),
    USAGE_EXIT,
    (EXIT_LOCK_HELD, "another run holds the lock; nothing was done"),
    (EXIT_GATED, "gated off (--is-licensed or --is-shipping-configured said no)"),
    STATE_EXIT,
    (
        EXIT_UNRECORDED,
        "an archive was delivered but the state could not record it; the run stopped there"
        " (fix the store: a retry would send the same rows again)",
    ),
)
