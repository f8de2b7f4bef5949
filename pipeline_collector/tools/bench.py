"""Benchmark chunking on your own data: rows/s, MiB/s, ratio, parts, archive fill, memory.

``bench_chunking`` runs the chunk and archive stages (``pc.chunk``,
``pc.archive``) over a CSV file, or over what one collector of your module
hands back over a window, once per compressor, and reports what each run
made and cost.  Nothing is shipped and no state is touched; the
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
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from attrs import frozen

from ..compress import ZlibCompressor, default_compressor, get_compressor
from ..config import MAX_DATA_SIZE, MAX_UPLOAD_SIZE, Limits, RunConfig
from ..errors import ConfigurationError, MissingExtra
from ..records import Part
from ..stages.archive import archive
from ..stages.chunk import chunk
from ..stages.modules import is_module_name, load_collector_module
from ..stages.rows import record_blocks

__all__ = ["BenchResult", "bench_chunking", "parse_compressor", "render_table"]

MiB = 1 << 20
_CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})


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


def _file_rows(path: Path) -> Iterator[Iterator[bytes]]:
    """The file's records in blocks: one source."""
    if not path.is_file():
        raise ConfigurationError(f"CSV file not found: {path}")

    def blocks() -> Iterator[bytes]:
        with path.open("rb") as f:
            yield from record_blocks(iter(partial(f.read, 1 << 20), b""))

    yield blocks()


def _as_module(source: str | os.PathLike[str] | ModuleType) -> ModuleType | None:
    """The collector module ``source`` names, or ``None`` for a CSV file.

    A module, a ``.py`` file or an import path that is no file here is a
    collector module, loaded as ``gather`` loads one; any other path is CSV.
    """
    if isinstance(source, ModuleType):
        return source
    path = Path(source)
    text = os.fspath(source)
    if path.suffix == ".py" or (
        isinstance(source, str)
        and not path.exists()
        and is_module_name(text)
        and path.suffix.lower() not in _CSV_SUFFIXES
    ):
        return load_collector_module(source, search_cwd=True)
    return None


def _module_rows(
    module: ModuleType,
    key: str,
    since: datetime | None,
    until: datetime | None,
    folder: Path,
    max_data_size: int,
) -> Iterator[Iterable[Any]]:
    """What the collector ``key`` hands back over the window, one source per window."""
    from ..errors import CollectorError
    from ..records import State
    from ..stages.chunk import file_records
    from ..stages.collect import collect
    from ..stages.discover import discover
    from ..stages.plan import plan

    now = datetime.now(timezone.utc)
    p = plan(discover(module, [key]), State(), now=now, since=since, until=until)
    tasks = [t for t in p.tasks if t.key == key]
    if not tasks:
        problems = "; ".join(f"{pr.key}: {pr.message}" for pr in p.problems)
        raise ConfigurationError(
            f"bench: nothing to collect for {key!r} ({problems or 'no window'})"
        )
    for task in tasks:
        if task.collector.format != "csv":
            raise ConfigurationError(f"bench measures CSV chunking; {key!r} is a JSON collector")
        c = collect(
            task,
            workdir=folder,
            max_data_size=max_data_size,
            collection_type="dry-run",
            clock=lambda: now,
        )
        try:
            if c.error is not None:
                raise CollectorError(f"bench of {key!r} failed: {c.error}")
            if c.records is not None:
                yield c.records
            for path in c.files:
                yield file_records(path, key)
        finally:
            shutil.rmtree(c.full_path, ignore_errors=True)


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
    """Run the data through the chunk and archive stages once per compressor; report each run.

    ``source`` is a CSV file (header first; ``key`` names it, ``data`` by
    default) or a collector module (a module, its ``.py`` file or its import
    path), of which only ``key`` is collected over ``[since, until)``.
    ``compressors`` are compressors or ``name:level`` texts; the default
    compressor when none.  The sizes are checked as a run's are
    (``RunConfig``).
    """
    chosen = [parse_compressor(c) if isinstance(c, str) else c for c in compressors]
    if not chosen:
        chosen = [default_compressor()]
    limits = RunConfig.from_values(
        max_data_size=max_data_size, max_upload_size=max_upload_size
    ).limits
    module = _as_module(source)
    if module is not None and not key:
        raise ConfigurationError(
            f"bench over the collector module {module.__name__} needs the key to collect"
        )
    if module is None and (since is not None or until is not None):
        raise ConfigurationError("since and until apply to a collector module, not to a CSV file")
    name = key or "data"
    csv = None if isinstance(source, ModuleType) else Path(source)

    def sources(folder: Path) -> Iterator[Iterable[Any]]:
        if module is None and csv is not None:
            return _file_rows(csv)
        assert module is not None
        return _module_rows(module, name, since, until, folder, limits.max_data_size)

    results: list[BenchResult] = []
    for comp in chosen:
        results.append(_one(sources, name, comp, limits, workdir))
        if results[0].rows == 0:  # a measure of nothing would pass for a fast one
            what = "the CSV file has" if module is None else f"{name!r} collected"
            raise ConfigurationError(
                f"bench: {what} no rows{_window_text(since, until)}: nothing to measure"
                + ("; widen the window" if module is not None else "")
            )
    return tuple(results)


