"""Benchmark chunking on your own data: rows/s, MiB/s, ratio, parts, archive fill, memory.

``bench_chunking`` runs a dry-run ``gather`` over a CSV file, or over one
collector of your module and a window, once per compressor, and reports what
each run made and cost.  Nothing is shipped and no state is touched; the
archives are written to a temporary folder and removed.  The command
``pipeline-collector bench`` prints the same figures as a table or JSON.

Timings measure this machine as it is: run it when the machine is quiet,
and more than once.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from attrs import frozen

from ..compress import ZlibCompressor, default_compressor, get_compressor
from ..config import MAX_DATA_SIZE, MAX_UPLOAD_SIZE
from ..errors import ConfigurationError, MissingExtra
from ..stages.discover import register
from ..stages.rows import record_blocks

__all__ = ["BenchResult", "bench_chunking", "parse_compressor", "render_table"]

MiB = 1 << 20


@frozen(kw_only=True)
class BenchResult:
    """What one run over the data made and cost, with one compressor."""

    compressor: str  # name:level
    key: str
    max_data_size: int
    max_upload_size: int
    rows: int  # records, headers not counted
    bytes: int  # uncompressed CSV in the parts, a header on top of each
    deflated: int  # the parts' compressed size
    parts: int
    archive_sizes: tuple[int, ...]
    seconds: float  # wall time of the whole dry run
    peak_rss: int  # bytes: the process's resident set, sampled while the run went

    @property
    def archives(self) -> int:
        return len(self.archive_sizes)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def mib_per_second(self) -> float:
        return self.bytes / MiB / self.seconds if self.seconds > 0 else 0.0

    @property
    def ratio(self) -> float:
        """Uncompressed over compressed bytes of the parts."""
        return self.bytes / self.deflated if self.deflated else 0.0

    @property
    def fill(self) -> float:
        """Mean archive size over ``max_upload_size`` (the last archive included)."""
        if not self.archive_sizes:
            return 0.0
        return sum(self.archive_sizes) / len(self.archive_sizes) / self.max_upload_size

    @property
    def largest_fill(self) -> float:
        return max(self.archive_sizes, default=0) / self.max_upload_size

    def as_dict(self) -> dict[str, Any]:
        """Every figure, the derived ones too, for JSON."""
        return {
            "compressor": self.compressor,
            "key": self.key,
            "max_data_size": self.max_data_size,
            "max_upload_size": self.max_upload_size,
            "rows": self.rows,
            "bytes": self.bytes,
            "deflated": self.deflated,
            "parts": self.parts,
            "archives": self.archives,
            "archive_sizes": list(self.archive_sizes),
            "seconds": round(self.seconds, 4),
            "rows_per_second": round(self.rows_per_second, 1),
            "mib_per_second": round(self.mib_per_second, 2),
            "ratio": round(self.ratio, 4),
            "fill": round(self.fill, 4),
            "largest_fill": round(self.largest_fill, 4),
            "peak_rss": self.peak_rss,
        }


def parse_compressor(text: str) -> ZlibCompressor:
    """``name`` or ``name:level`` -> the compressor; a clear error naming the setting.

    >>> parse_compressor("zlib:9")
    ZlibCompressor(name='zlib', level=9)
    """
    name, sep, level = text.strip().partition(":")
    try:
        number = int(level) if sep else None
    except ValueError:
        raise ConfigurationError(f"compressor {text!r}: the level must be a number") from None
    try:
        return get_compressor(name, number)
    except MissingExtra:
        raise  # names the package and how to install it
    except ValueError as e:
        raise ConfigurationError(f"compressor {text!r}: {e}") from None


class _PeakRss:
    """The largest resident set seen while the block runs, sampled every 20 ms.

    ``ru_maxrss`` only grows over the process's life, so it cannot tell one
    run from the next; sampling ``/proc/self/statm`` can.  Elsewhere it falls
    back to ``ru_maxrss``.
    """

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def _now(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._now())

    def __enter__(self) -> _PeakRss:
        self.peak = self._now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._now())


def _csv_collectors(path: Path, key: str) -> list[Callable[..., Any]]:
    """A config collector and one CSV collector yielding the file's records."""
    if not path.is_file():
        raise ConfigurationError(f"CSV file not found: {path}")

    @register("config", "1.0", description="bench", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"bench": str(path.name)}

    @register(key, "1.0", format="csv", description=f"rows of {path.name}")
    def rows(**kwargs: Any) -> Iterator[bytes]:
        with path.open("rb") as f:
            yield from record_blocks(iter(partial(f.read, 1 << 20), b""))

    return [config, rows]


