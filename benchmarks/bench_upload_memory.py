"""Peak memory of shipping a 100 MiB archive: streamed upload vs in-memory multipart.

The ingress runs in its own process (``python -m pipeline_collector.ingress``)
so that its memory does not count.  Each client variant runs in a fresh
process that reports its peak RSS (``VmHWM``) after importing what it needs
(the baseline) and after the upload:

- ``baseline``: imports only, no upload;
- ``streamed``: ``HttpTransport.send``, the body read from disk in chunks;
- ``requests files=``: the old way, ``requests.post(files={"file": (name,
  f, ctype)})``, which builds the whole multipart body in memory.

Run:  python benchmarks/bench_upload_memory.py [--size-mib 100]
Writes the Markdown table to benchmarks/results/upload_memory.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

CTYPE = "application/vnd.redhat.aap-event-driven-ansible.filename+tgz"
VARIANTS = ("baseline", "streamed", "requests files=")
RESULTS = Path(__file__).parent / "results" / "upload_memory.md"


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB (VmHWM, else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def client(variant: str, url: str, path: Path, sha256: str) -> dict[str, float]:
    """Run one variant in this (fresh) process and report its figures."""
    import requests

    from pipeline_collector.records import Archive, Batch
    from pipeline_collector.transports import HttpTransport

    baseline = peak_rss_kib()
    started = time.perf_counter()
    status = 0
    if variant == "streamed":
        archive = Archive(
            path=path,
            size=path.stat().st_size,
            sha256=sha256,
            members=(),
            batch=Batch(group="default", number=0),
            until=datetime.now(timezone.utc),
        )
        with HttpTransport(url=url, content_type=CTYPE) as transport:
            status = transport.send(archive).status or 0
    elif variant == "requests files=":
        with path.open("rb") as handle:
            answer = requests.post(
                url, files={"file": (path.name, handle, CTYPE)}, timeout=(31, 31)
            )
        status = answer.status_code
    elif variant != "baseline":
        raise SystemExit(f"unknown variant {variant!r}")
    seconds = time.perf_counter() - started
    if variant != "baseline" and status != 202:
        raise SystemExit(f"{variant}: ingress answered {status}")
    return {"baseline_kib": baseline, "peak_kib": peak_rss_kib(), "seconds": seconds}


def write_archive(path: Path, size: int) -> str:
    """Write ``size`` random-ish bytes (incompressible, like a .tar.gz) and hash them."""
    digest = hashlib.sha256()
    block = os.urandom(2**20)
    with path.open("wb") as out:
        for i in range(size // len(block)):
            # Vary each block cheaply so the file is not one block repeated.
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def start_ingress(folder: Path, max_body: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline_collector.ingress",
            "--port",
            "0",
            "--dir",
            str(folder),
            "--service",
            "aap-event-driven-ansible",
            "--max-body",
            str(max_body),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("upload url: "):
        proc.kill()
        raise SystemExit(f"ingress did not start: {line!r}")
    return proc, line.split(": ", 1)[1].strip()


def run_variant(variant: str, url: str, path: Path, sha256: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", variant, url, str(path), sha256],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def table(rows: list[tuple[str, dict[str, float]]], size_mib: int) -> str:
    lines = [
        f"Shipping a {size_mib} MiB archive to a local ingress (client process only).",
        "",
        "| variant | peak RSS MiB | delta over baseline import RSS MiB | seconds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['peak_kib'] / 1024:.1f} "
            f"| {(r['peak_kib'] - r['baseline_kib']) / 1024:.2f} "
            f"| {r['seconds']:.2f} |"
        )
    lines += [
        "",
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs.  Peak RSS is VmHWM of a fresh process per variant; the "
        "delta is over the same process's VmHWM right after its imports.  "
        f"run {datetime.now(timezone.utc):%Y-%m-%d}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=100, help="archive size in MiB")
    parser.add_argument("--client", nargs=4, metavar=("VARIANT", "URL", "PATH", "SHA256"))
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown file to write")
    args = parser.parse_args(argv)
    if args.client:
        variant, url, path, sha256 = args.client
        print(json.dumps(client(variant, url, Path(path), sha256)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "analytics-bench.tar.gz"
        sha256 = write_archive(path, args.size_mib * 2**20)
        proc, url = start_ingress(folder / "received", max_body=args.size_mib * 2**20)
        try:
            rows = [(v, run_variant(v, url, path, sha256)) for v in VARIANTS]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = table(rows, args.size_mib)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
