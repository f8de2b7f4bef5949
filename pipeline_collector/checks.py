"""Check an archive against the contract: members, manifest, status CSV, sizes.

The checks live in ``pipeline_collector.tools.checks``; this is the name
users import them by.
"""

from .tools.checks import *  # noqa: F403
from .tools.checks import __all__ as __all__  # noqa: PLC0414  (the re-export idiom)