def bench_chunking(
    source: str | os.PathLike[str] | ModuleType,
    *,
    key: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_data_size: int = MAX_DATA_SIZE,
    max_upload_size: int = MAX_UPLOAD_SIZE,
    compressors: Iterable[ZlibCompressor | str] = (),
    workdir: str | os.PathLike[str] | None = None,
) -> tuple[BenchResult, ...]:
    """Run the data through chunking and packing once per compressor; report each run.

    ``source`` is a CSV file (header first; ``key`` names it, ``data`` by
    default) or a collector module, of which only ``key`` (and its config
    collector) is collected over ``[since, until)``.  ``compressors`` are
    compressors or ``name:level`` texts; the default compressor when none.
    """
    chosen = [parse_compressor(c) if isinstance(c, str) else c for c in compressors]
    if not chosen:
        chosen = [default_compressor()]
    if isinstance(source, ModuleType):
        if not key:
            raise ConfigurationError("bench over a collector module needs the key to collect")
        name = key
        collectors: ModuleType | list[Callable[..., Any]] = source
        subset: Sequence[str] | None = [key]
    else:
        name = key or "data"
        collectors, subset = _csv_collectors(Path(source), name), None
    return tuple(
        _one(collectors, subset, name, comp, since, until, max_data_size, max_upload_size, workdir)
        for comp in chosen
    )


def _one(
    collectors: ModuleType | list[Callable[..., Any]],
    subset: Sequence[str] | None,
    key: str,
    compressor: ZlibCompressor,
    since: datetime | None,
    until: datetime | None,
    max_data_size: int,
    max_upload_size: int,
    workdir: str | os.PathLike[str] | None,
) -> BenchResult:
    from ..errors import CollectorError
    from ..run.runner import gather

    folder = Path(tempfile.mkdtemp(prefix="pipeline-collector-bench-", dir=workdir))
    try:
        with _PeakRss() as rss:
            t0 = time.perf_counter()
            run = gather(
                collectors,
                mode="dry-run",
                since=since,
                until=until,
                subset=subset,
                max_data_size=max_data_size,
                max_upload_size=max_upload_size,
                workdir=folder,
                compressor=compressor,
            )
            seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mine = [c for c in run.collections if c.key == key]
    failed = [c for c in mine if c.status == "failed"]
    if failed:
        raise CollectorError(f"bench of {key!r} failed: {failed[0].error}")
    if not mine:
        raise ConfigurationError(
            f"bench: nothing was collected for {key!r} ({run.reason or run.status})"
        )
    parts = [p for c in mine for p in c.parts]
    return BenchResult(
        compressor=f"{compressor.name}:{compressor.level}",
        key=key,
        max_data_size=max_data_size,
        max_upload_size=max_upload_size,
        rows=sum(c.rows for c in mine),
        bytes=sum(c.bytes for c in mine),
        deflated=sum(p.deflated_size for p in parts),
        parts=len(parts),
        archive_sizes=tuple(a.size for a in run.archives),
        seconds=seconds,
        peak_rss=rss.peak,
    )


def render_table(results: Sequence[BenchResult]) -> str:
    """The results as a text table, one row per compressor, with the settings above."""
    if not results:
        return "(no results)"
    first = results[0]
    head = (
        f"{first.key}: max_data_size {first.max_data_size / MiB:g} MiB,"
        f" max_upload_size {first.max_upload_size / MiB:g} MiB"
    )
    header = (
        "compressor", "rows", "MiB", "seconds", "rows/s", "MiB/s", "ratio", "parts",
        "archives", "mean fill", "largest fill", "peak RSS MiB",
    )  # fmt: skip
    rows = [
        (
            r.compressor,
            f"{r.rows:,}",
            f"{r.bytes / MiB:.1f}",
            f"{r.seconds:.2f}",
            f"{r.rows_per_second:,.0f}",
            f"{r.mib_per_second:.1f}",
            f"{r.ratio:.2f}",
            str(r.parts),
            str(r.archives),
            f"{r.fill * 100:.1f}%",
            f"{r.largest_fill * 100:.1f}%",
            f"{r.peak_rss / MiB:.1f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [head, "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
