"""The compressor process: the same parts as threads, the upload limit kept, threads where
processes are not allowed, and failures that leave no file and no process behind."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import stat
import time
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.procs import compressors, gone, open_parts, wait_gone

from pipeline_collector import CollectorError, ConfigurationError
from pipeline_collector.compress import (
    ENV,
    Compression,
    available,
    default_compressor,
    get_compressor,
)
from pipeline_collector.compress.offload import START
from pipeline_collector.compress.worker import HELPER_NICE
from pipeline_collector.stages.chunk import cut, read_part
from pipeline_collector.stages.rows import Rows

MiB = 1 << 20
HEADER = b"id,host,event,message\n"
PROCESS = default_compressor()
THREADS = get_compressor(PROCESS.name, PROCESS.level, process=False)


def make_rows(size: int, seed: int = 1) -> list[bytes]:
    """About ``size`` bytes of rows, text that compresses about 4:1, non-ASCII in it."""
    rng = random.Random(seed)
    words = ["ok", "changed", "failed", "node", "task", "übung", "配置", "retry", "port"]
    phrases = [" ".join(rng.choices(words, k=rng.randrange(5, 40))) for _ in range(4096)]
    out, total, i = [], 0, 0
    while total < size:
        row = f'{i},node-{rng.randrange(400)},ev{rng.randrange(9)},"{phrases[i % 4096]}"\n'
        data = row.encode()
        out.append(data)
        total += len(data)
        i += 1
    return out


@pytest.fixture(scope="module")
def rows() -> list[bytes]:
    return make_rows(12 * MiB)


class Watch:
    """Rows passed through, with a look at our compressor processes every ``every`` rows."""

    def __init__(self, rows: Iterable[Any], every: int = 2000) -> None:
        self.rows, self.every = rows, every
        self.seen: set[int] = set()

    def __iter__(self) -> Iterator[Any]:
        for i, row in enumerate(self.rows):
            if i % self.every == 0:
                self.seen.update(compressors())
            yield row


def cut_all(rows: Iterable[Any], folder: Path, limit: int, comp: Any, **kw: Any) -> list[Any]:
    folder.mkdir(exist_ok=True)
    return list(cut(rows, key="k", directory=folder, limit=limit, compressor=comp, **kw))


def part_bytes(parts: list[Any]) -> list[bytes]:
    return [p.path.read_bytes() for p in parts]


def content(parts: list[Any]) -> bytes:
    return b"".join(read_part(p)[len(HEADER) if i else 0 :] for i, p in enumerate(parts))


def files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


class TestSameParts:
    def test_process_and_threads_write_the_same_parts(
        self, tmp_path: Path, rows: list[bytes]
    ) -> None:
        """Several parts compressed in the process are byte for byte the threads' parts."""
        watch = Watch([HEADER, *rows])
        ours = cut_all(watch, tmp_path / "p", 3 * MiB, PROCESS)
        theirs = cut_all([HEADER, *rows], tmp_path / "t", 3 * MiB, THREADS)
        assert watch.seen, "no compressor process ran"
        assert len(ours) >= 4
        assert part_bytes(ours) == part_bytes(theirs)
        assert [(p.raw_size, p.deflated_size, p.crc32) for p in ours] == [
            (p.raw_size, p.deflated_size, p.crc32) for p in theirs
        ]
        assert content(ours) == HEADER + b"".join(rows)
        assert not compressors()

    @pytest.mark.parametrize("name", available())
    def test_every_backend_writes_the_same_parts_in_the_process(
        self, tmp_path: Path, rows: list[bytes], name: str
    ) -> None:
        """zlib (whose crc the process takes in order), zlib-ng and ISA-L: the threads' parts."""
        watch = Watch([HEADER, *rows])
        ours = cut_all(watch, tmp_path / "p", 5 * MiB, get_compressor(name, 1))
        theirs = cut_all(
            [HEADER, *rows], tmp_path / "t", 5 * MiB, get_compressor(name, 1, process=False)
        )
        assert watch.seen
        assert part_bytes(ours) == part_bytes(theirs)
        assert [p.crc32 for p in ours] == [p.crc32 for p in theirs]
        assert content(ours) == HEADER + b"".join(rows)

    def test_a_part_moves_from_threads_to_the_process(
        self, tmp_path: Path, rows: list[bytes]
    ) -> None:
        """One part begun on threads and finished in the process is the threads' part."""
        watch = Watch([HEADER, *rows])
        [ours] = cut_all(watch, tmp_path / "p", 1 << 30, PROCESS)
        [theirs] = cut_all([HEADER, *rows], tmp_path / "t", 1 << 30, THREADS)
        assert watch.seen
        assert ours.path.read_bytes() == theirs.path.read_bytes()
        assert (ours.raw_size, ours.deflated_size, ours.crc32) == (
            theirs.raw_size,
            theirs.deflated_size,
            theirs.crc32,
        )

    def test_blocks_and_str_rows_give_the_same_parts(
        self, tmp_path: Path, rows: list[bytes]
    ) -> None:
        """Rows blocks and str rows (known UTF-8) in the process: the threads' parts."""
        blocks = [
            Rows(b"".join(rows[i : i + 700]), len(rows[i : i + 700]))
            for i in range(0, len(rows), 700)
        ]
        text = [r.decode() for r in rows]
        for name, source in (("blocks", blocks), ("text", text)):
            ours = cut_all([HEADER, *source], tmp_path / f"p{name}", 5 * MiB, PROCESS)
            theirs = cut_all([HEADER, *source], tmp_path / f"t{name}", 5 * MiB, THREADS)
            assert part_bytes(ours) == part_bytes(theirs), name
            assert content(ours) == HEADER + b"".join(rows)

    def test_writes_cut_short_by_signals_lose_nothing(
        self, tmp_path: Path, rows: list[bytes]
    ) -> None:
        """A timer signal every millisecond cuts ``writev`` into the pipe short: the parts
        are still the threads' parts."""
        fired = []
        previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
        try:
            watch = Watch([HEADER, *rows])
            ours = cut_all(watch, tmp_path / "p", 3 * MiB, PROCESS)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        theirs = cut_all([HEADER, *rows], tmp_path / "t", 3 * MiB, THREADS)
        assert watch.seen
        assert len(fired) > 100
        assert part_bytes(ours) == part_bytes(theirs)

    def test_a_small_cut_starts_no_process(self, tmp_path: Path) -> None:
        """Below ``START`` bytes a cut stays on threads: no process for small collectors."""
        small = make_rows(START - 64 * 1024)
        watch = Watch([HEADER, *small], every=50)
        parts = cut_all(watch, tmp_path / "p", 1 << 30, PROCESS)
        assert not watch.seen
        assert content(parts) == HEADER + b"".join(small)


