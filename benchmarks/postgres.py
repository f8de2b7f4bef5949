"""The PostgreSQL section: a table of job events read by COPY, as collectors read it.

A server of our own (``pgserver``) gets an unlogged table of job-event-like
rows made by the server itself (``generate_series``): ids, timestamps,
UUIDs, host names, a JSON text column (its quotes doubled by CSV), and a
``stdout`` column that holds quoted newlines in one row of ten.  Each case
runs in its own subprocess (``run.py --case pg-...``), interleaved:

* ``copy``: psycopg 3 ``cursor.copy`` read and dropped: the floor, what
  the server and the driver cost;
* ``new``: a dry-run ``gather`` of a CSV collector yielding ``copy_rows``;
* ``old``: ``insights-analytics-collector`` 0.3.2 as AWX drives it:
  ``copy_expert`` (psycopg2) into its ``CsvFileSplitter``, ``tarfile`` gzip 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["COPY_SQL", "load", "run_copy", "run_new", "run_old"]

COPY_SQL = "COPY (SELECT * FROM job_events) TO STDOUT WITH CSV HEADER"

_TABLE = """
CREATE UNLOGGED TABLE job_events (
    id bigint, created timestamptz, modified timestamptz, uuid text, parent_uuid text,
    job_id int, host_id int, host_name text, event text, counter int, failed bool,
    changed bool, playbook text, play text, task text, role text, event_data text,
    stdout text)
"""

_FILL = """
INSERT INTO job_events
SELECT 48000000 + g, ts, ts + (g %% 900) * interval '1 ms',
       md5(g::text)::uuid::text, md5((g + 7)::text)::uuid::text,
       9000 + g / 2000, h, host, ev, g %% 500 + 1, ev = 'runner_on_failed',
       ev = 'runner_on_changed',
       (ARRAY['site.yml', 'deploy.yml', 'patch.yml', 'backup.yml', 'ping.yml'])[1 + g %% 5],
       'all', task, (ARRAY['', 'common', 'nginx', 'postgresql', 'users', 'tls'])[1 + g %% 6],
       json_build_object(
           'host', host, 'task', task, 'resolved_action', 'ansible.builtin.dnf',
           'res', json_build_object('changed', ev = 'runner_on_changed', 'rc', 0, 'msg', 'ok'),
           'duration', round((g %% 4000) / 1000.0, 6),
           'task_uuid', md5((g * 3)::text)::uuid)::text,
       CASE WHEN g %% 10 = 3 THEN E'\\nTASK [' || task || '] ' || repeat('*', 20 + g %% 40)
            WHEN ev = 'runner_on_failed'
                THEN 'fatal: [' || host || E']: FAILED! => {"changed": false, "rc": 1}\\nmsg: see log'
            WHEN ev IN ('runner_on_ok', 'runner_on_changed') THEN 'ok: [' || host || ']'
            ELSE '' END
FROM generate_series(%s::int, %s::int) g,
     LATERAL (SELECT timestamptz '2026-11-01' + g * interval '37 ms' AS ts,
                     g %% 400 + 1 AS h) a,
     LATERAL (SELECT 'node-' || lpad(h::text, 3, '0') || '.prod.example.com' AS host,
                     (ARRAY['runner_on_ok', 'runner_on_start', 'runner_on_ok',
                            'playbook_on_task_start', 'runner_on_changed', 'runner_on_ok',
                            'runner_on_skipped', 'runner_on_start', 'runner_on_ok',
                            'runner_on_failed'])[1 + g %% 10] AS ev,
                     (ARRAY['Gathering Facts', 'Install packages', 'Ensure service is running',
                            'Template configuration file', 'Create application user',
                            'Copy TLS certificates', 'Open firewall ports',
                            'Restart web server'])[1 + g %% 8] AS task) b
"""


def load(dsn: str, rows: int) -> int:
    """Create and fill the table; return the bytes its CSV COPY sends."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS job_events")
        conn.execute(_TABLE)
        step = 500_000
        for first in range(1, rows + 1, step):
            conn.execute(_FILL, (first, min(rows, first + step - 1)))
        conn.execute("VACUUM ANALYZE job_events")
    return run_copy(dsn)


def run_copy(dsn: str) -> int:
    """The floor: the COPY read through psycopg 3 and dropped; the bytes read."""
    import psycopg

    total = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
        for block in copy:
            total += len(block)
    return total


def run_new(dsn: str, folder: Path, max_data: int, max_upload: int, compressor: Any) -> Any:
    """A dry-run gather of one CSV collector yielding ``copy_rows``; the run."""
    import psycopg

    from pipeline_collector import gather, register
    from pipeline_collector.copy import copy_rows

    @register("config", "1.0", description="benchmark config", config=True)
    def config(**kwargs: Any) -> dict[str, str]:
        return {"version": "benchmark"}

    @register("job_events", "1.0", format="csv", description="job events from PostgreSQL")
    def job_events(**kwargs: Any) -> Iterator[bytes]:
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            yield from copy_rows(cur, COPY_SQL)

    return gather(
        [config, job_events],
        mode="dry-run",
        max_data_size=max_data,
        max_upload_size=max_upload,
        workdir=folder,
        compressor=compressor,
    )


def run_old(dsn: str, folder: Path, max_data: int) -> list[str]:
    """The old library's dry-run gather: ``copy_expert`` into its ``CsvFileSplitter``."""
    import oldlib
    import psycopg2

    def fill(out: Any) -> None:
        conn = psycopg2.connect(dsn)
        try:
            conn.cursor().copy_expert(COPY_SQL, out)
        finally:
            conn.close()

    return oldlib.gather_old(max_data, folder, fill)
