"""Where every thread of every process of one end-to-end case spends its time.

    python benchmarks/threads_profile.py [--kind cursor] [--size 400] [--compressor zlib-ng:6]

Runs one case of ``run.py`` (a dry-run ``gather`` of the workload, the
producer timed alone first) under ``py-spy record --threads --subprocesses
--idle``, so the compressor process and its threads are sampled beside the
producer, waiting included.  Prints, per process and thread, the share of
the samples in each leaf line (its innermost Python frame): a thread that
waits shows where it waits (``Child.send``: the producer's ``writev`` into a
full pipe; a compressor thread's ``jobs.get``: no block to work on).  Then
the case's own thread inside ``gather``, in seconds: producing rows, handing
them over, waiting, cutting, archiving.

Needs ``py-spy`` (``pip install py-spy``) and the right to trace a child
(root, or ``kernel.yama.ptrace_scope`` 0).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
MiB = 1 << 20
TOP = 12  # leaf functions shown per thread

# process PID:"command";[process PID:"command";]thread (TID);frame;frame... COUNT
# (a command may hold ';': the compressor's is ``python -I -S -c "...; ..."``)
_LINE = re.compile(r'^((?:process \d+:"[^"]*";)*)(?:thread \((\w+)\);?)?(.*?) (\d+)$')
_PROCESS = re.compile(r'process (\d+):"([^"]*)";')
_FRAME = re.compile(r"^(\S+) \((\S+?)(:\d+)?\)$")


def _who(line: str) -> tuple[str, str, list[str], int] | None:
    """(process, thread, the Python frames, samples) of one raw line."""
    m = _LINE.match(line)
    if not m:
        return None
    chain = _PROCESS.findall(m.group(1))
    process = "?"
    if chain:
        pid, cmd = chain[-1]
        process = f"{pid} {'compressor' if 'worker.py' in cmd else 'case'}"
    frames = [f for f in m.group(3).split(";") if f]
    return process, m.group(2) or "?", frames, int(m.group(4))


def _leaf(frames: list[str]) -> str:
    if not frames:
        return "(no Python frame)"
    m = _FRAME.match(frames[-1])
    if not m:
        return frames[-1]
    return f"{m.group(1)} ({Path(m.group(2)).name}{m.group(3) or ''})"


def summarise(raw: str) -> str:
    """Per process and thread: samples and the leaf functions' shares, as Markdown."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    roots: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for line in raw.splitlines():
        who = _who(line)
        if who is None:
            continue
        process, thread, frames, count = who
        counts[process, thread][_leaf(frames)] += count
        roots[process, thread][_leaf(frames[:1])] += count
    total = max((sum(c.values()) for c in counts.values()), default=0)
    lines = [
        "| process | thread (its outer frame) | samples | share of the longest | where (leaf) |",
        "|---|---|---:|---:|---|",
    ]
    for key in sorted(counts, key=lambda k: (k[0], -sum(counts[k].values()))):
        c = counts[key]
        n = sum(c.values())
        where = ", ".join(f"{leaf} {100 * k / n:.0f}%" for leaf, k in c.most_common(TOP))
        outer = roots[key].most_common(1)[0][0]
        lines.append(f"| {key[0]} | {key[1]} ({outer}) | {n} | {100 * n / total:.0f}% | {where} |")
    return "\n".join(lines)


def _step(frames: list[str]) -> str:
    """What the producer's thread is doing in a sample taken inside ``gather``."""
    for frame in reversed(frames):
        m = _FRAME.match(frame)
        if m is None:
            continue
        name, path = m.group(1), m.group(2)
        if path.endswith("workload.py"):
            return "producing rows (workload.py)"
        if name == "Child.send":
            return "Child.send: writev into a full pipe"
        if name == "Child.reports":
            return "Child.reports: waiting for a part's last blocks"
        if "pipeline_collector" in path:
            return f"{name} ({path.split('pipeline_collector/')[-1]})"
    return _leaf(frames)


def in_gather(raw: str, rate: int) -> str:
    """The case's own thread while ``gather`` runs: seconds by what it does, as Markdown."""
    steps: Counter[str] = Counter()
    for line in raw.splitlines():
        who = _who(line)
        if who is None or not who[0].endswith("case"):
            continue
        _, _, frames, count = who
        if any(f.startswith("gather ") for f in frames):
            steps[_step(frames)] += count
    total = sum(steps.values())
    lines = [
        f"The case's thread inside `gather`: {total / rate:.2f} s sampled.\n",
        "| doing | seconds | share |",
        "|---|---:|---:|",
    ]
    for step, n in steps.most_common(TOP):
        lines.append(f"| {step} | {n / rate:.2f} | {100 * n / total:.1f}% |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", default="cursor")
    p.add_argument("--size", type=int, default=400, help="MiB of rows (default 400)")
    p.add_argument("--compressor", default="zlib-ng:6")
    p.add_argument("--rate", type=int, default=250, help="samples a second (default 250)")
    a = p.parse_args(argv)
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        raise SystemExit("needs py-spy: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        out = Path(folder) / "raw.txt"
        case = [sys.executable, str(HERE / "run.py"), "--case", "new"]
        case += ["--size", str(a.size * MiB), "--kind", a.kind, "--compressor", a.compressor]
        cmd = [spy, "record", "--threads", "--subprocesses", "--idle", "--nonblocking"]
        cmd += ["--rate", str(a.rate), "--format", "raw", "--output", str(out), "--", *case]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        case_out = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
        raw = out.read_text()
    print(f"## Profile: {a.size} MiB of `{a.kind}`, {a.compressor}\n")
    print(
        f"Command: `python benchmarks/threads_profile.py {' '.join(argv)}`.  The case: wall"
        f" {case_out['wall']:.2f} s, the producer alone before it {case_out['producer']:.2f} s,"
        f" CPU {case_out['cpu']:.2f} s (the profile covers both, and the interpreter's start).\n"
    )
    print(summarise(raw))
    print()
    print(in_gather(raw, a.rate))


if __name__ == "__main__":
    main(sys.argv[1:])
