"""Stage 2, plan: the collection window and the tasks, decided before collecting.

Pure apart from calling the collectors' slicers: the clock and the state come
in as values.  Windows are half-open, ``[since, until)``, everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from ..config import HORIZON, require_aware
from ..errors import ConfigurationError, describe_exception, message_of
from ..log import logger
from ..records import Collector, Plan, Problem, State, Task, Window
from .positional import POSITIONAL, accepts

log = logger("plan")

MAX_WINDOWS: Final = 10_000
"""The most windows one key's slicer may yield in a run: an hour each over a year's horizon.

A slicer that yields more (one that never stops, or windows of a second)
fails its key with a ``Problem`` naming the key and the bound.
"""


def collection_window(
    now: datetime,
    since: datetime | None,
    until: datetime | None,
    last_gather: datetime | None,
    horizon: timedelta = HORIZON,
) -> tuple[datetime | None, datetime, datetime]:
    """Resolve the run's ``(since, until, last_gather)`` by docs/contract.md, section 2.

    ``since`` stays ``None`` when it was not asked for: each collector then
    starts where its own bookkeeping left off.

    >>> from datetime import timezone
    >>> now, day = datetime(2026, 11, 27, tzinfo=timezone.utc), timedelta(days=1)
    >>> s, u, lg = collection_window(now, None, None, None)
    >>> (s, u == now, now - lg)
    (None, True, datetime.timedelta(days=28))

    A window asked for further back than the horizon is cut to the horizon:

    >>> s, u, lg = collection_window(now, now - 60 * day, None, None)
    >>> (now - s).days, (u - s).days, lg == s
    (60, 28, True)
    """
    for name, value in (("now", now), ("since", since), ("until", until)):
        require_aware(name, value)
    require_aware("last_gather", last_gather)
    if until is not None and until > now:
        log.warning("window.clamped", field="until", requested=until.isoformat())
        until = now
    if since is not None and since > now:
        log.warning("window.clamped", field="since", requested=since.isoformat())
        since = now
    if until is None:
        until = now if since is None else min(since + horizon, now)
    elif since is not None and until > since + horizon:
        log.warning("window.clamped", field="until", requested=until.isoformat())
        until = since + horizon
    if since is not None and since >= until:
        raise ConfigurationError(
            f"since={since.isoformat()} is not before until={until.isoformat()}; nothing to collect"
        )
    floor = until - horizon
    if since is not None and since < floor:
        log.warning("window.clamped", field="since", requested=since.isoformat())
        since = floor
    resolved_last = last_gather if last_gather is not None and last_gather > floor else floor
    return since, until, resolved_last


def collector_since(
    collector: Collector,
    entries: Mapping[str, datetime],
    since: datetime | None,
    until: datetime,
    last_gather: datetime,
    horizon: timedelta = HORIZON,
) -> datetime:
    """Where one collector starts: the asked ``since``, else its own entry.

    Without an entry it starts at ``last_gather``; never before ``until - horizon``.

    >>> from datetime import timezone
    >>> until, day = datetime(2026, 11, 27, tzinfo=timezone.utc), timedelta(days=1)
    >>> jobs = Collector(key="jobs", version="1.0", func=list)
    >>> [until - collector_since(jobs, entries, None, until, until - 3 * day)
    ...  for entries in ({"jobs": until - day}, {}, {"jobs": until - 90 * day})]
    [datetime.timedelta(days=1), datetime.timedelta(days=3), datetime.timedelta(days=28)]
    """
    if since is not None:
        return since
    return max(entries.get(collector.key) or last_gather, until - horizon)


def full_sync_due(collector: Collector, entries: Mapping[str, datetime], now: datetime) -> bool:
    """Tell whether the collector's last full sync is older than its interval.

    Only a sliced collector with an interval syncs in full; never synced means due.

    >>> from datetime import timezone
    >>> now, day = datetime(2026, 11, 27, tzinfo=timezone.utc), timedelta(days=1)
    >>> hosts = Collector(key="hosts", version="1.0", func=list, slicer=lambda *a, **k: [],
    ...     full_sync_interval_days=7)
    >>> [full_sync_due(hosts, e, now) for e in ({}, {"hosts_full": now - 8 * day},
    ...     {"hosts_full": now - 7 * day})]
    [True, True, False]
    """
    days = collector.full_sync_interval_days
    if not days or collector.slicer is None:
        return False
    last = entries.get(f"{collector.key}_full")
    return last is None or last < now - timedelta(days=days)


def slice_windows(
    collector: Collector,
    last_gather: datetime,
    since: datetime,
    until: datetime,
    full_sync: bool,
    asked_since: datetime | None = None,
    *,
    max_windows: int = MAX_WINDOWS,
) -> tuple[Window, ...]:
    """Call the collector's slicer and check what it yields.

    Windows must be aware, non-empty, in time order and must not overlap; a
    slicer that breaks this raises ``ConfigurationError`` naming the key.
    A positional (AWX-style) slicer gets ``asked_since``, the run's explicit
    ``since`` or ``None``, as AWX calls it (docs/contract.md, section 2).

    The slicer is not asked for more once a window starts at or after
    ``until`` (every later one would too), and at most ``max_windows`` are
    taken: a slicer that never stops cannot hold the run.
    """
    assert collector.slicer is not None
    key = collector.key
    if getattr(collector.slicer, POSITIONAL, False):
        raw = collector.slicer(
            key, last_gather, since=asked_since, until=until, full_sync_enabled=full_sync
        )
    elif full_sync:
        kwargs: dict[str, Any] = {"full_sync_enabled": True}
        # Extra context only where the slicer can take it (the old form has none).
        if accepts(collector.slicer, "until"):
            kwargs["until"] = until
        if accepts(collector.slicer, "since"):
            kwargs["since"] = since
        raw = collector.slicer(key, last_gather, **kwargs)
    else:
        raw = collector.slicer(key, last_gather, since=since, until=until)
    windows: list[Window] = []
    pulled = iter(raw)
    try:
        for n, item in enumerate(pulled):
            if n >= max_windows:
                raise ConfigurationError(
                    f"slicer of {key!r} yielded more than {max_windows:,} windows in one run"
                    f" (the bound is {max_windows:,}); yield longer windows"
                )
            window = _checked(key, n, item, windows[-1] if windows else None)
            if window.since >= until:  # in time order: every later one starts after too
                log.warning(
                    "window.dropped",
                    key=key,
                    window=str(window),
                    reason=f"it starts after the run's window, which ends {until.isoformat()}",
                )
                break
            windows.append(window)
    finally:
        close = getattr(pulled, "close", None)
        if close is not None:  # a generator's own clean-up, now
            with contextlib.suppress(Exception):
                close()
    return _within(key, windows, since, until, full_sync)


def _checked(key: str, n: int, item: Any, previous: Window | None) -> Window:
    """The ``n``-th item a slicer yielded, as a window; after ``previous``, or refused."""
    start: Any
    end: Any
    try:
        start, end = item
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"slicer of {key!r} yielded {item!r} at position {n}; expected (since, until)"
        ) from None
    for name, value in (("since", start), ("until", end)):
        if not isinstance(value, datetime):
            raise ConfigurationError(
                f"slicer of {key!r} yielded {name}={value!r} at position {n}; not a datetime"
            )
        require_aware(f"slicer of {key!r} window {n} {name}", value)
    if start >= end:
        raise ConfigurationError(
            f"slicer of {key!r} yielded an empty or reversed window {n}:"
            f" [{start.isoformat()}, {end.isoformat()})"
        )
    if previous is not None and start < previous.until:
        raise ConfigurationError(
            f"slicer of {key!r} yielded window {n} [{start.isoformat()}, {end.isoformat()})"
            " that overlaps or precedes the previous one, ending"
            f" {previous.until.isoformat()}"
        )
    return Window(since=start, until=end)


def _within(
    key: str, windows: list[Window], since: datetime, until: datetime, full_sync: bool
) -> tuple[Window, ...]:
    """Cut windows to the run's (docs/contract.md, section 2).

    None ends after ``until``, so an entry never records time that was not
    collected; none starts before ``since``, except in a full sync.
    """
    kept: list[Window] = []
    for w in windows:
        low = w.since if full_sync else max(w.since, since)
        high = min(w.until, until)
        if low >= high:
            log.warning(
                "window.dropped",
                key=key,
                window=str(w),
                reason=f"outside the run's window, which ends {until.isoformat()}",
            )
            continue
        if high < w.until or low > w.since:
            log.warning(
                "window.clamped",
                key=key,
                field="until" if high < w.until else "since",
                requested=str(w),
            )
        kept.append(Window(since=low, until=high))
    return tuple(kept)


def _no_window(key: str, state: State, window: Window) -> Problem | None:
    r"""Report a slicer that yielded nothing for time not collected yet.

    A key that shipped before (it has an entry), or that never got a window
    although a run already completed, is a ``Problem``: a broken slicer (a
    generator that ``return``\ s a list yields nothing) must not pass for "no
    data".  On a first run it is only a warning: the source may be empty.
    """
    if key in state.entries:
        why = f"it yielded no window for {window} though a previous run shipped some"
    elif state.last_gather is not None:
        why = f"it yielded no window for {window}, and this key never got one in earlier runs"
    else:
        why = None
    log.warning(
        "slicer.no_window",
        key=key,
        window=str(window),
        reason=why or "first run: the source may be empty",
    )
    if why is None:
        return None
    return Problem(key=key, message=f"slicer of {key!r}: {why}")


def plan(
    collectors: Iterable[Collector],
    state: State,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    horizon: timedelta = HORIZON,
) -> Plan:
    """Decide the run: its window and one task per collector or slicer window.

    The config collector is not a task: its output goes into every archive.
    A slicer that fails is recorded as a ``Problem`` for its key only.  In
    a tenant's state (``state.namespace``) a key without an entry starts at
    the horizon, and slicers get that as their ``last_gather``.
    """
    listed = tuple(collectors)
    configs = [c for c in listed if c.config]
    if len(configs) != 1:
        raise ConfigurationError("exactly one config collector is required")
    run_since, run_until, last_gather = collection_window(
        now, since, until, state.last_gather, horizon
    )
    # A tenant's key without an entry starts at the horizon: in a shared
    # store, last_gather may be another run's, over other keys.
    fallback = last_gather if state.namespace is None else run_until - horizon
    tasks: list[Task] = []
    problems: list[Problem] = []
    # JSON collections go first, as the old library gathered them (docs/contract.md, section 4).
    for collector in sorted(listed, key=lambda c: c.format != "json"):
        if collector.config:
            continue
        start = collector_since(collector, state.entries, run_since, run_until, fallback, horizon)
        if collector.slicer is None:
            if start >= run_until:
                log.debug("task.nothing_new", key=collector.key, since=start.isoformat())
                continue
            window = Window(since=start, until=run_until)
            tasks.append(Task(collector=collector, window=window, seq=len(tasks)))
            continue
        full = full_sync_due(collector, state.entries, now)
        if full:
            start = run_until - horizon
        try:
            windows = slice_windows(collector, fallback, start, run_until, full, run_since)
        except Exception as e:  # a slicer is user code: any failure stops its key only
            message = (
                message_of(e)
                if isinstance(e, ConfigurationError)
                else f"slicer of {collector.key!r} raised {describe_exception(e)}"
            )
            log.error("slicer.failed", key=collector.key, error=message)
            problems.append(Problem(key=collector.key, message=message))
            continue
        if not windows and start < run_until:
            problem = _no_window(collector.key, state, Window(since=start, until=run_until))
            if problem is not None:
                problems.append(problem)
        for window in windows:
            tasks.append(Task(collector=collector, window=window, seq=len(tasks), full_sync=full))
    result = Plan(
        now=now,
        since=run_since,
        until=run_until,
        last_gather=last_gather,
        horizon=horizon,
        config=configs[0],
        tasks=tuple(tasks),
        problems=tuple(problems),
    )
    log.info(
        "plan.made",
        since=None if run_since is None else run_since.isoformat(),
        until=run_until.isoformat(),
        last_gather=last_gather.isoformat(),
        tasks=len(tasks),
        problems=len(problems),
    )
    return result


def config_task(p: Plan) -> Task:
    """The config collector's task: the run's whole window; its output rides in every archive."""
    return Task(
        collector=p.config, window=Window(since=p.since or p.last_gather, until=p.until), seq=-1
    )
