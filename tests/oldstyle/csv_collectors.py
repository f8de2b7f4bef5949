"""Old-style CSV collectors writing files through CsvFileSplitter.

Each function gets ``full_path`` (a private folder) and ``max_data_size`` and
returns the path or paths of the CSV files it wrote, as services do with
``copy_expert(sql, CsvFileSplitter(...))``.
"""

import csv
import os

from pipeline_collector.compat import CsvFileSplitter, register

HEADER = "Col1,Col2\n"  # 10 bytes
LINE = "1234,6789\n"  # 10 bytes


def trivial_slicing(key, last_gather, since, until, **kwargs):
    return [(since, until)]


def simple_csv(full_path, file_name, files_cnt, max_data_size):
    """Write ``files_cnt`` files of exactly ``max_data_size`` bytes each."""
    file = CsvFileSplitter(
        filespec=os.path.join(full_path, file_name + "_table.csv"), max_file_size=max_data_size
    )
    file.write(HEADER)
    for _ in range(files_cnt * int(max_data_size / len(LINE)) - files_cnt):
        file.write(LINE)
    return file.file_list()


TRICKY_ROWS = [
    ["id", "text", "note"],
    ["1", 'a "quoted" word', ""],
    ["2", "comma, inside", "x"],
    ["3", "two\nlines", "y"],
    ["4", "ünïcødé ✓", "z"],
]


@register("config", "1.0", description="CONFIG", config=True)
def config(since, **kwargs):
    return {"version": "1.0"}


@register("big_table", "1.0", format="csv", description="split by size into 10 files")
def big_table(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "big_table", 10, max_data_size)


@register("csv_collection_1", "1.0", format="csv", description="CSV 1")
def csv_collection_1(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "csv_collection_1", 1, max_data_size=100)


@register("csv_collection_2", "1.0", format="csv", description="CSV 2")
def csv_collection_2(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "csv_collection_2", 1, max_data_size=200)


@register("csv_collection_3", "1.0", format="csv", description="CSV 3")
def csv_collection_3(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "csv_collection_3", 1, max_data_size=300)


@register("csv_slicing_1", "1.0", format="csv", description="sliced 1", fnc_slicing=trivial_slicing)
def csv_slicing_1(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "csv_slicing_1", 1, max_data_size=100)


@register("csv_slicing_2", "1.0", format="csv", description="sliced 2", fnc_slicing=trivial_slicing)
def csv_slicing_2(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "csv_slicing_2", 2, max_data_size=100)


@register("empty_table", "1.0", format="csv", description="a query with no rows")
def empty_table(full_path, max_data_size, **kwargs):
    file = CsvFileSplitter(filespec=os.path.join(full_path, "empty_table.csv"))
    file.write(HEADER)
    return file.file_list()


@register("tricky_table", "1.0", format="csv", description="quotes, commas, newlines")
def tricky_table(full_path, max_data_size, **kwargs):
    file = CsvFileSplitter(filespec=os.path.join(full_path, "tricky.csv"), max_file_size=60)
    csv.writer(file, lineterminator="\n").writerows(TRICKY_ROWS)
    return file.file_list()


@register("json_collection_1", "1.0", format="json", description="JSON 1")
def json_collection_1(**kwargs):
    return {"json1": "True"}


@register("json_collection_2", "2.0", format="json", description="JSON 2")
def json_collection_2(**kwargs):
    return {"json2": "True"}
