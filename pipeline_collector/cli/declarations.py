"""Every option of the command, declared once, as data.

``OPTIONS`` is the one list: ``parser.py`` builds the argparse parser from
it, ``environment.py`` reads ``PIPELINE_COLLECTOR_<OPTION>`` by it and
``config.py`` maps config-file keys onto it, so an option's name, type,
default, variable and help are written in one place and nothing reads
argparse's insides.  The order is the order of ``--help``; an option a
command takes with another help or section is a second record for that
command.  The records are in ``declare_run`` (gather and plan),
``declare_ship`` (destinations) and ``declare_tools`` (status, inspect,
bench, and the secrets).
"""

from __future__ import annotations

from typing import Final

from .declare_run import OUTPUT_OPTIONS, RUN_OPTIONS
from .declare_ship import SHIP_OPTIONS
from .declare_tools import SECRET_OPTIONS, TOOL_OPTIONS
from .option import ENV_PREFIX, SETTINGS_COMMANDS, UNSET, Kind, Option

__all__ = [
    "ENV_CONFIG",
    "ENV_PREFIX",
    "FILE_COMMAND",
    "OPTIONS",
    "SECRET_ENV",
    "SETTINGS_COMMANDS",
    "UNSET",
    "Kind",
    "Option",
    "env_names",
    "options_of",
]

# The config file holds a run's settings, gather's; plan reads the same file
# and passes over the settings it has no use for.
FILE_COMMAND: Final = "gather"

OPTIONS: Final[tuple[Option, ...]] = (
    *RUN_OPTIONS,
    *SHIP_OPTIONS,
    *OUTPUT_OPTIONS,
    *TOOL_OPTIONS,
    *SECRET_OPTIONS,
)

# Every variable whose value is cut out of what the command writes.
SECRET_ENV: Final = tuple(o.env for o in OPTIONS if o.secret and o.env)

ENV_CONFIG: Final = ENV_PREFIX + "CONFIG"


def options_of(command: str) -> tuple[Option, ...]:
    """The options ``command`` takes, in the order of its ``--help``.

    >>> [o.name for o in options_of("inspect")]
    ['archives', 'max-upload-size', 'max-data-size', 'json']
    """
    return tuple(o for o in OPTIONS if command in o.commands)


def env_names() -> dict[str, Option]:
    """Each variable the command reads, secrets included, and the option it sets.

    >>> env_names()["PIPELINE_COLLECTOR_STATE"].name, "PGPASSWORD" in env_names()
    ('state', True)
    """
    found: dict[str, Option] = {}
    for option in OPTIONS:
        if option.env and (option.secret or SETTINGS_COMMANDS & option.commands):
            found.setdefault(option.env, option)
    return found
