"""How a lock waits: a checked timeout and the pauses between tries."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..errors import ConfigurationError

__all__ = ["POLL_MAX", "POLL_MIN", "check_timeout", "poll_delays"]

POLL_MIN = 0.05
POLL_MAX = 0.5


def check_timeout(timeout: float | None) -> float | None:
    """Return ``timeout`` if it is ``None`` or a number of seconds >= 0.

    >>> check_timeout(2.5), check_timeout(None)
    (2.5, None)
    >>> check_timeout(float("nan"))
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: timeout must be None or >= 0 seconds: nan
    """
    if timeout is not None and not timeout >= 0:
        raise ConfigurationError(f"timeout must be None or >= 0 seconds: {timeout!r}")
    return timeout


def poll_delays(timeout: float | None) -> Iterator[float]:
    """Yield how long to sleep before each retry, until ``timeout`` has passed.

    ``None`` (or 0) means a single try: nothing to yield.  The pauses double
    from ``POLL_MIN`` up to ``POLL_MAX`` and never reach past the deadline.

    >>> list(poll_delays(None)), list(poll_delays(0))
    ([], [])
    >>> from itertools import islice
    >>> [round(d, 2) for d in islice(poll_delays(60), 6)]
    [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    """
    if not timeout:
        return
    deadline = time.monotonic() + timeout
    delay = POLL_MIN
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(delay * 2, POLL_MAX)
