"""Runs killed or failed while their compressor process works: no process survives them,
no part file is left behind, and a fork of the run neither holds nor ends that process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.procs import compressors, gone, open_parts, wait_gone

import pipeline_collector as pc
from pipeline_collector.compress import default_compressor
from pipeline_collector.compress.child import _LIVE
from pipeline_collector.stages.chunk import cut, read_part

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent

# A dry run whose CSV collector never ends: it is killed while its process compresses.
RUN = """
import itertools, random, sys
import pipeline_collector as pc

@pc.register("config", "1.0", config=True)
def config(**kwargs):
    return {"version": "1"}

@pc.register("data", "1.0", format="csv")
def data(**kwargs):
    rng = random.Random(7)
    pool = [rng.randbytes(60).hex().encode() for _ in range(4096)]
    yield b"id,payload\\n"
    for i in itertools.count():
        yield b"%d,%s\\n" % (i, pool[i % 4096])

pc.gather([config, data], mode="dry-run", workdir=sys.argv[1], max_data_size=4 << 20)
"""


def start_run(workdir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_COLLECTOR_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(workdir)],
        env=env,
        start_new_session=True,  # its own process group, for the group's SIGTERM
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def compressing(run: subprocess.Popen[bytes], workdir: Path) -> int:
    """Wait until the run's compressor process writes a part, and a part is finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert run.poll() is None, run.stderr.read() if run.stderr else b""
        for pid in compressors(run.pid):
            if open_parts(pid) and len(list(workdir.rglob("*.part"))) >= 2:
                return pid
        time.sleep(0.02)
    raise AssertionError("the run's compressor process never wrote a part")


def files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


class TestKilledRuns:
    @pytest.mark.parametrize(
        "how", ["SIGKILL to the run", "SIGTERM to the run", "SIGTERM to its process group"]
    )
    def test_no_process_and_no_file_survive_a_killed_run(self, tmp_path: Path, how: str) -> None:
        """The run dies mid-part: its compressor process exits and removes the cut's parts."""
        run = start_run(tmp_path)
        try:
            pid = compressing(run, tmp_path)
            if how == "SIGKILL to the run":
                os.kill(run.pid, signal.SIGKILL)
            elif how == "SIGTERM to the run":
                os.kill(run.pid, signal.SIGTERM)
            else:
                os.killpg(run.pid, signal.SIGTERM)
            run.wait(30)
            assert wait_gone(pid, 10), f"compressor process {pid} outlived the run"
            # Only the config's JSON part is left, which the run wrote itself before the
            # cut began, beside the run folder's owner mark (a killed run's folder is
            # swept by the next run under its lock, its owner lock then free).
            left = [p for p in files(tmp_path) if p.name != ".owner"]
            assert [p.name.partition("-")[0] for p in left] == ["config"], left
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()


def rows_then_fail(size: int) -> Iterator[bytes]:
    yield b"id,payload\n"
    total, i = 0, 0
    while total < size:
        row = b"%d,%s\n" % (i, os.urandom(40).hex().encode())
        total += len(row)
        i += 1
        yield row
    raise RuntimeError("the database went away")


@pc.register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, str]:
    return {"version": "1"}


@pc.register("data", "1.0", format="csv")
def failing(**kwargs: Any) -> Iterator[bytes]:
    return rows_then_fail(24 * MiB)


class TestFailedRuns:
    def test_a_collector_failing_mid_part_leaves_no_process_and_no_part(
        self, tmp_path: Path
    ) -> None:
        """The producer raises while its part is in the process: the collection fails, the
        process is gone, and the parts' folder holds nothing."""
        seen: list[int] = []

        def watched() -> Iterator[bytes]:
            for i, row in enumerate(rows_then_fail(24 * MiB)):
                if i % 5000 == 0:
                    seen.extend(compressors())
                yield row

        parts = tmp_path / "parts"
        parts.mkdir()
        with pytest.raises(RuntimeError, match="the database went away"):
            list(cut(watched(), key="k", directory=parts, limit=1 << 30))
        assert seen, "no compressor process ran"
        assert not compressors()
        assert files(parts) == []

    def test_a_failed_collection_in_a_run_leaves_no_process(self, tmp_path: Path) -> None:
        run = pc.gather([config, failing], mode="dry-run", workdir=tmp_path)
        assert [c.status for c in run.collections if c.task.key == "data"] == ["failed"]
        assert not compressors()
        assert not list(tmp_path.rglob("*.part"))


class TestFork:
    def test_a_fork_mid_cut_holds_no_pipe_and_ends_no_process(self, tmp_path: Path) -> None:
        """A process forked from a cut in progress (a fork-based pool, say) closes its copies
        of the pipes and leaves the compressor process to the cut, which finishes whole."""

        def rows() -> Iterator[bytes]:
            yield b"id,payload\n"
            for i in range(400_000):
                yield b"%d,%s\n" % (i, b"x%dy" % (i * 7919 % 100_003) * 6)

        it = cut(rows(), key="k", directory=tmp_path, limit=4 * MiB)
        parts = [next(it)]
        while not [c for c in _LIVE if c.ready]:
            parts.append(next(it))
        fds = [fd for child in _LIVE for fd in child.fds if fd >= 0]
        assert fds
        [pid] = compressors()
        r, w = os.pipe()
        forked = os.fork()
        if forked == 0:  # the fork: report which of the pipes it still holds, then leave
            still = [fd for fd in fds if _is_open(fd)]
            os.write(w, repr(still).encode())
            os._exit(0)
        os.close(w)
        held = os.read(r, 1024).decode()
        os.close(r)
        os.waitpid(forked, 0)
        assert held == "[]"
        assert not gone(pid)
        parts.extend(it)
        assert b"".join(read_part(p)[11 if i else 0 :] for i, p in enumerate(parts)) == b"".join(
            rows()
        )
        assert wait_gone(pid, 5)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class TestMemory:
    def test_the_compressor_process_memory_does_not_grow_with_the_table(
        self, tmp_path: Path
    ) -> None:
        """Its peak RSS after 16 MiB and after 112 MiB of rows differ by less than 2 MiB."""
        peaks: dict[int, int] = {}

        def rows() -> Iterator[bytes]:
            yield b"id,payload\n"
            total, i = 0, 0
            while total < 112 * MiB:
                row = b"%d,%s\n" % (i, b"%08x" % (i * 2654435761 % 2**32) * 20)
                total += len(row)
                i += 1
                if i % 20_000 == 0:
                    for pid in compressors():
                        peaks[total // (16 * MiB)] = _hwm(pid)
                yield row

        parts = list(cut(rows(), key="k", directory=tmp_path, limit=1 << 30))
        assert len(parts) == 1
        assert 1 in peaks and 6 in peaks, peaks
        assert peaks[6] - peaks[1] < 2 * 1024, peaks  # KiB
        assert default_compressor().process


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")
