"""Database helpers shared by the PostgreSQL store and the PostgreSQL lock.

A leaf module of its own, so that neither adapter imports the other: errors
described without secrets, psycopg imported only when used, and table names
checked before they reach SQL text.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigurationError, MissingExtra, describe_db_error

__all__ = ["describe_db_error", "require_psycopg", "table_parts"]

# ``password=...`` in a DSN; ``user:password@`` in a URL, to its last ``@`` (a password
# may hold an unescaped one).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def require_psycopg() -> Any:
    """Import psycopg 3, or say how to install it."""
    try:
        import psycopg  # optional dependency: imported only when used
    except ImportError:
        raise MissingExtra(
            "PostgreSQL support needs psycopg 3, which is not installed:"
            " pip install 'pipeline-collector[postgres]'"
        ) from None
    return psycopg


def table_parts(table: str, *, allow_schema: bool) -> tuple[str, ...]:
    """Split and check a table name; only plain identifiers can reach SQL text.

    >>> table_parts("analytics.state", allow_schema=True)
    ('analytics', 'state')
    >>> table_parts("analytics.state", allow_schema=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline_collector.errors.ConfigurationError: table must be a name of ...: 'analytics.state'
    """
    parts = tuple(table.split(".")) if allow_schema else (table,)
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        form = "[schema.]name" if allow_schema else "name"
        raise ConfigurationError(
            f"table must be a {form} of letters, digits and underscores: {table!r}"
        )
    return parts
