"""Where the project and its documentation live, for texts read off any install.

A wheel carries no ``docs/`` folder: help texts and error messages name
these URLs instead of repository paths.  ``pyproject.toml``'s project URLs
are the same (a test keeps them so).
"""

from __future__ import annotations

__all__ = ["DOCS", "HOME", "doc", "source"]

HOME = "https://github.com/pipeline-collector/pipeline-collector"
DOCS = f"{HOME}/tree/main/docs"


def doc(page: str) -> str:
    """The URL of ``docs/<page>`` (an anchor may follow ``#``).

    >>> doc("migration.md")
    'https://github.com/pipeline-collector/pipeline-collector/blob/main/docs/migration.md'
    """
    return f"{HOME}/blob/main/docs/{page}"


def source(path: str) -> str:
    """The URL of a file of the repository, by its path there.

    >>> source("pipeline_collector/demo/collectors.py")
    'https://github.com/pipeline-collector/pipeline-collector/blob/main/pipeline_collector/demo/collectors.py'
    """
    return f"{HOME}/blob/main/{path}"
