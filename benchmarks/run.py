"""Run the benchmarks; print, and save as each case finishes, the tables.

    python benchmarks/run.py [--quick] [--old] [--only SECTIONS|list] [--no-wait]

Sections (``--only``, comma separated; ``--only list`` lists them):

* ``e2e``: a dry-run ``gather`` of a CSV collector yielding the rows of a
  workload (``workload.py``), each case in a fresh subprocess so its peak RSS
  is its own.  The producer alone (the rows made and dropped) is timed in the
  same subprocess first, so ``wall / producer`` compares like with like.  With
  ``--old`` the same rows go through ``insights-analytics-collector`` 0.3.2
  in the same command, interleaved, for the ratios.
* ``chunk``: ``chunk.cut`` alone, and the old ``CsvFileSplitter`` when
  installed, on the same rows, with a byte-exact check of the parts.
* ``compress``: compressors and levels on the same rows, one thread, with the
  size against zlib 9 (what the old library wrote).
* ``fill``: a large ``max_data_size`` and a small ``max_upload_size``: how
  full the archives get.

Figures are medians of ``--reps`` repetitions with min-max; every heading says
the settings used.  Results go to ``benchmarks/results/<name>.md`` and
``.json`` (rewritten after every case) and a ``.png`` plot when matplotlib is
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import goals  # noqa: E402
import oldlib  # noqa: E402
import postgres  # noqa: E402
import workload  # noqa: E402
from harness import Harness, machine_busy, median, spread, table  # noqa: E402
from tree import TreeWatch  # noqa: E402

MiB = 1 << 20
BLOCK = (
    1 << 18
)  # pipeline_collector.stages.rows.BLOCK, not imported here so that import stays cheap
DEFAULT_MAX_DATA = 50 * MiB
DEFAULT_MAX_UPLOAD = 100 * MiB

SECTIONS = {
    "e2e": "end to end: dry-run gather per size, workload and compressor, vs the producer alone",
    "chunk": "chunk.cut alone (and the old CsvFileSplitter), byte-exact check",
    "compress": "compressors and levels on the same rows, size vs zlib 9",
    "fill": "archive fill at max_upload_size 10 MiB",
    "postgres": "a job-event table in a PostgreSQL server of our own: COPY read and dropped"
    " vs dry-run gather through copy_rows (and the old library with --old)",
}


# --- one end-to-end case, in its own subprocess ------------------------------


def _quiet_logs() -> None:
    """Errors only, as a service that set its logging so would run it (no structlog)."""
    logging.getLogger("pipeline_collector").setLevel(logging.ERROR)
    logging.getLogger("insights-analytics-collector").setLevel(logging.CRITICAL)


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (the compressor's)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def _rss_mib() -> float:
    """This process's peak RSS: VmHWM, which a new program starts afresh.

    ``ru_maxrss`` keeps the parent's peak at the fork across ``exec``, so a
    case spawned by a driver that had read a large COPY reported the driver's.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _spec(text: str) -> tuple[str, int]:
    name, _, level = text.partition(":")
    return name, int(level)


def _drain(it: Iterable[Any]) -> float:
    start = time.perf_counter()
    for _ in it:
        pass
    return time.perf_counter() - start


def _rows(size: int, kind: str) -> Iterator[bytes | str]:
    """The rows a collector of ``kind`` yields: ``str`` one at a time for ``cursor``."""
    if kind in workload.STR_ROWS:
        return iter(workload.text_rows(size, kind=kind))
    return iter(workload.rows(size, kind=kind))


def _new_collectors(size: int, kind: str) -> list[Callable[..., Any]]:
    from pipeline_collector import register

    @register("config", "1.0", description="benchmark config", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"version": "benchmark"}

    @register("job_events", "1.0", format="csv", description="job events")
    def job_events(**kwargs: Any) -> Iterator[bytes | str]:
        return _rows(size, kind)

    return [config, job_events]


