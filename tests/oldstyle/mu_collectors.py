"""Collectors in the shape of metrics-utility 0.4.0's ``collectors.py``.

Shapes kept: a keyword slicer ``daily_slicing(key, last_gather, **kwargs)``
that reads ``since`` from its keywords and, without one, the entries from
the settings table it shares with AWX; the first window runs to the next
midnight, then whole days; a config collector whose ``billing_provider_params``
the service fills in at run time; CSV collectors dumping tables through
psycopg 3 ``COPY`` into its own ``CsvFileSplitter`` subclass.  Its only
change is the import line of ``register``.

``connection`` is the database connection; the test sets it, and puts the
splitter module under the name ``mu_csv_file_splitter``.
"""

import json
import os
from datetime import datetime, timedelta, timezone

from mu_csv_file_splitter import CsvFileSplitter

from pipeline_collector.compat import register

connection = None


def _entries():
    row = connection.execute(
        "SELECT value FROM conf_setting WHERE key = 'AUTOMATION_ANALYTICS_LAST_ENTRIES'"
    ).fetchone()
    out = {}
    for key, value in json.loads((row[0] if row is not None else "") or "{}").items():
        try:
            out[key] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (AttributeError, ValueError):
            out[key] = value
    return out


def daily_slicing(key, last_gather, **kwargs):
    since, until = kwargs.get("since"), kwargs.get("until", datetime.now(timezone.utc))
    if since is not None:
        start = since
    else:
        try:
            start = max(_entries().get(key) or last_gather, until - timedelta(weeks=4))
        except TypeError:
            start = max(last_gather, until - timedelta(weeks=4))
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if until > midnight:
        yield (start, midnight)
        start = midnight
    while start < until:
        end = min(start + timedelta(days=1), until)
        yield (start, end)
        start = end


@register("config", "1.0", description="General platform configuration.", config=True)
def config(since, **kwargs):
    return {
        "install_uuid": "36e809d0-b1ae-4b99-9011-2fa3a3eb196e",
        "controller_version": "4.5.8",
        "metrics_utility_version": "0.4.0",
        "billing_provider_params": {},
    }


def _copy_table(table, query, path):
    file = CsvFileSplitter(filespec=os.path.join(path, table + "_table.csv"))
    with connection.cursor() as cursor, cursor.copy(query) as copy:
        while data := copy.read():
            file.write(bytes(data).decode())
    return file.file_list()


@register(
    "job_host_summary",
    "1.2",
    format="csv",
    description="Data for billing",
    fnc_slicing=daily_slicing,
)
def job_host_summary_table(since, full_path, until, **kwargs):
    query = (
        "COPY (SELECT id, modified, host_name, job_id, organization_name FROM main_jobhostsummary"
        f" WHERE modified >= '{since.isoformat()}' AND modified < '{until.isoformat()}'"
        " ORDER BY modified) TO STDOUT WITH CSV HEADER"
    )
    return _copy_table("main_jobhostsummary", query, full_path)