def thread_nice(pid: int) -> list[int]:
    """The nice value of each thread of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        found.append(int(fields[16]))  # field 19 of stat; fields[0] is field 3
    return sorted(found)


class TestPriorities:
    def test_helper_threads_run_nicer_than_the_first(self, tmp_path: Path) -> None:
        """The compressor's first thread keeps our priority, its helpers yield to the producer."""
        it = cut(endless(), key="k", directory=tmp_path, limit=4 * MiB, compressor=PROCESS)
        assert isinstance(it, Generator)
        _, pid = writing(it)
        try:
            nice = thread_nice(pid)
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            helpers = max(1, min(4, len(os.sched_getaffinity(0)))) - 1
            # the main thread and the first compressing thread, then the helpers
            assert nice == sorted([ours, ours] + [min(19, ours + HELPER_NICE)] * helpers)
        finally:
            it.close()


class TestUploadLimit:
    # A low ceiling fills less: near it the cutter looks every 16 KiB of rows, which
    # may compress to 16 KiB at worst (as on threads).
    @pytest.mark.parametrize(("ceiling", "fill"), [(40 * 1024, 0.55), (300 * 1024, 0.9)])
    def test_no_part_passes_the_compressed_ceiling(
        self, tmp_path: Path, rows: list[bytes], ceiling: int, fill: float
    ) -> None:
        """With the process, every part stays at or under ``max_deflated`` and is well filled."""
        watch = Watch([HEADER, *rows])
        parts = cut_all(watch, tmp_path, 1 << 30, PROCESS, max_deflated=ceiling)
        assert watch.seen
        sizes = [p.deflated_size for p in parts]
        assert all(s <= ceiling for s in sizes), max(sizes)
        assert all(s >= fill * ceiling for s in sizes[:-1]), min(sizes[:-1])
        assert [p.path.stat().st_size for p in parts] == sizes
        assert content(parts) == HEADER + b"".join(rows)


def _cut_and_watch(folder: str, out: Any) -> None:
    """In a separate process: why it would not use a process, what ran, what came out."""
    rows = make_rows(8 * MiB, seed=5)
    watch = Watch([HEADER, *rows])
    parts = cut_all(watch, Path(folder), 2 * MiB, PROCESS)
    digests = [hashlib.sha256(b).hexdigest() for b in part_bytes(parts)]
    out.put((Compression(PROCESS).why_not, len(watch.seen), digests))