def pg_case(a: argparse.Namespace) -> dict[str, Any]:
    """One PostgreSQL case: the COPY alone, or a dry-run gather (ours or the old one's)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    sizes: list[int] = []
    try:
        cpu0, t0 = _cpu(), time.perf_counter()
        if a.case == "pg-copy":
            postgres.run_copy(a.dsn)
        elif a.case == "pg-old":
            sizes = [os.path.getsize(p) for p in postgres.run_old(a.dsn, folder, a.max_data)]
        else:
            from pipeline_collector import get_compressor

            run = postgres.run_new(
                a.dsn, folder, a.max_data, a.max_upload, get_compressor(*_spec(a.compressor))
            )
            if run.status != "ok":
                raise SystemExit(f"gather failed: {run.reason}")
            sizes = [x.size for x in run.archives]
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "wall": wall,
        "producer": 0.0,
        "cpu": cpu,
        "rss": _rss_mib(),
        "archives": len(sizes),
        "compressed": sum(sizes),
        "largest": max(sizes, default=0),
        "sizes": sizes,
    }


def case(a: argparse.Namespace) -> dict[str, Any]:
    """One dry-run gather (or the old library's), the producer timed alone first."""
    if a.case.startswith("pg-"):
        return pg_case(a)
    workload.warm(kind=a.kind, text=a.case == "old")
    producer = _drain(
        workload.text_rows(a.size, kind=a.kind) if a.case == "old" else _rows(a.size, a.kind)
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        cpu0, t0 = _cpu(), time.perf_counter()
        if a.case == "old":
            paths = oldlib.run_old(a.size, a.max_data, folder, a.kind)
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
            if not paths:
                raise SystemExit("old library produced no archive")
            sizes = [os.path.getsize(p) for p in paths]
        else:
            from pipeline_collector import gather, get_compressor

            run = gather(
                _new_collectors(a.size, a.kind),
                mode="dry-run",
                max_data_size=a.max_data,
                max_upload_size=a.max_upload,
                workdir=folder,
                compressor=get_compressor(*_spec(a.compressor)),
            )
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
            if run.status != "ok":
                raise SystemExit(f"gather failed: {run.reason}")
            sizes = [x.size for x in run.archives]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "wall": wall,
        "producer": producer,
        "cpu": cpu,
        "rss": _rss_mib(),
        "archives": len(sizes),
        "compressed": sum(sizes),
        "largest": max(sizes),
        "sizes": sizes,
    }


def run_case(argv: list[str]) -> None:
    """Entry point of the subprocess: run one case, print its JSON on the last line."""
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--kind", default="jobs")
    p.add_argument("--compressor", default="zlib:9")
    p.add_argument("--max-data", type=int, default=DEFAULT_MAX_DATA)
    p.add_argument("--max-upload", type=int, default=DEFAULT_MAX_UPLOAD)
    p.add_argument("--dsn", default="")
    a = p.parse_args(argv)
    _quiet_logs()
    print(json.dumps(case(a)))


def spawn(h: Harness, *args: str) -> dict[str, Any]:
    """Run one case in a fresh interpreter; add how many cores others used meanwhile, and
    the peak RSS of the processes it started (``tree.py``)."""
    h.quiet()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, t0 = machine_busy(), time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeWatch(proc.pid) as watch:
        stdout, stderr = proc.communicate()
    elapsed = time.monotonic() - t0
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stdout, stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["rss_children"] = sum(watch.children.values())
    result["children"] = len(watch.children)
    result["rss_tree"] = max(result["rss"], watch.peak)
    result["rss_shared_once"] = max(result["rss"], watch.shared_once)
    # The server's processes are others too; for PostgreSQL cases the figure
    # counts them (their CPU is part of what a COPY costs).
    result["others"] = max(0.0, (machine_busy() - b0 - child) / elapsed)
    result["others_cpu"] = max(0.0, machine_busy() - b0 - child)
    result["load1"] = os.getloadavg()[0]
    return result


# --- sections ------------------------------------------------------------------


def end_to_end(
    h: Harness, sizes: list[int], reps: int, kinds: list[str], settings: list[str], old: bool
) -> None:
    configs = [("new", s) for s in settings] + ([("old", "zlib:9")] if old else [])
    total = len(sizes) * reps * len(kinds) * len(configs)
    done = 0
    for mib in sizes:
        for rep in range(reps):  # interleaved: each repetition runs every case once
            for kind in kinds:
                for impl, comp in configs:
                    done += 1
                    label = f"{impl} {comp}"
                    h.say(f"e2e {done}/{total}: {mib} MiB {kind} {label}, rep {rep + 1}/{reps}")
                    r = spawn(
                        h, impl, "--size", str(mib * MiB), "--kind", kind, "--compressor", comp
                    )
                    h.record("e2e", {"size": mib, "kind": kind, "impl": label, "rep": rep, **r})
                    h.say(
                        f"  wall {r['wall']:.2f} s, producer {r['producer']:.2f} s,"
                        f" peak RSS {r['rss']:.0f} MiB, others {r['others']:.2f} cores"
                    )
    runs = h.data["e2e"]
    rows: list[list[Any]] = []
    for mib in sizes:
        for kind in kinds:
            base = [
                x for x in runs if (x["size"], x["kind"], x["impl"]) == (mib, kind, "old zlib:9")
            ]
            for impl, comp in configs:
                rs = [
                    x
                    for x in runs
                    if (x["size"], x["kind"], x["impl"]) == (mib, kind, f"{impl} {comp}")
                ]
                own = median(x["wall"] - x["producer"] for x in rs)
                vs_old = size_vs = ""
                if base:
                    vs_old = (
                        f"{median(x['wall'] for x in base) / median(x['wall'] for x in rs):.2f}x"
                    )
                    size_vs = f"{(median(x['compressed'] for x in rs) / median(x['compressed'] for x in base) - 1) * 100:+.2f}%"
                rows.append(
                    [
                        mib,
                        kind,
                        f"pipeline_collector {comp}"
                        if impl == "new"
                        else "insights-analytics-collector 0.3.2 (gzip 9)",
                        spread(x["wall"] for x in rs),
                        spread(x["producer"] for x in rs),
                        spread((x["wall"] / x["producer"] for x in rs), "{:.2f}x"),
                        f"{mib / own:.0f}" if own > 0 else "-",
                        vs_old,
                        f"{median(x['cpu'] / x['wall'] for x in rs):.2f}",
                        spread((tree_rss(x) for x in rs), "{:.1f}"),
                        f"{median(x.get('rss_children', 0.0) for x in rs):.1f}",
                        f"{median(x.get('rss_shared_once', x['rss']) for x in rs):.1f}",
                        rs[0]["archives"],
                        f"{median(x['compressed'] for x in rs) / MiB:.1f}",
                        size_vs,
                        spread((x["others"] for x in rs), "{:.2f}"),
                    ]
                )
    h.add(
        f"### End to end: dry-run gather, max_data_size {DEFAULT_MAX_DATA // MiB} MiB,"
        f" max_upload_size {DEFAULT_MAX_UPLOAD // MiB} MiB (median (min-max) of {reps},"
        " interleaved)\n\n"
        + table(
            [
                "MiB",
                "workload",
                "implementation",
                "wall s",
                "producer s",
                "wall / producer",
                "own MiB/s",
                "faster than old",
                "CPU/wall",
                "peak RSS MiB (tree)",
                "of which children",
                "tree, shared pages once",
                "archives",
                "compressed MiB",
                "size vs old",
                "others' cores",
            ],
            rows,
        )
        + "\n\nThe producer (the rows made and dropped, nothing else) is timed alone in the same"
        " subprocess just before the gather; `wall / producer` is per run, then the median."
        " `own MiB/s` = MiB / (wall - producer).  `CPU/wall` counts all threads of the case's"
        " process and of the processes it started (2.0 = both cores busy).  `peak RSS (tree)`:"
        " the largest sum of the RSS of the case's process and of the processes it started,"
        " sampled every 20 ms (never below the case's own peak), the pages they share (the"
        " interpreter's code and libraries) counted in each; `of which children`: the started"
        " processes' own peaks (the compressor process); `shared pages once`: the same sum"
        " with the started processes' anonymous memory only.  `others' cores`: cores used by"
        " other processes while the case ran.\n"
    )
    if old:
        h.add(goals.e2e_goals(runs, sizes, kinds, f"new {settings[0]}"))
        h.add(goals.front(runs, sizes, kinds, [f"new {s}" for s in settings]))
        h.add(goals.compact(runs, sizes, kinds, [f"new {s}" for s in settings]))


def _part_content(part: Any, header_len: int, first: bool) -> Iterator[bytes]:
    d = zlib.decompressobj(-15)
    skip = 0 if first else header_len
    with open(part.path, "rb") as f:
        while chunk := f.read(MiB):
            out = d.decompress(chunk)
            if skip:
                cut = min(skip, len(out))
                out, skip = out[cut:], skip - cut
            yield out
    yield d.flush()


LOOP = "cut loop alone (bytes dropped, no compression, no file)"


class _NullWriter:
    """A part writer that counts what it is given and keeps nothing: the cut loop alone."""

    def __init__(self, path: Path, compressor: Any, workers: int | None = None) -> None:
        self.path = path
        self.size = 0

    def submit(self, data: bytes, utf8: bool = False) -> None:
        self.size += len(data)

    def submit_all(self, pieces: list[bytes], utf8: bool = False) -> None:
        self.size += sum(map(len, pieces))

    def bound(self, extra: int) -> int:
        return 0

    def settle(self) -> None:
        pass

    def close(self) -> tuple[int, int, int]:
        return self.size, 0, 0

    def abort(self) -> None:
        pass


def _blocks(size: int, kind: str) -> Iterator[Any]:
    """The rows of ``workload.rows`` joined into ``Rows`` blocks, as ``copy_rows`` yields them."""
    from itertools import islice

    from pipeline_collector.stages.rows import Rows

    it = workload.rows(size, kind=kind)
    per = max(1, BLOCK // workload.PER_ROW[kind])
    while batch := list(islice(it, per)):
        yield Rows(b"".join(batch), len(batch))


def chunking(h: Harness, size: int, reps: int, kind: str, settings: list[str]) -> None:
    """``chunk.cut`` against the old ``CsvFileSplitter`` on the same rows, same process."""
    from pipeline_collector import get_compressor
    from pipeline_collector.stages import chunk

    splitter: Any = oldlib.old_library(DEFAULT_MAX_DATA)[1] if oldlib.installed() else None
    workload.warm(kind=kind)
    expected = hashlib.sha256()
    expected_size = 0
    for row in workload.rows(size, kind=kind):
        expected.update(row)
        expected_size += len(row)
    want = expected.hexdigest()
    results: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}  # CPU seconds, the compressor process's included
    checks: dict[str, bool] = {}
    variants = [(f"cut, {s}", *_spec(s)) for s in settings] + [
        ("cut, zlib:0 (stored)", "zlib", 0),
        (f"cut, {settings[0]}, blocks of rows", *_spec(settings[0])),
        ("cut, zlib:0 (stored), blocks of rows", "zlib", 0),
        (LOOP, "zlib", 0),
        (f"{LOOP}, blocks of rows", "zlib", 0),
    ]

    def ours(label: str, name: str, level: int) -> None:
        folder = Path(tempfile.mkdtemp(prefix="bench-cut-"))
        if label.startswith(LOOP):
            return loop_only(label)
        try:
            c0, t0 = _cpu(), time.perf_counter()
            parts = list(
                chunk.cut(
                    _blocks(size, kind) if "blocks" in label else workload.rows(size, kind=kind),
                    key="job_events",
                    directory=folder,
                    limit=DEFAULT_MAX_DATA,
                    compressor=get_compressor(name, level),
                )
            )
            results.setdefault(label, []).append(time.perf_counter() - t0)
            cpus.setdefault(label, []).append(_cpu() - c0)
            if label not in checks:
                got = hashlib.sha256()
                for i, p in enumerate(parts):
                    for piece in _part_content(p, len(workload.header(kind)), i == 0):
                        got.update(piece)
                checks[label] = got.hexdigest() == want
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def loop_only(label: str) -> None:
        """The cut loop with a writer that counts the bytes and drops them."""
        from pipeline_collector.compress import offload

        # The cut's writer factory is swapped for the null writer, then put back.
        compression: Any = offload.Compression
        real = compression.writer
        compression.writer = lambda self, path: _NullWriter(path, None)
        try:
            c0, t0 = _cpu(), time.perf_counter()
            parts = list(
                chunk.cut(
                    _blocks(size, kind) if "blocks" in label else workload.rows(size, kind=kind),
                    key="job_events",
                    directory=Path("/nonexistent"),
                    limit=DEFAULT_MAX_DATA,
                )
            )
            results.setdefault(label, []).append(time.perf_counter() - t0)
            cpus.setdefault(label, []).append(_cpu() - c0)
            checks[label] = sum(p.raw_size for p in parts) - len(workload.header(kind)) * len(
                parts
            ) == (expected_size - len(workload.header(kind)))
        finally:
            compression.writer = real

    def theirs(label: str, compress: bool) -> None:
        folder = Path(tempfile.mkdtemp(prefix="bench-split-"))
        try:
            c0, t0 = _cpu(), time.perf_counter()
            out = splitter(
                filespec=str(folder / "job_events_table.csv"), max_file_size=DEFAULT_MAX_DATA
            )
            for row in workload.text_rows(size, kind=kind):
                out.write(row)
            files = out.file_list()
            if compress:  # what the old Package then does: tarfile "w:gz", zlib level 9
                for name in files:
                    with open(name, "rb") as src, open(name + ".gz", "wb") as dst:
                        c = zlib.compressobj(9, zlib.DEFLATED, -15)
                        while block := src.read(MiB):
                            dst.write(c.compress(block))
                        dst.write(c.flush())
            results.setdefault(label, []).append(time.perf_counter() - t0)
            cpus.setdefault(label, []).append(_cpu() - c0)
            if label not in checks:
                got = hashlib.sha256()
                for i, name in enumerate(files):
                    with open(name, "rb") as f:
                        if i:
                            f.readline()
                        while block := f.read(MiB):
                            got.update(block)
                checks[label] = got.hexdigest() == want
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    old_plain, old_gz = "CsvFileSplitter (plain files)", "CsvFileSplitter + gzip 9 of its files"
    prod_bytes: list[float] = []
    prod_blocks: list[float] = []
    prod_text: list[float] = []
    others: list[float] = []
    for rep in range(reps):
        h.quiet()
        h.say(f"chunk: {size // MiB} MiB {kind}, rep {rep + 1}/{reps}")
        b0, c0, t0 = machine_busy(), _cpu(), time.monotonic()
        prod_bytes.append(_drain(workload.rows(size, kind=kind)))
        prod_blocks.append(_drain(_blocks(size, kind)))
        prod_text.append(_drain(workload.text_rows(size, kind=kind)))
        for label, name, level in variants:
            ours(label, name, level)
        if splitter is not None:
            theirs(old_plain, False)
            theirs(old_gz, True)
        others.append(max(0.0, (machine_busy() - b0 - (_cpu() - c0)) / (time.monotonic() - t0)))
        h.record(
            "chunk",
            {
                "kind": kind,
                "rep": rep,
                "others": others[-1],
                **{k: v[-1] for k, v in results.items()},
            },
        )
    pb, pt, pk = median(prod_bytes), median(prod_text), median(prod_blocks)
    own = {
        k: median(v) - (pt if k.startswith("CsvFile") else pk if "blocks" in k else pb)
        for k, v in results.items()
    }
    rows: list[list[Any]] = []
    for label in results:
        peer = old_plain if "zlib:0" in label or label.startswith(LOOP) else old_gz
        small = own[label] < 0.05 * median(results[label])  # within the producer's noise
        ratio = f"{own[peer] / own[label]:.2f}x vs {peer}" if peer in own and peer != label else ""
        if small:
            ratio = "within the producer's own time"
        rows.append(
            [
                label,
                spread(results[label]),
                "-" if small else f"{size / own[label] / MiB:.0f}",
                ratio if not label.startswith("CsvFile") else "",
                f"{median(c / w for c, w in zip(cpus[label], results[label], strict=True)):.2f}",
                "yes" if checks[label] else "NO",
            ]
        )
    h.add(
        f"### Chunking alone: {size // MiB} MiB of `{kind}` rows, max_data_size"
        f" {DEFAULT_MAX_DATA // MiB} MiB, compressor blocks of {chunk.CHUNK // 1024} KiB"
        f" (median (min-max) of {reps})\n\n"
        + table(
            ["what", "wall s", "own MiB/s", "ratio of own time", "CPU/wall", "byte-exact"], rows
        )
        + f"\n\nProducer alone: {pb:.2f} s (bytes rows), {pk:.2f} s (the same rows joined"
        f" into `Rows` blocks of about {BLOCK // 1024} KiB, as `copy_rows` hands them over),"
        f" {pt:.2f} s (str rows, fed to the old splitter); `own` subtracts it.  Byte-exact: parts decompressed and concatenated,"
        " repeated headers dropped, equal (sha256) to the input.  `cut` compresses while it"
        " cuts, so it is set against the splitter plus the gzip 9 the old library then ran on"
        " the same files; `zlib:0` (stored blocks: zlib still copies every byte, about 450 MiB/s"
        " a core) and the cut loop alone are set against the bare splitter, which writes its"
        " files (the loop alone writes nothing; its check is the byte count).  `CPU/wall`:"
        " this process's threads and the compressor process it started.  Cores used by"
        f" other processes meanwhile: {spread(others)}.\n"
    )


def compressors(h: Harness, size: int, reps: int, kinds: list[str], quick: bool) -> None:
    """Each backend and level over the same rows, flushed every block as the parts are."""
    from pipeline_collector.compress import available, get_compressor
    from pipeline_collector.stages.chunk import CHUNK

    have = available()
    grid = (
        (("zlib", (9,)), ("zlib-ng", (5, 6)), ("isal", (1,)))
        if quick
        else (("zlib", (6, 9)), ("zlib-ng", (1, 4, 5, 6, 7, 9)), ("isal", (1, 2, 3)))
    )
    rows: list[list[Any]] = []
    for kind in kinds:
        data = workload.block(size, kind=kind)
        view = memoryview(data)
        gzip9 = len(zlib.compress(data, 9))  # one stream: what the old library's tarfile wrote
        for name, levels in grid:
            if name not in have:
                rows.append([kind, name, "-", "not installed", "", "", ""])
                continue
            for level in levels:
                comp = get_compressor(name, level)
                h.quiet()
                times, out = [], 0
                for _ in range(reps):
                    d = comp.deflater()
                    out = 0
                    t0 = time.perf_counter()
                    for i in range(0, len(data), CHUNK):
                        block = cast(bytes, view[i : i + CHUNK])  # a view: no copy in the timing
                        out += len(d.compress(block)) + len(comp.sync_flush(d))
                    times.append(time.perf_counter() - t0)
                item: dict[str, Any] = {
                    "kind": kind,
                    "name": name,
                    "level": level,
                    "mibs": len(data) / median(times) / MiB,
                    "ratio": len(data) / out,
                    "vs_gzip9": out / gzip9 - 1,
                }
                h.record("compressors", item)
                h.say(f"compress {kind} {name}:{level}: {item['mibs']:.0f} MiB/s")
                rows.append(
                    [
                        kind,
                        name,
                        level,
                        spread((len(data) / t / MiB for t in times), "{:.0f}"),
                        f"{len(data) / out:.3f}",
                        f"{out / MiB:.2f}",
                        f"{item['vs_gzip9'] * 100:+.2f}%",
                    ]
                )
    h.add(
        f"### Compressors on the same {size // MiB} MiB of rows, one thread, a sync flush every"
        f" {CHUNK // 1024} KiB (median (min-max) of {reps})\n\n"
        + table(
            ["workload", "backend", "level", "MiB/s", "ratio", "compressed MiB", "size vs zlib 9"],
            rows,
        )
        + "\n\n`size vs zlib 9`: against one zlib level-9 stream of the same bytes, what the old"
        " library's `tarfile` wrote.\n"
    )


def fill(h: Harness, size: int, max_upload: int, compressor: str) -> None:
    h.say(f"fill: {size // MiB} MiB, max_upload_size {max_upload // MiB} MiB, {compressor}")
    r = spawn(
        h,
        "new",
        "--size",
        str(size),
        "--compressor",
        compressor,
        "--max-data",
        str(1 << 30),
        "--max-upload",
        str(max_upload),
    )
    sizes = r["sizes"]
    body = sizes[:-1] or sizes
    h.record("fill", r)
    h.add(
        f"### Archive fill: max_data_size 1 GiB, max_upload_size {max_upload // MiB} MiB,"
        f" {size // MiB} MiB of `jobs` rows, {compressor}\n\n"
        + table(
            [
                "archives",
                "mean (all but last) / limit",
                "smallest (all but last) / limit",
                "largest / limit",
                "largest bytes",
                "over the limit",
            ],
            [
                [
                    len(sizes),
                    f"{sum(body) / len(body) / max_upload * 100:.1f}%",
                    f"{min(body) / max_upload * 100:.1f}%",
                    f"{max(sizes) / max_upload * 100:.2f}%",
                    max(sizes),
                    sum(s > max_upload for s in sizes),
                ]
            ],
        )
        + "\n"
    )


def postgres_section(h: Harness, rows: int, reps: int, old: bool, settings: list[str]) -> None:
    """COPY read and dropped, against a dry-run gather through ``copy_rows`` (and the old one).

    ``settings``: the compressors of the gathers, the default first.
    """
    sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' server starter, one copy
    from support import pgserver

    h.say(f"postgres: starting a server and loading {rows} rows")
    server = pgserver.PostgresServer().start()
    try:
        t0 = time.monotonic()
        size = postgres.load(server.dsn, rows)
        h.say(f"  loaded {size / MiB:.0f} MiB of CSV in {time.monotonic() - t0:.0f} s")
        # (what is recorded, the case, its compressor, its label)
        configs = [("pg-copy", "pg-copy", settings[0], "psycopg 3 COPY, read and dropped")]
        configs += [
            (f"pg-new {c}", "pg-new", c, f"pipeline_collector dry-run gather, copy_rows, {c}")
            for c in settings
        ]
        if old:
            label = "insights-analytics-collector 0.3.2 (copy_expert, gzip 9)"
            configs.append(("pg-old", "pg-old", settings[0], label))
        for rep in range(reps):
            for impl, kind, setting, _label in configs:
                h.say(f"postgres {impl}, rep {rep + 1}/{reps}")
                r = spawn(h, kind, "--size", "0", "--dsn", server.dsn, "--compressor", setting)
                h.record("postgres", {"impl": impl, "rep": rep, "rows": rows, "bytes": size, **r})
                h.say(f"  wall {r['wall']:.2f} s, peak RSS {r['rss']:.0f} MiB")
    finally:
        server.stop()
    runs = h.data["postgres"]
    table_rows: list[list[Any]] = []
    for impl, _kind, _setting, label in configs:
        rs = [x for x in runs if x["impl"] == impl]
        ratios = pg_ratios(runs, impl)
        table_rows.append(
            [
                label,
                spread(x["wall"] for x in rs),
                f"{size / MiB / median(x['wall'] for x in rs):.0f}",
                spread(ratios, "{:.2f}x"),
                f"{median(x['cpu'] / x['wall'] for x in rs):.2f}",
                spread((tree_rss(x) for x in rs), "{:.1f}"),
                rs[0]["archives"] or "",
                f"{median(x['compressed'] for x in rs) / MiB:.1f}" if rs[0]["archives"] else "",
                spread((x["others"] for x in rs), "{:.2f}"),
            ]
        )
    h.add(
        f"### PostgreSQL: {rows} job-event rows ({size / MiB:.0f} MiB of CSV), COPY ... TO"
        f" STDOUT WITH CSV HEADER, max_data_size {DEFAULT_MAX_DATA // MiB} MiB"
        f" (median (min-max) of {reps}, interleaved)\n\n"
        + table(
            [
                "what",
                "wall s",
                "MiB/s",
                "vs COPY alone",
                "CPU/wall (client)",
                "peak RSS MiB (client tree)",
                "archives",
                "compressed MiB",
                "others' cores",
            ],
            table_rows,
        )
        + "\n\nThe server runs on the same machine: its CPU is in `others' cores`, not in the"
        " client's CPU/wall (the client's includes its compressor process).  `vs COPY alone`:"
        " each run's wall over the COPY run of the same repetition."
        + goals.pg_goal(
            pg_ratios(runs, f"pg-new {settings[0]}"), pg_floors(runs, f"pg-new {settings[0]}")
        )
        + "\n"
    )


def tree_rss(x: dict[str, Any]) -> float:
    """A case's peak RSS with its children's (figures from before they were kept: its own)."""
    return float(x.get("rss_tree", x["rss"]))


def _with_copy(runs: list[dict[str, Any]], kind: str) -> list[tuple[dict[str, Any], float]]:
    """Each ``kind`` run with the wall of the COPY run of its repetition."""
    copy = {x["rep"]: x["wall"] for x in runs if x["impl"] == "pg-copy"}
    return [(x, copy[x["rep"]]) for x in runs if x["impl"] == kind and x["rep"] in copy]


def pg_ratios(runs: list[dict[str, Any]], kind: str) -> list[float]:
    """Each ``kind`` run's wall over the COPY run of its repetition."""
    return [x["wall"] / copy for x, copy in _with_copy(runs, kind)]


def pg_floors(runs: list[dict[str, Any]], kind: str) -> list[float]:
    """Each ``kind`` run's two-core floor: its CPU and the server's, over its rep's COPY."""
    return [
        goals.floor(x["cpu"] + x.get("others_cpu", x["others"] * x["wall"]), copy)
        for x, copy in _with_copy(runs, kind)
    ]


def machine() -> str:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for dist in ("zlib-ng", "isal", "insights-analytics-collector"):
        try:
            from importlib.metadata import version

            versions.append(f"{dist} {version(dist)}")
        except Exception:
            versions.append(f"{dist} -")
    return (
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu}; Python {platform.python_version()};"
        f" {', '.join(versions)}; load average at start {os.getloadavg()[0]:.2f}."
    )


