"""The caller's functions a run applies: the archive name and the config amendment.

They run in the gathering process only, so they are kept out of ``Settings``,
which an executor pickles (a lambda would not pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs

from ..errors import CollectorError, ConfigurationError, describe_exception
from ..naming import ArchiveInfo, Namer, check_name
from ..records import Window

__all__ = ["ConfigHook", "Hooks", "amended", "check_namer"]

#: Adds run-time values to the config document (``gather(amend_config=...)``).
ConfigHook = Callable[[dict[str, Any]], dict[str, Any]]


@attrs.frozen(kw_only=True)
class Hooks:
    """The caller's functions a run applies in this process (kept out of ``Settings``,
    which an executor pickles)."""

    name: Namer | None = None
    amend_config: ConfigHook | None = None


def amended(func: Callable[..., Any], hook: ConfigHook) -> Callable[..., Any]:
    """The config collector with ``hook`` applied to its document, once per run."""

    def config(**kwargs: Any) -> dict[str, Any]:
        document = func(**kwargs)
        if not isinstance(document, dict):
            raise CollectorError(
                f"the config collector returned {type(document).__name__}; amend_config"
                " needs a JSON object"
            )
        try:
            result = hook(dict(document))
        except Exception as e:
            raise CollectorError(f"amend_config raised {describe_exception(e)}") from None
        if not isinstance(result, dict):
            raise CollectorError(
                f"amend_config returned {type(result).__name__}, not a dict (the config document)"
            )
        return result

    return config


def check_namer(name: Namer) -> None:
    """Try the name function once before anything is collected, so a typo fails early."""
    if not callable(name):
        raise ConfigurationError(f"name={name!r} is not callable")
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    sample = ArchiveInfo(
        group="default", windows=(Window(since=epoch, until=epoch),), index=0, until=epoch
    )
    try:
        given = name(sample)
    except Exception as e:
        raise ConfigurationError(
            f"the archive name function raised {describe_exception(e)}"
        ) from None
    check_name(given, "the archive name function")