class TestWhereProcessesAreNotAllowed:
    @pytest.mark.parametrize("daemon", [True, False])
    def test_a_daemonic_process_compresses_on_threads(self, tmp_path: Path, daemon: bool) -> None:
        """In a daemonic multiprocessing process no compressor process starts (and the parts
        are the same); in a plain one it does."""
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_cut_and_watch, args=(str(tmp_path), queue), daemon=daemon)
        proc.start()
        why, started, digests = queue.get(timeout=120)
        proc.join(30)
        assert proc.exitcode == 0
        expected = cut_all([HEADER, *make_rows(8 * MiB, seed=5)], tmp_path / "t", 2 * MiB, THREADS)
        assert digests == [hashlib.sha256(b).hexdigest() for b in part_bytes(expected)]
        if daemon:
            assert started == 0
            assert why is not None and "daemonic" in why
        else:
            assert started == 1
            assert why is None

    def test_the_environment_turns_processes_off(
        self, tmp_path: Path, rows: list[bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``PIPELINE_COLLECTOR_COMPRESSOR_PROCESS=0``: threads, the same parts."""
        monkeypatch.setenv(ENV, "0")
        watch = Watch([HEADER, *rows])
        parts = cut_all(watch, tmp_path / "p", 4 * MiB, PROCESS)
        assert not watch.seen
        assert Compression(PROCESS).why_not == f"{ENV} turns processes off"
        monkeypatch.setenv(ENV, "yes")
        assert Compression(PROCESS).why_not is None
        theirs = cut_all([HEADER, *rows], tmp_path / "t", 4 * MiB, THREADS)
        assert part_bytes(parts) == part_bytes(theirs)

    def test_a_bad_environment_value_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(ENV, "sometimes")
        with pytest.raises(ConfigurationError, match=f"environment variable {ENV}: 'sometimes'"):
            Compression(PROCESS)

    def test_the_compressor_option_turns_processes_off(self) -> None:
        assert Compression(THREADS).why_not == "the compressor was made with process=False"
        assert repr(THREADS).endswith("process=False)")
        with pytest.raises(ValueError, match="process must be True or False"):
            get_compressor("zlib", 6, process=1)  # type: ignore[arg-type]

    def test_a_process_that_cannot_start_leaves_the_cut_on_threads(
        self, tmp_path: Path, rows: list[bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An interpreter that exits at once: a warning, and the cut goes on, on threads."""
        fake = tmp_path / "python3-broken"
        fake.write_text("#!/bin/sh\nexit 3\n")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setattr("sys.executable", str(fake))
        with capture_logs() as logs:
            parts = cut_all([HEADER, *rows], tmp_path / "p", 4 * MiB, PROCESS)
        failed = [e for e in logs if e["event"] == "compressor.process_failed"]
        assert len(failed) == 1
        assert "exit status 3" in failed[0]["reason"]
        theirs = cut_all([HEADER, *rows], tmp_path / "t", 4 * MiB, THREADS)
        assert part_bytes(parts) == part_bytes(theirs)
        assert not compressors()


def writing(it: Iterator[Any]) -> tuple[list[Any], int]:
    """Parts taken from ``it`` until its compressor process writes one; that process."""
    done = []
    for _ in range(20):
        done.append(next(it))
        for _ in range(50):
            for pid in compressors():
                if open_parts(pid):
                    return done, pid
            time.sleep(0.01)
    raise AssertionError("no compressor process wrote a part")


def endless(seed: int = 3) -> Iterator[bytes]:
    yield HEADER
    rows = make_rows(2 * MiB, seed)
    while True:
        yield from rows


class TestFailures:
    def test_bad_utf8_fails_the_part_and_leaves_nothing(
        self, tmp_path: Path, rows: list[bytes]
    ) -> None:
        """Invalid UTF-8 found in the process: the part fails, its file and the process go."""
        bad = [*rows, b"1,\xff\xfe broken\n", *rows[:1000]]
        with pytest.raises(CollectorError, match="output is not valid UTF-8"):
            cut_all(Watch([HEADER, *bad]), tmp_path, 1 << 30, PROCESS)
        assert files(tmp_path) == []
        assert not compressors()

    def test_a_killed_compressor_fails_the_cut(self, tmp_path: Path) -> None:
        """SIGKILL to the compressor process: the cut fails saying so, its open part goes."""
        it = cut(endless(), key="k", directory=tmp_path, limit=4 * MiB, compressor=PROCESS)
        done, pid = writing(it)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(
            CollectorError, match=r"compressor process ended unexpectedly \(killed by SIGKILL\)"
        ):
            for _ in it:
                pass
        assert sorted(files(tmp_path)) == sorted(p.path for p in done)
        assert all(read_part(p) for p in done)
        assert gone(pid)

    def test_a_cut_dropped_halfway_ends_its_process(self, tmp_path: Path) -> None:
        """A consumer that stops halfway: its parts stay whole, the rest and the process go."""
        it = cut(endless(), key="k", directory=tmp_path, limit=4 * MiB, compressor=PROCESS)
        assert isinstance(it, Generator)
        kept, pid = writing(it)
        it.close()
        assert wait_gone(pid, 0)
        assert sorted(files(tmp_path)) == sorted(p.path for p in kept)
        assert all(read_part(p) for p in kept)
