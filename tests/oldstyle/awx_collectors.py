"""Old-style collectors with an AWX-style slicer ``(key, since, until, last_gather)``.

AWX's slicers take their arguments by position; ``positional_slicer`` adapts
them to the keyword form the pipeline calls.
"""

import os
from datetime import timedelta

from pipeline_collector.compat import CsvFileSplitter, positional_slicer, register, slicing


@slicing()
def four_hour_slicing(key, since, until, last_gather):
    start = since if since is not None else last_gather
    while start < until:
        end = min(start + timedelta(hours=4), until)
        yield (start, end)
        start = end


@register("config", "1.0", description="CONFIG", config=True)
def config(**kwargs):
    return {"platform": "awx"}


@register("counts", "1.0", description="object counts")
def counts(since, **kwargs):
    return {"jobs": 3, "hosts": 12}


@register(
    "events_table",
    "1.2",
    format="csv",
    description="job events, four hours at a time",
    fnc_slicing=positional_slicer(four_hour_slicing),
)
def events_table(since, until, full_path, max_data_size, **kwargs):
    file = CsvFileSplitter(
        filespec=os.path.join(full_path, "events_table.csv"), max_file_size=max_data_size
    )
    file.write("since,until\n")
    file.write(f"{since.isoformat()},{until.isoformat()}\n")
    return file.file_list()
