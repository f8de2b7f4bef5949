"""Run every benchmark and print (and save) the tables.

    python benchmarks/run.py [--sizes 100,400,1024] [--old] [--quick] [--reps 3]

Sections:

* end to end: a dry-run ``gather`` of a CSV collector yielding the job-event
  rows of ``workload.py``; each case runs in a fresh subprocess so its peak
  RSS is its own.  The producer (just iterating the rows) is timed alone in the
  same subprocess, and the pipeline's own throughput is
  ``bytes / (wall - producer)``.  With ``--old`` the same rows go through
  ``insights-analytics-collector`` 0.3.2 (its ``CsvFileSplitter`` and
  ``Package``), in the same command, for the ratios.
* chunking alone: the same rows through ``chunk.cut`` and the old
  ``CsvFileSplitter``, with a byte-exact check of the parts.
* compressors side by side on the same 64 MiB.
* archive fill: a large ``max_data_size`` and a small ``max_upload_size``.
* linearity: seconds per GiB at each size.

Figures are medians of ``--reps`` repetitions; results go to
``benchmarks/results/<name>.md`` (and a ``.png`` plot when matplotlib is
installed).
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
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402

MiB = 1 << 20
DEFAULT_MAX_DATA = 50 * MiB


# --- helpers ---------------------------------------------------------------


def _quiet_logs() -> None:
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.getLogger("insights-analytics-collector").setLevel(logging.CRITICAL)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _spec(text: str) -> tuple[str, int]:
    name, _, level = text.partition(":")
    return name, int(level)


def _drain(it: Iterable[Any]) -> float:
    start = time.perf_counter()
    for _ in it:
        pass
    return time.perf_counter() - start


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# --- end to end: one case per subprocess -----------------------------------


def _new_collectors(size: int) -> list[Callable[..., Any]]:
    from pipeline_collector import register

    @register("config", "1.0", description="benchmark config", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"version": "benchmark"}

    @register("job_events", "1.0", format="csv", description="job events")
    def job_events(**kwargs: Any) -> Iterator[bytes]:
        return workload.rows(size)

    return [config, job_events]


def case_new(
    size: int, compressor: str, max_data: int, max_upload: int, folder: Path
) -> dict[str, Any]:
    """A dry-run gather of ``size`` bytes of rows; the producer timed alone first."""
    from pipeline_collector import gather, get_compressor

    workload.warm()
    producer = _drain(workload.rows(size))
    cpu0, t0 = _cpu(), time.perf_counter()
    run = gather(
        _new_collectors(size),
        mode="dry-run",
        max_data_size=max_data,
        max_upload_size=max_upload,
        workdir=folder,
        compressor=get_compressor(*_spec(compressor)),
    )
    wall = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    if run.status != "ok":
        raise SystemExit(f"gather failed: {run.reason}")
    sizes = [a.size for a in run.archives]
    raw = sum(c.bytes for c in run.collections)
    return {
        "wall": wall,
        "producer": producer,
        "cpu": cpu,
        "rss": _rss_mib(),
        "archives": len(sizes),
        "compressed": sum(sizes),
        "largest": max(sizes),
        "sizes": sizes,
        "raw": raw,
    }


def _old_library(max_data: int) -> tuple[Any, Any, Any]:
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_TZ=True)
    from insights_analytics_collector import (
        Collector,
        CsvFileSplitter,
        Package,
        register,
    )

    class BenchPackage(Package):  # type: ignore[misc]  # subclasses the old, untyped library
        MAX_DATA_SIZE = max_data
        PAYLOAD_CONTENT_TYPE = "application/vnd.redhat.benchmark.filename+tgz"

        def get_ingress_url(self) -> None:
            return None

        def get_s3_configured(self) -> bool:
            return False

        def _get_http_request_headers(self) -> dict[str, str]:
            return {}

        def _get_rh_user(self) -> str:
            return ""

        def _get_rh_password(self) -> str:
            return ""

        def _get_rh_region(self) -> str:
            return ""

        def _get_rh_bucket(self) -> str:
            return ""

    class BenchCollector(Collector):  # type: ignore[misc]  # subclasses the old, untyped library
        @staticmethod
        def db_connection() -> None:
            return None

        @staticmethod
        def _package_class() -> type:
            return BenchPackage

        def _is_valid_license(self) -> bool:
            return True

        def _is_shipping_configured(self) -> bool:
            return True

        def _last_gathering(self) -> None:
            return None

        def _load_last_gathered_entries(self) -> dict[str, Any]:
            return {}

        def _save_last_gathered_entries(self, entries: dict[str, Any]) -> None:
            pass

        def _save_last_gather(self) -> None:
            pass

    return BenchCollector, CsvFileSplitter, register


def case_old(size: int, max_data: int, folder: Path) -> dict[str, Any]:
    """The same rows through insights-analytics-collector 0.3.2, as AWX drives it."""
    collector_class, splitter, register = _old_library(max_data)

    @register("config", "1.0", description="benchmark config", config=True)  # type: ignore[untyped-decorator]  # the old library is untyped
    def config(**kwargs: Any) -> dict[str, str]:
        return {"version": "benchmark"}

    @register("job_events", "1.0", format="csv", description="job events")  # type: ignore[untyped-decorator]  # the old library is untyped
    def job_events(full_path: str, max_data_size: int, **kwargs: Any) -> list[str]:
        # What copy_expert(sql, CsvFileSplitter(...)) does: one write() per row.
        out = splitter(
            filespec=os.path.join(full_path, "job_events_table.csv"), max_file_size=max_data_size
        )
        for row in workload.text_rows(size):
            out.write(row)
        files: list[str] = out.file_list()
        return files

    module = types.ModuleType("benchmark_old_collectors")
    vars(module).update(config=config, job_events=job_events)

    workload.warm()
    producer = _drain(workload.text_rows(size))
    tmp = folder / "stage-root"
    tmp.mkdir()
    collector = collector_class(collection_type="dry-run", collector_module=module)
    cpu0, t0 = _cpu(), time.perf_counter()
    paths = collector.gather(dest=str(tmp))
    wall = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    if not paths:
        raise SystemExit("old library produced no archive")
    sizes = [os.path.getsize(p) for p in paths]
    return {
        "wall": wall,
        "producer": producer,
        "cpu": cpu,
        "rss": _rss_mib(),
        "archives": len(sizes),
        "compressed": sum(sizes),
        "largest": max(sizes),
        "sizes": sizes,
        "raw": None,
    }


def run_case(argv: list[str]) -> None:
    """Entry point of the subprocess: run one case, print its JSON on the last line."""
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--compressor", required=True)
    p.add_argument("--max-data", type=int, default=DEFAULT_MAX_DATA)
    p.add_argument("--max-upload", type=int, default=100 * MiB)
    a = p.parse_args(argv)
    _quiet_logs()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        if a.case == "old":
            result = case_old(a.size, a.max_data, folder)
        else:
            result = case_new(a.size, a.compressor, a.max_data, a.max_upload, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


def _machine_busy() -> float:
    """CPU seconds spent by the whole machine so far (all cores, all processes)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit: float = 120.0) -> float:
    """Wait (up to ``limit`` seconds) until other processes leave the cores alone.

    The machine may be shared; a case that starts while something else runs
    measures the other thing too.  Returns the busy fraction last seen.
    """
    deadline = time.monotonic() + limit
    quiet, busy = 0, 1.0
    while time.monotonic() < deadline:
        b0, t0 = _machine_busy(), time.monotonic()
        time.sleep(0.5)
        busy = (_machine_busy() - b0) / (time.monotonic() - t0) / (os.cpu_count() or 1)
        quiet = quiet + 1 if busy < 0.08 else 0
        if quiet >= 3:
            break
    return busy


