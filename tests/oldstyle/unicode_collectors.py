"""An old-style CSV collector whose rows are mostly multi-byte UTF-8."""

import os

from pipeline_collector.compat import CsvFileSplitter, register

ROWS = [f"{n},{'é' * (n % 9 + 3)}\n" for n in range(40)]


@register("config", "1.0", description="CONFIG", config=True)
def config(**kwargs):
    return {"version": "1.0"}


@register("unicode_table", "1.0", format="csv", description="accented names")
def unicode_table(full_path, max_data_size, **kwargs):
    file = CsvFileSplitter(
        filespec=os.path.join(full_path, "unicode_table.csv"), max_file_size=max_data_size
    )
    file.write("id,name\n")
    for row in ROWS:
        file.write(row)
    return file.file_list()
