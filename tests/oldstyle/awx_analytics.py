"""A collectors module in the shape of AWX's ``awx/main/analytics/collectors.py``.

Its only change for pipeline_collector is the import line.  Shapes kept from
AWX: ``register`` with ``expensive=`` (a slicer called by position) and
``full_sync_interval=``; the config collector found by its key ``config``
(no ``config=True``); JSON collectors taking ``since`` first; CSV
collectors whose function names differ from their keys, dumping tables with
``COPY ... TO STDOUT WITH CSV HEADER`` through psycopg 3 into an in-tree
file splitter; slicers that read the entries from the service's settings
table themselves when ``since`` is ``None``; and a host-metrics slicer that
is a generator beginning ``if since is not None: return [(since, until)]``
(which yields nothing) and, for a full sync, starts at the table's oldest
row, past the four-week horizon.

``connection`` is the service's database connection (``django.db.connection``
in AWX); the test sets it.
"""

import io
import json
import os
from datetime import datetime, timedelta

from pipeline_collector.compat import register

connection = None

HORIZON = timedelta(weeks=4)


def _parse(value):
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    return datetime.fromisoformat(text)


def _as_datetimes(d):
    out = {}
    for key, value in d.items():
        try:
            out[key] = _parse(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def _last_entries():
    """AUTOMATION_ANALYTICS_LAST_ENTRIES, read from the settings table as AWX's slicers do."""
    row = connection.execute(
        "SELECT value FROM conf_setting WHERE key = 'AUTOMATION_ANALYTICS_LAST_ENTRIES'"
    ).fetchone()
    return json.loads((row[0] if row is not None else "") or "{}", object_hook=_as_datetimes)


def trivial_slicing(key, since, until, last_gather, **kwargs):
    if since is not None:
        return [(since, until)]
    last_entry = max(_last_entries().get(key) or last_gather, until - HORIZON)
    return [(last_entry, until)]


def four_hour_slicing(key, since, until, last_gather, **kwargs):
    if since is not None:
        start = since
    else:
        try:
            start = max(_last_entries().get(key) or last_gather, until - HORIZON)
        except TypeError:  # a stale entry that is not a datetime
            start = max(last_gather, until - HORIZON)
    while start < until:
        end = min(start + timedelta(hours=4), until)
        yield (start, end)
        start = end


def host_metric_slicing(key, since, until, last_gather, **kwargs):
    """Thirty days at a time; the whole table on a full sync or the first time."""
    if since is not None:
        return [(since, until)]  # in a generator: yields nothing
    full_sync = kwargs.get("full_sync_enabled", False)
    start = None
    if not full_sync:
        start = _last_entries().get(key)
        if not start:
            full_sync = True
    if full_sync:
        low = connection.execute(
            "SELECT min(last_automation), min(last_deleted) FROM main_hostmetric"
        ).fetchone()
        present = [d for d in low if d is not None]
        start = min(present) if present else None
    if not start:
        return []
    while start < until:
        end = min(start + timedelta(days=30), until)
        yield (start, end)
        start = end


@register("config", "1.6", description="General platform configuration.")
def config(since, **kwargs):
    return {"platform": {"system": "Linux", "type": "k8s"}, "install_uuid": "awx-test-uuid"}


@register("counts", "1.2", description="Counts of objects")
def counts(since, **kwargs):
    result = {}
    for table in ("main_unifiedjob", "main_jobevent", "main_hostmetric"):
        (result[table],) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    return result


@register("query_info", "1.0", description="Metadata about the analytics collected")
def query_info(since, collection_type, until, **kwargs):
    return {"last_run": str(since), "current_time": str(until), "collection_type": collection_type}


class FileSplitter(io.StringIO):
    """Writes a table dump into ``<filespec>_split<N>`` files of at most MAX_TABLE_SIZE."""

    MAX_TABLE_SIZE = 200 * 1048576

    def __init__(self, filespec):
        self.filespec = filespec
        self.files = []
        self.current = None
        self.header = None
        self.counter = 0
        self.cycle_file()

    def cycle_file(self):
        if self.current:
            self.current.close()
        self.counter = 0
        name = f"{self.filespec}_split{len(self.files)}"
        self.current = open(name, "w", encoding="utf-8")  # noqa: SIM115 - closed by cycle_file
        self.files.append(name)
        if self.header:
            self.counter += self.current.write(self.header + "\n")

    def write(self, s):
        if not self.header:
            self.header = s[: s.index("\n")]
        self.counter += self.current.write(s)
        if self.counter >= self.MAX_TABLE_SIZE:
            self.cycle_file()

    def file_list(self):
        self.current.close()
        if self.header is None or len(self.header) + 1 == self.counter:
            os.remove(self.files.pop())
        if len(self.files) == 1:
            only = self.files.pop()
            os.rename(only, only.replace("_split0", ""))
            self.files.append(only.replace("_split0", ""))
        return self.files


def _copy_table(table, query, path):
    file = FileSplitter(os.path.join(path, table + "_table.csv"))
    with connection.cursor() as cursor, cursor.copy(query) as copy:
        while data := copy.read():
            file.write(bytes(data).decode())
    return file.file_list()


@register(
    "events_table",
    "1.5",
    format="csv",
    description="Automation task records",
    expensive=four_hour_slicing,
)
def events_table_partitioned_modified(since, full_path, until, **kwargs):
    query = (
        "COPY (SELECT id, modified, job_id, event FROM main_jobevent"
        f" WHERE modified > '{since.isoformat()}' AND modified <= '{until.isoformat()}'"
        " ORDER BY id) TO STDOUT WITH CSV HEADER"
    )
    return _copy_table("events", query, full_path)


@register(
    "unified_jobs_table",
    "1.4",
    format="csv",
    description="Data on jobs run",
    expensive=four_hour_slicing,
)
def unified_jobs_table(since, full_path, until, **kwargs):
    query = (
        "COPY (SELECT id, name, created, finished, status FROM main_unifiedjob"
        f" WHERE (created > '{since.isoformat()}' AND created <= '{until.isoformat()}')"
        f" OR (finished > '{since.isoformat()}' AND finished <= '{until.isoformat()}')"
        " ORDER BY id) TO STDOUT WITH CSV HEADER"
    )
    return _copy_table("unified_jobs", query, full_path)


@register(
    "host_metric_table",
    "1.0",
    format="csv",
    description="Host Metric data, incremental/full sync",
    expensive=host_metric_slicing,
    full_sync_interval=30,
)
def host_metric_table(since, full_path, until, **kwargs):
    s, u = since.isoformat(), until.isoformat()
    query = (
        "COPY (SELECT id, hostname, last_automation, last_deleted FROM main_hostmetric"
        f" WHERE (last_automation > '{s}' AND last_automation <= '{u}')"
        f" OR (last_deleted > '{s}' AND last_deleted <= '{u}')"
        " ORDER BY id) TO STDOUT WITH CSV HEADER"
    )
    return _copy_table("host_metric", query, full_path)
