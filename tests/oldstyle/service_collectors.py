"""The collectors of a small service, as written for the old library.

Only the import line changed when the service moved to pipeline_collector.
"""

import os

from pipeline_collector.compat import CsvFileSplitter, register

#: Filled in by the service: rows of its ``tasks`` table (id, name, state).
TASKS: list[tuple[int, str, str]] = []


@register("config", "1.0", description="General platform configuration.", config=True)
def config(**kwargs):
    return {"service": "example-service", "version": "2.4.0"}


@register("task_counts", "1.0", description="Tasks by state")
def task_counts(since, until, **kwargs):
    counts: dict[str, int] = {}
    for _id, _name, state in TASKS:
        counts[state] = counts.get(state, 0) + 1
    return counts


@register("tasks_table", "1.1", format="csv", description="Data on tasks")
def tasks_table(since, until, full_path, max_data_size, **kwargs):
    file = CsvFileSplitter(
        filespec=os.path.join(full_path, "tasks_table.csv"), max_file_size=max_data_size
    )
    file.write("id,name,state\n")
    for row in TASKS:
        file.write("{},{},{}\n".format(*row))
    return file.file_list()
