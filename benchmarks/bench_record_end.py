"""The record-end search on hostile input: a long quoted field, and a stray quote.

``rows.last_end`` finds where the last whole CSV record of a block ends; the
blocks of ``copy_rows``, ``copy_rows_psycopg2``, CSV files and ``bench`` go
through it whenever a buffer ends inside a record.  Two inputs:

- ``field``: a job's stdout of many lines in one quoted field, still open at
  the end of the buffer (as it is while the field streams in);
- ``stray``: ordinary rows after one stray quote, so that every newline
  after it reads as inside quotes.

Each is searched by the old algorithm (for each newline from the end, count
the quotes after it: quadratic, kept here only as the baseline) and by
today's ``last_end``; ``read`` is one pass of ``bytes.count`` over the same
bytes, the floor.  ``record_blocks`` then takes each input from 64 KiB reads
as a CSV file is read, end to end (the field closed at the end, the stray
quote refused once the input ends).

Run:  python benchmarks/bench_record_end.py [--reps 5] [--old-mib 0.5,1,2] [--new-mib 1,2,4,64]
Prints a Markdown table of medians with min-max, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial

from pipeline_collector.stages.rows import count_records, last_end, record_blocks

HEADER = b"id,stdout\n"
LINE = b"TASK [deploy : copy files] changed: [host-0042.example.com] => (item=app.conf)\n"
ROW = b'42,2026-11-27T10:00:00Z,host-0042,runner_on_ok,"{""changed"": true}","ok"\n'


def old_last_end(data: bytes) -> int:
    """The search as it was: quadratic in the newlines after the last record end."""
    odd = count_records(data)[1]
    end = len(data)
    while (end := data.rfind(b"\n", 0, end)) >= 0:
        if (data.count(b'"', end + 1) % 2 == 1) == odd:
            return end + 1
    return 0


def field(size: int) -> bytes:
    """A header, then one record whose quoted field of ``size`` bytes is still open."""
    return HEADER + b'1,"' + LINE * (size // len(LINE))


def stray(size: int) -> bytes:
    """A header, a row with a stray quote, then ``size`` bytes of ordinary rows."""
    return HEADER + b'1,O"Brien\n' + ROW * (size // len(ROW))


def timed(work: Callable[[], object], reps: int) -> tuple[float, float, float]:
    """Median, min and max of ``reps`` runs, in milliseconds."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), max(times)


def reads(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def blocks_of(data: bytes) -> None:
    try:
        for _ in record_blocks(reads(data)):
            pass
    except ValueError:  # the stray quote is refused once the input has ended
        pass


def show(figures: tuple[float, float, float]) -> str:
    median, low, high = figures
    return f"{median:,.1f} ({low:,.1f}-{high:,.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--old-mib", default="0.5,1,2", help="sizes for the old search")
    parser.add_argument("--new-mib", default="1,2,4,64", help="sizes for today's search")
    args = parser.parse_args()
    old_sizes = [float(s) for s in args.old_mib.split(",") if s]
    new_sizes = [float(s) for s in args.new_mib.split(",") if s]
    print(f"Record-end search, median (min-max) of {args.reps}, milliseconds\n")
    print(
        "| input | MiB | read (bytes.count) | old search | last_end | record_blocks, 64 KiB reads |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, make in (("field", field), ("stray", stray)):
        for mib in sorted(set(old_sizes) | set(new_sizes)):
            data = make(int(mib * 2**20))
            expected = len(HEADER)  # the header is the last whole record
            assert last_end(data) == expected, (name, last_end(data))
            read = timed(partial(data.count, b"\n"), args.reps)
            old = "-"
            if mib in old_sizes:
                assert old_last_end(data) == expected
                old = show(timed(partial(old_last_end, data), args.reps))
            new = "-"
            if mib in new_sizes:
                new = show(timed(partial(last_end, data), args.reps))
            streamed = "-"
            if mib in new_sizes:
                whole = data + b'"\n' if name == "field" else data  # the field ends at last
                streamed = show(timed(partial(blocks_of, whole), args.reps))
            print(f"| {name} | {mib:g} | {show(read)} | {old} | {new} | {streamed} |")


if __name__ == "__main__":
    main()
