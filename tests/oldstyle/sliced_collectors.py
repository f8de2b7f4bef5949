"""Old-style sliced collectors: generator slicers, and a full sync on an interval."""

import os
from datetime import datetime, timedelta, timezone

from pipeline_collector.compat import CsvFileSplitter, register

LINE_LENGTH = 40


def one_day_slicing(key, last_gather, since, until, **kwargs):
    since = since.replace(hour=0, minute=0, second=0, microsecond=0)
    until = until.replace(hour=0, minute=0, second=0, microsecond=0)
    start = since
    while start < until:
        end = min(start + timedelta(days=1), until)
        yield (start, end)
        start = end


def full_sync_slicing(key, last_gather, full_sync_enabled=False, since=None, **kwargs):
    """Ten days back on a full sync, else day by day from ``since``, up to midnight."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if full_sync_enabled:
        start = today - timedelta(days=10)
    else:
        start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    while start < today:
        end = start + timedelta(days=1)
        yield (start, end)
        start = end


def timestamp_csv(full_path, file_name, files_cnt, max_data_size, since, until):
    """Rows of 40 bytes naming the window; ``files_cnt`` files of ``max_data_size``."""
    header = "since______________,until______________\n"
    line = f"{since:%Y,%m,%d,%H,00,00},{until:%Y,%m,%d,%H,00,00}\n"
    file = CsvFileSplitter(
        filespec=os.path.join(full_path, file_name + "_table.csv"), max_file_size=max_data_size
    )
    file.write(header)
    for _ in range(files_cnt * int(max_data_size / len(line)) - files_cnt):
        file.write(line)
    return file.file_list()


@register("config", "1.0", description="CONFIG", config=True)
def config(since, **kwargs):
    return {"version": "1.0"}


@register(
    "csv_one_day_slicing_1",
    "1.0",
    format="csv",
    description="one file per day",
    fnc_slicing=one_day_slicing,
)
def csv_one_day_slicing_1(since, full_path, until, **kwargs):
    return timestamp_csv(
        full_path, "csv_one_day_slicing_1", 1, 2 * LINE_LENGTH, since=since, until=until
    )


@register(
    "csv_one_day_slicing_2",
    "1.0",
    format="csv",
    description="two files per day",
    fnc_slicing=one_day_slicing,
)
def csv_one_day_slicing_2(since, full_path, until, **kwargs):
    return timestamp_csv(
        full_path, "csv_one_day_slicing_2", 2, 2 * LINE_LENGTH, since=since, until=until
    )


@register(
    "csv_full_sync_slicing_1",
    "1.0",
    format="csv",
    description="a full sync every 5 days",
    fnc_slicing=full_sync_slicing,
    full_sync_interval_days=5,
)
def csv_full_sync_slicing_1(since, full_path, until, **kwargs):
    return timestamp_csv(
        full_path, "csv_full_sync_slicing_1", 1, 2 * LINE_LENGTH, since=since, until=until
    )
