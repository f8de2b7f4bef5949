"""The performance goals, read off the measured runs: each figure, its bound, met or not.

* per-row producer (``cursor``): wall within 1.4x the producer alone, CPU/wall
  at least 1.8;
* every workload: compressed size at most the old library's, peak RSS of the
  whole process tree at most the old library's + 8 MiB;
* PostgreSQL through ``copy_rows``: wall within 1.6x the COPY read and dropped.

Beside each goal, its *two-core floor*: the CPU a run spent (its own and its
processes', and for PostgreSQL the server's) over two cores, against the same
baseline.  A floor above a bound says no scheduling meets it at that setting:
the work itself is too much for two cores, and only less work (a faster or
lower level, fewer bytes) would close it.
"""

from __future__ import annotations

from typing import Any

from harness import median, spread, table

__all__ = ["compact", "e2e_goals", "floor", "front", "pg_goal", "pick", "verdict"]

WALL, CPU, RSS, PG = 1.4, 1.8, 8.0, 1.6


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def pick(runs: list[dict[str, Any]], mib: int, kind: str, impl: str) -> list[dict[str, Any]]:
    """The runs of one size, workload and setting (``"old zlib:9"``: the old library)."""
    return [x for x in runs if (x["size"], x["kind"], x["impl"]) == (mib, kind, impl)]


def floor(cpu: float, base: float, cores: int = 2) -> float:
    """The least wall over ``base`` that ``cpu`` seconds allow on ``cores`` busy cores."""
    return cpu / cores / base


def _tree(x: dict[str, Any]) -> float:
    return float(x.get("rss_tree", x["rss"]))


def e2e_goals(runs: list[dict[str, Any]], sizes: list[int], kinds: list[str], impl: str) -> str:
    """The goals table of the default setting ``impl`` against the old library."""
    rows: list[list[Any]] = []
    for mib in sizes:
        for kind in kinds:
            ours = pick(runs, mib, kind, impl)
            old = pick(runs, mib, kind, "old zlib:9")
            if not ours or not old:
                continue
            ratio = median(x["wall"] / x["producer"] for x in ours)
            least = median(floor(x["cpu"], x["producer"]) for x in ours)
            busy = median(x["cpu"] / x["wall"] for x in ours)
            size = median(x["compressed"] for x in ours) / median(x["compressed"] for x in old)
            extra = median(_tree(x) for x in ours) - median(_tree(x) for x in old)
            once = median(x.get("rss_shared_once", x["rss"]) for x in ours) - median(
                _tree(x) for x in old
            )
            per_row = kind == "cursor"
            rows.append(
                [
                    mib,
                    kind,
                    f"{spread((x['wall'] / x['producer'] for x in ours), '{:.2f}x')}"
                    + (f" ({verdict(ratio <= WALL)})" if per_row else ""),
                    f"{least:.2f}x",
                    f"{busy:.2f}" + (f" ({verdict(busy >= CPU)})" if per_row else ""),
                    f"{(size - 1) * 100:+.2f}% ({verdict(size <= 1)})",
                    f"{extra:+.1f} ({verdict(extra <= RSS)})",
                    f"{once:+.1f} ({verdict(once <= RSS)})",
                ]
            )
    return (
        f"### Goals, {impl.removeprefix('new ')} (the default) against the old library\n\n"
        + table(
            [
                "MiB",
                "workload",
                f"wall / producer (cursor: <= {WALL}x)",
                "two-core floor",
                f"CPU/wall (cursor: >= {CPU})",
                "size vs old (<= 0)",
                f"tree RSS vs old, MiB (<= +{RSS:.0f})",
                "the same, shared pages once",
            ],
            rows,
        )
        + "\n\nMedians of the runs above; the wall and CPU goals are the per-row producer's"
        " (`cursor`).  `two-core floor`: the run's CPU seconds (all its threads and processes)"
        " over two cores, over the producer alone: the least `wall / producer` any scheduling"
        " of that work could reach.\n"
    )


