"""Stream a PostgreSQL ``COPY ... TO STDOUT`` as rows, for CSV collectors.

The functions live in ``pipeline_collector.database.copy``; this is the name
collector modules import them by.
"""

from .database.copy import copy_rows, copy_rows_psycopg2

__all__ = ["copy_rows", "copy_rows_psycopg2"]