def _spawn(*args: str) -> dict[str, Any]:
    """Run one case in a fresh interpreter; add how busy the rest of the machine was."""
    wait_quiet()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, t0 = _machine_busy(), time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # Cores used by other processes while the case ran (0 on a quiet machine).
    result["others"] = max(0.0, (_machine_busy() - b0 - child) / elapsed)
    return result


# --- sections ----------------------------------------------------------------


class Report:
    """Collects Markdown sections and prints each as it is done."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.data: dict[str, Any] = {}

    def add(self, text: str) -> None:
        print(text, flush=True)
        self.parts.append(text)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def end_to_end(
    report: Report,
    sizes: list[int],
    reps: int,
    old: bool,
    settings: list[str],
) -> None:
    configs = [("new", s) for s in settings] + ([("old", "zlib:9")] if old else [])
    medians: dict[tuple[int, str], dict[str, float]] = {}
    for mib in sizes:
        for rep in range(reps):
            for impl, comp in configs:
                label = f"{impl} {comp}"
                args = [impl, "--size", str(mib * MiB), "--compressor", comp]
                r = _spawn(*args)
                report.data.setdefault("e2e", []).append(
                    {"size": mib, "impl": label, "rep": rep, **r}
                )
                print(
                    f"  e2e {mib} MiB {label} rep {rep}: wall {r['wall']:.2f}s",
                    file=sys.stderr,
                    flush=True,
                )
        for impl, comp in configs:
            label = f"{impl} {comp}"
            runs = [x for x in report.data["e2e"] if x["size"] == mib and x["impl"] == label]
            m = {
                k: _median(x[k] for x in runs)
                for k in ("wall", "producer", "cpu", "rss", "compressed", "others")
            }
            m["own"] = _median(x["wall"] - x["producer"] for x in runs)
            m["archives"] = runs[0]["archives"]
            m["largest"] = max(x["largest"] for x in runs)
            m["raw"] = mib * MiB
            medians[(mib, label)] = m
    report.data["e2e_medians"] = {f"{k[0]} {k[1]}": v for k, v in medians.items()}
    old_label = "old zlib:9"
    rows: list[list[Any]] = []
    for mib in sizes:
        base = medians.get((mib, old_label))
        for impl, comp in configs:
            label = f"{impl} {comp}"
            m = medians[(mib, label)]
            own_tp = m["raw"] / m["own"] / MiB
            vs = "" if base is None else f"{(base['own'] / m['own']):.2f}x"
            size_vs = (
                "" if base is None else f"{(m['compressed'] / base['compressed'] - 1) * 100:+.2f}%"
            )
            rows.append(
                [
                    mib,
                    "pipeline_collector " + comp
                    if impl == "new"
                    else "insights-analytics-collector 0.3.2 (tarfile gzip 9)",
                    f"{m['wall']:.2f}",
                    f"{m['producer']:.2f}",
                    f"{own_tp:.0f}",
                    vs,
                    f"{m['cpu'] / m['wall']:.2f}",
                    f"{m['rss']:.1f}",
                    m["archives"],
                    f"{m['compressed'] / MiB:.1f}",
                    size_vs,
                    f"{m['others']:.2f}",
                ]
            )
    report.add(
        f"### End to end: dry-run gather, max_data_size = 50 MiB (median of {reps})\n\n"
        + table(
            [
                "MiB",
                "implementation",
                "wall s",
                "producer s",
                "own MiB/s",
                "own vs old",
                "CPU/wall",
                "peak RSS MiB",
                "archives",
                "compressed MiB",
                "size vs old",
                "others' load",
            ],
            rows,
        )
        + "\n\n`own MiB/s` = bytes / (wall - producer); the producer (iterating the rows,"
        " nothing else) is timed alone in the same subprocess.  `CPU/wall` counts all"
        " threads of the process (2.0 = both cores busy).  `others' load`: cores used by other"
        " processes while the case ran (each case first waits for a quiet machine).\n"
    )
    # linearity and memory
    lrows: list[list[Any]] = []
    for impl, comp in configs:
        label = f"{impl} {comp}"
        pts = [(mib, medians[(mib, label)]) for mib in sizes]
        spg = [m["wall"] / (mib / 1024) for mib, m in pts]
        first_rss = pts[0][1]["rss"]
        lrows.append(
            [
                label,
                ", ".join(f"{m['wall']:.2f}" for _, m in pts),
                ", ".join(f"{s:.1f}" for s in spg),
                f"{(max(spg) / min(spg) - 1) * 100:.0f}%",
                ", ".join(f"{m['rss']:.1f}" for _, m in pts),
                f"{pts[-1][1]['rss'] - first_rss:+.1f}",
            ]
        )
    report.add(
        "### Linearity and memory\n\n"
        + table(
            [
                "implementation",
                f"wall s at {', '.join(map(str, sizes))} MiB",
                "s per GiB",
                "spread of s/GiB",
                "peak RSS MiB",
                f"RSS {sizes[-1]} vs {sizes[0]} MiB",
            ],
            lrows,
        )
        + "\n"
    )


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


def chunking(report: Report, size: int, reps: int) -> None:
    """``chunk.cut`` against the old ``CsvFileSplitter`` on the same rows, same process."""
    from pipeline_collector import get_compressor
    from pipeline_collector.stages import chunk

    _, splitter, _ = _old_library(DEFAULT_MAX_DATA)
    workload.warm()
    expected = hashlib.sha256()
    for row in workload.rows(size):
        expected.update(row)
    want = expected.hexdigest()
    results: dict[str, list[float]] = {}
    checks: dict[str, bool] = {}
    variants = [
        ("cut, zlib-ng:6 (compresses as it cuts)", "zlib-ng", 6),
        ("cut, isal:1", "isal", 1),
        ("cut, zlib:0 (stored: the cutting alone)", "zlib", 0),
    ]

    def ours(label: str, name: str, level: int) -> None:
        folder = Path(tempfile.mkdtemp(prefix="bench-cut-"))
        try:
            t0 = time.perf_counter()
            parts = list(
                chunk.cut(
                    workload.rows(size),
                    key="job_events",
                    directory=folder,
                    limit=DEFAULT_MAX_DATA,
                    compressor=get_compressor(name, level),
                )
            )
            results.setdefault(label, []).append(time.perf_counter() - t0)
            if label not in checks:
                got = hashlib.sha256()
                for i, p in enumerate(parts):
                    for piece in _part_content(p, len(workload.HEADER), i == 0):
                        got.update(piece)
                checks[label] = got.hexdigest() == want
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def theirs(label: str, compress: bool) -> None:
        folder = Path(tempfile.mkdtemp(prefix="bench-split-"))
        try:
            t0 = time.perf_counter()
            out = splitter(
                filespec=str(folder / "job_events_table.csv"), max_file_size=DEFAULT_MAX_DATA
            )
            for row in workload.text_rows(size):
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

    old_plain, old_gz = (
        "CsvFileSplitter (writes plain files)",
        "CsvFileSplitter + gzip 9 of its files",
    )
    prod_bytes: list[float] = []
    prod_text: list[float] = []
    for _ in range(reps):
        wait_quiet()
        prod_bytes.append(_drain(workload.rows(size)))
        prod_text.append(_drain(workload.text_rows(size)))
        for label, name, level in variants:
            ours(label, name, level)
        theirs(old_plain, False)
        theirs(old_gz, True)
    pb, pt = _median(prod_bytes), _median(prod_text)
    med = {k: _median(v) for k, v in results.items()}
    own = {k: v - (pt if k.startswith("CsvFile") else pb) for k, v in med.items()}
    rows: list[list[Any]] = []
    for label, _, _ in variants:
        peer = old_plain if "stored" in label else old_gz
        rows.append(
            [
                label,
                f"{med[label]:.2f}",
                f"{size / own[label] / MiB:.0f}",
                f"{own[peer] / own[label]:.2f}x vs {peer}",
                "yes" if checks[label] else "NO",
            ]
        )
    for label in (old_plain, old_gz):
        rows.append(
            [
                label,
                f"{med[label]:.2f}",
                f"{size / own[label] / MiB:.0f}",
                "",
                "yes" if checks[label] else "NO",
            ]
        )
    report.data["chunk"] = {
        "size": size,
        "median": med,
        "own": own,
        "checks": checks,
        "producer_bytes": pb,
        "producer_text": pt,
    }
    report.add(
        f"### Chunking alone: {size // MiB} MiB of rows, 50 MiB parts (median of {reps})\n\n"
        + table(["what", "wall s", "own MiB/s", "ratio", "byte-exact"], rows)
        + f"\n\nProducer alone: {pb:.2f} s (bytes rows), {pt:.2f} s (str rows, fed to the old"
        " splitter); `own` subtracts it.  Byte-exact: parts decompressed and concatenated,"
        " repeated headers dropped, equal (sha256) to the input.  `cut` compresses while it"
        " cuts, so it is set against the splitter plus the gzip the old library then ran on"
        " the same files; `zlib:0` (stored blocks) shows the cutting alone against the bare"
        " splitter.\n"
    )


def compressors(report: Report, size: int, reps: int) -> None:
    """Each backend and level over the same buffer, flushed every 1 MiB as the parts are."""
    from pipeline_collector.compress import available, get_compressor

    data = workload.block(size)
    view = memoryview(data)
    have = available()
    rows: list[list[Any]] = []
    found: list[dict[str, Any]] = []
    for name, levels in (("zlib", (1, 6, 9)), ("zlib-ng", (1, 6, 9)), ("isal", (0, 1, 2, 3))):
        if name not in have:
            rows.append([name, "-", "not installed", "", ""])
            continue
        for level in levels:
            comp = get_compressor(name, level)
            times, out = [], 0
            wait_quiet()
            for _ in range(reps):
                d = comp.deflater()
                out = 0
                t0 = time.perf_counter()
                for i in range(0, len(data), MiB):
                    block = cast(bytes, view[i : i + MiB])  # a view: no copy in the timing
                    out += len(d.compress(block)) + len(comp.sync_flush(d))
                times.append(time.perf_counter() - t0)
            t = _median(times)
            found.append(
                {
                    "name": name,
                    "level": level,
                    "mibs": len(data) / t / MiB,
                    "ratio": len(data) / out,
                }
            )
            rows.append(
                [
                    name,
                    level,
                    f"{len(data) / t / MiB:.0f}",
                    f"{len(data) / out:.3f}",
                    f"{out / MiB:.2f}",
                ]
            )
    report.data["compressors"] = found
    report.add(
        f"### Compressors on the same {size // MiB} MiB of rows, one thread (median of {reps})\n\n"
        + table(["backend", "level", "MiB/s", "ratio", "compressed MiB"], rows)
        + "\n"
    )


def fill(report: Report, size: int, max_upload: int, compressor: str) -> None:
    r = _spawn(
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
    report.data["fill"] = r
    report.add(
        f"### Archive fill: max_data_size = 1 GiB, max_upload_size = {max_upload // MiB} MiB,"
        f" {size // MiB} MiB of rows, {compressor}\n\n"
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
                    f"{statistics.mean(body) / max_upload * 100:.1f}%",
                    f"{min(body) / max_upload * 100:.1f}%",
                    f"{max(sizes) / max_upload * 100:.2f}%",
                    max(sizes),
                    sum(s > max_upload for s in sizes),
                ]
            ],
        )
        + "\n"
    )


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


def plot(report: Report, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    med = report.data.get("e2e_medians", {})
    series: dict[str, list[tuple[int, float]]] = {}
    for key, m in med.items():
        mib, label = key.split(" ", 1)
        series.setdefault(label, []).append((int(mib), m["wall"]))
    for label, pts in sorted(series.items()):
        pts.sort()
        axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    axes[0].set_xlabel("MiB of rows")
    axes[0].set_ylabel("wall seconds (median)")
    axes[0].set_title("End to end, dry-run gather")
    if series:
        axes[0].legend()
    for c in report.data.get("compressors", []):
        axes[1].scatter(c["ratio"], c["mibs"])
        axes[1].annotate(f"{c['name']} {c['level']}", (c["ratio"], c["mibs"]), fontsize=8)
    axes[1].set_xlabel("compression ratio")
    axes[1].set_ylabel("MiB/s, one thread")
    axes[1].set_yscale("log")
    axes[1].set_title("Compressors")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str]) -> None:
    if argv[:1] == ["--case"]:
        run_case(argv)
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None, help="MiB, comma separated (default 100,400,1024)")
    p.add_argument("--old", action="store_true", help="also run insights-analytics-collector 0.3.2")
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--name", default=None, help="results/<name>.md (default: a timestamp)")
    p.add_argument("--fast", default="isal:1", help="the fastest setting to report")
    p.add_argument("--extra", default="", help="more settings for end to end, e.g. zlib-ng:5")
    p.add_argument("--only", default="e2e,chunk,compress,fill", help="sections to run")
    a = p.parse_args(argv)
    quick = a.quick
    sizes = [int(s) for s in (a.sizes or ("16,64" if quick else "100,400,1024")).split(",")]
    reps = a.reps or (1 if quick else 3)
    only = set(a.only.split(","))
    from pipeline_collector.compress import available

    fast = a.fast if a.fast.partition(":")[0] in available() else "zlib-ng:1"
    from pipeline_collector.compress import default_compressor

    dc = default_compressor()
    default = f"{dc.name}:{dc.level}"
    if a.old:
        try:
            _old_library(DEFAULT_MAX_DATA)
        except ImportError as e:
            raise SystemExit(
                f"--old needs: pip install insights-analytics-collector==0.3.2 django ({e})"
            ) from None
    name = a.name or datetime.now(timezone.utc).strftime("run-%Y%m%d-%H%M%S")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    report = Report()
    started = time.perf_counter()
    command = "python benchmarks/run.py " + " ".join(argv)
    report.add(f"## Benchmark `{name}`\n\n{machine()}\n\nCommand: `{command.strip()}`\n")
    if "e2e" in only:
        extra = [x for x in a.extra.split(",") if x]
        end_to_end(report, sizes, reps, a.old, [default, fast, *extra])
    if "chunk" in only:
        chunking(report, (32 if quick else 256) * MiB, reps)
    if "compress" in only:
        compressors(report, (16 if quick else 64) * MiB, reps)
    if "fill" in only:
        fill(report, (64 if quick else 256) * MiB, 10 * MiB, default)
    report.add(
        f"Total time {time.perf_counter() - started:.0f} s; load average at end {os.getloadavg()[0]:.2f}.\n"
    )
    md = out / f"{name}.md"
    md.write_text("\n".join(report.parts))
    (out / f"{name}.json").write_text(json.dumps(report.data, indent=1, default=str))
    if plot(report, out / f"{name}.png"):
        print(f"plot: {out / f'{name}.png'}")
    print(f"results: {md}")


if __name__ == "__main__":
    main(sys.argv[1:])