def front(
    runs: list[dict[str, Any]], sizes: list[int], kinds: list[str], settings: list[str]
) -> str:
    """Level x wall x size: each setting's per-row wall and floor, and its size on every workload."""
    rows: list[list[Any]] = []
    for impl in settings:
        for mib in sizes:
            cursor = pick(runs, mib, "cursor", impl)
            row: list[Any] = [mib, impl.removeprefix("new ")]
            if cursor:
                ratio = median(x["wall"] / x["producer"] for x in cursor)
                row += [
                    f"{spread((x['wall'] / x['producer'] for x in cursor), '{:.2f}x')}"
                    f" ({verdict(ratio <= WALL)})",
                    f"{median(floor(x['cpu'], x['producer']) for x in cursor):.2f}x",
                ]
            else:
                row += ["", ""]
            for kind in kinds:
                ours = pick(runs, mib, kind, impl)
                old = pick(runs, mib, kind, "old zlib:9")
                if not ours or not old:
                    row.append("")
                    continue
                size = median(x["compressed"] for x in ours) / median(x["compressed"] for x in old)
                row.append(f"{(size - 1) * 100:+.2f}% ({verdict(size <= 1)})")
            rows.append(row)
    return (
        "### The front: setting x wall x size\n\n"
        + table(
            [
                "MiB",
                "setting",
                f"cursor wall / producer (<= {WALL}x)",
                "two-core floor",
                *[f"size vs old, {k}" for k in kinds],
            ],
            rows,
        )
        + "\n\nEvery setting measured above, the default first: a setting that met the wall"
        " goal and the size goal on every workload would be the default to take.\n"
    )


def pg_goal(ratios: list[float], floors: list[float] | None = None) -> str:
    """The PostgreSQL goal's sentence, from each run's wall over its COPY (and its floor)."""
    if not ratios:
        return ""
    r = median(ratios)
    text = f"  Goal, within {PG}x the COPY alone: {verdict(r <= PG)} ({r:.2f}x)."
    if floors:
        text += (
            f"  Its two-core floor, the client's and the server's CPU over two cores against"
            f" the COPY alone: {median(floors):.2f}x."
        )
    return text


def compact(
    runs: list[dict[str, Any]], sizes: list[int], kinds: list[str], settings: list[str]
) -> str:
    """The end-to-end table as the top-level README shows it: one row per size, workload, setting."""
    rows: list[list[Any]] = []
    for mib in sizes:
        for kind in kinds:
            old = pick(runs, mib, kind, "old zlib:9")
            for n, impl in enumerate([*settings, "old zlib:9"]):
                rs = pick(runs, mib, kind, impl)
                if not rs:
                    continue
                if impl == "old zlib:9":
                    label = "insights-analytics-collector 0.3.2"
                else:
                    name, _, level = impl.removeprefix("new ").partition(":")
                    label = f"{name} {level}" + (" (default)" if n == 0 else "")
                wall = median(x["wall"] for x in rs)
                rows.append(
                    [
                        mib,
                        kind,
                        label,
                        spread(x["wall"] for x in rs),
                        f"{median(x['wall'] / x['producer'] for x in rs):.2f}x",
                        f"{median(x['wall'] for x in old) / wall:.2f}x" if old else "",
                        f"{median(x['cpu'] / x['wall'] for x in rs):.2f}",
                        f"{median(_tree(x) for x in rs):.1f}",
                        (
                            f"{(median(x['compressed'] for x in rs) / median(x['compressed'] for x in old) - 1) * 100:+.2f}%"
                            if old and impl != "old zlib:9"
                            else ""
                        ),
                    ]
                )
    return (
        "### For the README\n\n"
        + table(
            [
                "MiB",
                "workload",
                "setting",
                "wall s",
                "wall / producer",
                "vs old",
                "CPU/wall",
                "peak RSS MiB (tree)",
                "size vs old",
            ],
            rows,
        )
        + "\n"
    )
