"""The test service's collectors: they read its database through Django's connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import connection

from pipeline_collector import register

TABLE = "testsite_tasks"


@register("config", "1.0", description="the service", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"service": "testsite", "database": connection.vendor}


@register("task_counts", "1.0", description="tasks per state")
def task_counts(since: datetime, until: datetime, **kwargs: Any) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT state, count(*) FROM {TABLE} WHERE modified >= %s AND modified < %s"  # noqa: S608
            " GROUP BY state ORDER BY state",
            (since, until),
        )
        return {str(state): int(n) for state, n in cursor.fetchall()}


@register("tasks_table", "1.0", format="csv", description="one row per task")
def tasks_table(since: datetime, until: datetime, **kwargs: Any) -> Iterator[str]:
    yield "id,name,state\n"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, state FROM {TABLE} WHERE modified >= %s AND modified < %s"  # noqa: S608
            " ORDER BY id",
            (since, until),
        )
        for task_id, name, state in cursor.fetchall():
            yield f"{task_id},{name},{state}\n"
