"""Issue 24's goals, read off the measured runs: each figure, its bound, met or not.

* per-row producer (``cursor``): wall within 1.4x the producer alone, CPU/wall
  at least 1.8;
* every workload: compressed size at most the old library's, peak RSS of the
  whole process tree at most the old library's + 8 MiB;
* PostgreSQL through ``copy_rows``: wall within 1.6x the COPY read and dropped.
"""

from __future__ import annotations

from typing import Any

from harness import median, spread, table

__all__ = ["e2e_goals", "pg_goal", "verdict"]

WALL, CPU, RSS, PG = 1.4, 1.8, 8.0, 1.6


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _tree(x: dict[str, Any]) -> float:
    return float(x.get("rss_tree", x["rss"]))


def e2e_goals(runs: list[dict[str, Any]], sizes: list[int], kinds: list[str], impl: str) -> str:
    """The goals table of the default setting ``impl`` against the old library."""
    rows: list[list[Any]] = []
    for mib in sizes:
        for kind in kinds:
            ours = [x for x in runs if (x["size"], x["kind"], x["impl"]) == (mib, kind, impl)]
            old = [
                x for x in runs if (x["size"], x["kind"], x["impl"]) == (mib, kind, "old zlib:9")
            ]
            if not ours or not old:
                continue
            ratio = median(x["wall"] / x["producer"] for x in ours)
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
                f"CPU/wall (cursor: >= {CPU})",
                "size vs old (<= 0)",
                f"tree RSS vs old, MiB (<= +{RSS:.0f})",
                "the same, shared pages once",
            ],
            rows,
        )
        + "\n\nMedians of the runs above; the wall and CPU goals are the per-row producer's"
        " (`cursor`).\n"
    )


def pg_goal(ratios: list[float]) -> str:
    """The PostgreSQL goal's sentence, from each run's wall over its COPY."""
    if not ratios:
        return ""
    r = median(ratios)
    return f"  Goal, within {PG}x the COPY alone: {verdict(r <= PG)} ({r:.2f}x)."
