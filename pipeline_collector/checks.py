"""Check an archive against the contract: members, manifest, status CSV, sizes.

The checks live in ``pipeline_collector.tools.checks``; this is the name
users import them by.
"""

from .tools.checks import (
    REQUIRED_MEMBERS,
    STATUS_HEADER,
    ArchiveReport,
    Member,
    check_archive,
    inspect_archive,
)

__all__ = [
    "REQUIRED_MEMBERS",
    "STATUS_HEADER",
    "ArchiveReport",
    "Member",
    "check_archive",
    "inspect_archive",
]