def plot(h: Harness, path: Path) -> bool:
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[str, dict[int, list[float]]] = {}
    for x in h.data.get("e2e", []):
        series.setdefault(f"{x['kind']} {x['impl']}", {}).setdefault(x["size"], []).append(
            x["wall"]
        )
    for label, pts in sorted(series.items()):
        xs = sorted(pts)
        axes[0].plot(xs, [median(pts[s]) for s in xs], marker="o", label=label)
    axes[0].set_xlabel("MiB of rows")
    axes[0].set_ylabel("wall seconds (median)")
    axes[0].set_title("End to end, dry-run gather")
    if series:
        axes[0].legend(fontsize=7)
    for c in h.data.get("compressors", []):
        axes[1].scatter(c["ratio"], c["mibs"])
        axes[1].annotate(
            f"{c['kind']} {c['name']} {c['level']}", (c["ratio"], c["mibs"]), fontsize=7
        )
    axes[1].set_xlabel("compression ratio")
    axes[1].set_ylabel("MiB/s, one thread")
    axes[1].set_yscale("log")
    axes[1].set_title("Compressors")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def _sections_help() -> str:
    return "sections:\n" + "\n".join(f"  {k:9} {v}" for k, v in SECTIONS.items())


def main(argv: list[str]) -> None:
    if argv[:1] == ["--case"]:
        run_case(argv)
        return
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=_sections_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", default=None, help="MiB, comma separated (default 100,400,1024)")
    p.add_argument(
        "--workloads", default=None, help=f"of {','.join(workload.KINDS)} (default: both)"
    )
    p.add_argument("--old", action="store_true", help="also run insights-analytics-collector 0.3.2")
    p.add_argument(
        "--quick", action="store_true", help="small sizes, one repetition (about a minute)"
    )
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--name", default=None, help="results/<name>.md (default: a timestamp)")
    p.add_argument(
        "--fast", default="isal:1", help="the fast setting also reported (default isal:1)"
    )
    p.add_argument("--extra", default="", help="more settings for end to end, e.g. zlib-ng:6")
    p.add_argument(
        "--pg-extra", default="", help="more settings for the PostgreSQL section, e.g. isal:1"
    )
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="sections to run, comma separated; 'list' lists them",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=None,
        help="seconds a case may wait for a quiet machine (default 60; 10 with --quick)",
    )
    p.add_argument("--no-wait", action="store_true", help="never wait for a quiet machine")
    p.add_argument(
        "--pg-rows",
        type=int,
        default=None,
        help="rows of the PostgreSQL table (default 2000000; 200000 with --quick)",
    )
    a = p.parse_args(argv)
    if a.only == "list":
        print(_sections_help())
        return
    only = [s for s in a.only.split(",") if s]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"unknown sections {unknown}; --only list lists them")
    kinds = (a.workloads or ",".join(workload.KINDS)).split(",")
    if set(kinds) - set(workload.KINDS):
        p.error(f"--workloads takes {','.join(workload.KINDS)}")
    quick = a.quick
    sizes = [int(s) for s in (a.sizes or ("16,64" if quick else "100,400,1024")).split(",")]
    reps = a.reps or (1 if quick else 3)
    from pipeline_collector.compress import available, default_compressor

    fast = a.fast if a.fast.partition(":")[0] in available() else "zlib-ng:1"
    dc = default_compressor()
    default = f"{dc.name}:{dc.level}"
    if a.old and not oldlib.installed():
        raise SystemExit("--old needs: pip install insights-analytics-collector==0.3.2 django")
    name = a.name or datetime.now(timezone.utc).strftime("run-%Y%m%d-%H%M%S")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    wait = 0.0 if a.no_wait else (a.wait if a.wait is not None else (10.0 if quick else 60.0))
    h = Harness(out / f"{name}.md", out / f"{name}.json", wait)
    command = "python benchmarks/run.py " + " ".join(argv)
    h.say(f"sections {','.join(only)}; results in {h.md} (rewritten as each case finishes)")
    h.add(
        f"## Benchmark `{name}`\n\n{machine()}\n\nCommand: `{command.strip()}`; default"
        f" compressor {default}.\n"
    )
    settings = list(dict.fromkeys([default, fast, *[x for x in a.extra.split(",") if x]]))
    if "e2e" in only:
        end_to_end(h, sizes, reps, kinds, settings, a.old)
    if "chunk" in only:
        for kind in kinds:
            chunking(h, (32 if quick else 256) * MiB, reps, kind, [default, fast])
    if "compress" in only:
        compressors(h, (16 if quick else 64) * MiB, reps, kinds, quick)
    if "fill" in only:
        fill(h, (64 if quick else 256) * MiB, 10 * MiB, default)
    if "postgres" in only:
        rows = a.pg_rows or (200_000 if quick else 2_000_000)
        extra = [x for x in a.pg_extra.split(",") if x]
        postgres_section(h, rows, reps, a.old, list(dict.fromkeys([default, *extra])))
    h.add(
        f"Total time {time.monotonic() - h.started:.0f} s; load average at end"
        f" {os.getloadavg()[0]:.2f}.\n"
    )
    if plot(h, out / f"{name}.png"):
        h.say(f"plot: {out / f'{name}.png'}")
    h.say(f"results: {h.md}")


if __name__ == "__main__":
    main(sys.argv[1:])