def _window_text(since: datetime | None, until: datetime | None) -> str:
    if since is None and until is None:
        return ""
    shown = [w.isoformat() if w is not None else "..." for w in (since, until)]
    return f" in [{shown[0]}, {shown[1]})"


def _one(
    sources: Callable[[Path], Iterator[Iterable[Any]]],
    key: str,
    compressor: ZlibCompressor,
    limits: Limits,
    workdir: str | os.PathLike[str] | None,
) -> BenchResult:
    folder = Path(tempfile.mkdtemp(prefix="pipeline-collector-bench-", dir=workdir))
    try:
        with _PeakRss() as rss:
            t0 = time.perf_counter()
            parts: list[Part] = []
            for seq, rows in enumerate(sources(folder)):
                parts += chunk(
                    rows, key=key, directory=folder, limits=limits, seq=seq, compressor=compressor
                )
            archives = archive(
                parts, config={"bench": key}, directory=folder, limits=limits, compressor=compressor
            )
            seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return BenchResult(
        compressor=f"{compressor.name}:{compressor.level}",
        key=key,
        max_data_size=limits.max_data_size,
        max_upload_size=limits.max_upload_size,
        rows=sum(p.rows for p in parts),
        bytes=sum(p.raw_size for p in parts),
        deflated=sum(p.deflated_size for p in parts),
        parts=len(parts),
        archive_sizes=tuple(a.size for a in archives),
        seconds=seconds,
        peak_rss=rss.peak,
    )


def render_table(results: Sequence[BenchResult]) -> str:
    """The results as a text table, one row per run.

    Settings every row shares go in the line above the table; a setting
    that differs between rows (results of several benches together) gets a
    column of its own, so no row is shown under sizes it did not use.
    """
    if not results:
        return "(no results)"
    settings = (
        ("key", lambda r: r.key),
        ("max_data_size", lambda r: f"{r.max_data_size / MiB:g} MiB"),
        ("max_upload_size", lambda r: f"{r.max_upload_size / MiB:g} MiB"),
    )
    shared = [(n, get) for n, get in settings if len({get(r) for r in results}) == 1]
    varying = [(n, get) for n, get in settings if (n, get) not in shared]
    sizes = ", ".join(f"{n} {get(results[0])}" for n, get in shared if n != "key")
    key = next((get(results[0]) for n, get in shared if n == "key"), None)
    head = f"{key}: {sizes}" if key and sizes else key or sizes
    header = (
        *(n for n, _ in varying),
        "compressor", "rows", "MiB", "seconds", "rows/s", "MiB/s", "ratio", "parts",
        "archives", "mean fill", "largest fill", "peak RSS MiB",
    )  # fmt: skip
    rows = [
        (
            *(get(r) for _, get in varying),
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
    lines = [head] if head else []
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
