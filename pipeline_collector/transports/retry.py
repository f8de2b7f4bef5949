"""When to try an upload again, and how long to wait first.

``RetryPolicy`` is an immutable value in the manner of urllib3's ``Retry``:
each failure gives a new policy with one retry fewer, so a transport shared
by threads never shares a count.
"""

from __future__ import annotations

import email.utils
import random
from datetime import datetime, timezone

import attrs
from attrs import field, frozen

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
"""Answers that say "not now" rather than "no": a later attempt may succeed."""


def _show_statuses(statuses: frozenset[int]) -> str:
    """``{408, 429, 5xx}`` rather than a hundred numbers.

    >>> _show_statuses(RETRY_STATUSES)
    '{408, 429, 5xx}'
    >>> _show_statuses(frozenset({503, 429}))
    '{429, 503}'
    """
    server_errors = frozenset(range(500, 600))
    shown = [str(s) for s in sorted(statuses - server_errors)]
    if server_errors <= statuses:
        shown.append("5xx")
    else:
        shown += [str(s) for s in sorted(statuses & server_errors)]
    return "{" + ", ".join(shown) + "}"


@frozen(kw_only=True)
class RetryPolicy:
    """An immutable retry policy, in the manner of urllib3's ``Retry``.

    ``total`` is how many retries remain; ``increment`` returns the policy
    after one more failure.  The delay before the n-th retry is
    ``backoff_factor * 2 ** (n - 1)`` capped at ``backoff_max``, plus up to
    ``jitter`` seconds, unless the answer said ``Retry-After``.  No retry
    starts once ``max_elapsed`` seconds would have passed, and an
    ``HttpTransport`` cuts the attempt under way when they have.

    >>> policy = RetryPolicy(total=1, jitter=0.0).increment("503")
    >>> policy.backoff(), policy.exhausted, policy.increment("503").exhausted
    (1.0, False, True)
    """

    total: int = 5
    backoff_factor: float = 1.0
    backoff_max: float = 120.0
    max_elapsed: float | None = 600.0
    jitter: float = 1.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES, repr=_show_statuses)
    respect_retry_after: bool = True
    history: tuple[str, ...] = ()

    @property
    def exhausted(self) -> bool:
        return self.total < 0

    def is_retryable(self, status: int) -> bool:
        return status in self.statuses

    def increment(self, reason: str) -> RetryPolicy:
        """The policy after one more failure, described by ``reason``."""
        return attrs.evolve(self, total=self.total - 1, history=(*self.history, reason))

    def backoff(self) -> float:
        """Seconds to wait before the next retry, jitter included."""
        if not self.history:
            return 0.0
        delay: float = min(self.backoff_factor * 2.0 ** (len(self.history) - 1), self.backoff_max)
        if self.jitter > 0:
            delay += random.uniform(0, self.jitter)
        return delay

    def delay(self, retry_after: float | None) -> float:
        """The wait before the next retry, honouring the answer's ``Retry-After``."""
        if retry_after is not None and self.respect_retry_after:
            return max(0.0, retry_after)
        return self.backoff()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta seconds or an HTTP date.

    >>> parse_retry_after("120")
    120.0
    >>> noon = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    >>> parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now=noon)
    30.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds: float = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds)
