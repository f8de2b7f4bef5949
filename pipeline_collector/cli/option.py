"""The record of one command-line option, and the names shared by the option tables.

An option is data: how it is written, parsed, defaulted, shown, and where
else it may come from (the environment, the config file).  The tables of
options live in ``declare_run``, ``declare_ship`` and ``declare_tools``;
``declarations`` puts them together.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final, Literal

import attrs

__all__ = [
    "BENCH",
    "ENV_PREFIX",
    "GATHER",
    "INSPECT",
    "PLAN",
    "PREFLIGHT",
    "RUN",
    "SHIP",
    "SETTINGS_COMMANDS",
    "STATUS",
    "UNSET",
    "Kind",
    "Option",
]

Kind = Literal["value", "flag", "count", "append", "extend", "positional"]
"""``value`` takes one value; ``flag`` is true when given; ``count`` counts
uses (``-vv``); ``append`` keeps each use's value; ``extend`` joins the
lists each use gives (``KEY,KEY``); ``positional`` is an argument, no flag."""

UNSET: Final = argparse.SUPPRESS
"""The default of an option absent from the settings unless given."""

ENV_PREFIX: Final = "PIPELINE_COLLECTOR_"

GATHER: Final = frozenset({"gather"})
PLAN: Final = frozenset({"plan"})
RUN: Final = GATHER | PLAN
INSPECT: Final = frozenset({"inspect"})
BENCH: Final = frozenset({"bench"})
STATUS: Final = frozenset({"status"})
PREFLIGHT: Final = frozenset({"preflight"})
SHIP: Final = GATHER | PREFLIGHT  # the destination's options

# Commands that read settings: the command line, then the environment, then
# the config file.  inspect and bench look at the archives or data in front
# of the person running them, so only their command line counts.
SETTINGS_COMMANDS: Final = frozenset({"gather", "plan", "status", "preflight"})


def _dest(option: Option) -> str:
    return option.name.replace("-", "_")


def _env(option: Option) -> str | None:
    if option.kind == "positional":
        return None
    return ENV_PREFIX + option.name.upper().replace("-", "_")


@attrs.frozen(kw_only=True)
class Option:
    """One option: how it is written, parsed, defaulted, shown and where it may come from."""

    name: str  # the long option without dashes, and the config-file key
    commands: frozenset[str]
    help: str = ""
    kind: Kind = "value"
    parse: Callable[[str], Any] = str
    short: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    nargs: str | None = None  # "?": the flag may come alone, meaning ``const``
    const: str | None = None
    default: Any = UNSET
    group: str | None = None  # the section of --help; None: "options"
    dest: str = attrs.field(default=attrs.Factory(_dest, takes_self=True))
    in_file: bool = True  # may be set in the config file
    secret: bool = False  # only from ``env``: no flag, never in the file, redacted
    # PIPELINE_COLLECTOR_<NAME>; None where that name is taken or for arguments.
    env: str | None = attrs.field(default=attrs.Factory(_env, takes_self=True))

    @property
    def flag(self) -> bool:
        """Whether the option is a boolean flag (true when given)."""
        return self.kind == "flag"

    @property
    def flags(self) -> tuple[str, ...]:
        """How the option is written on the command line (none for a secret).

        >>> Option(name="verbose", short="-v", kind="count", commands=RUN).flags
        ('-v', '--verbose')
        """
        if self.kind == "positional" or self.secret:
            return ()
        return (self.short, f"--{self.name}") if self.short else (f"--{self.name}",)

    def reads_env(self, command: str) -> bool:
        """Whether ``command`` takes this option from its environment variable.

        >>> Option(name="state", commands=RUN).reads_env("plan")
        True
        """
        return self.env is not None and not self.secret and command in SETTINGS_COMMANDS
