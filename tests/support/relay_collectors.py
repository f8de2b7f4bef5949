"""Collectors importable by name, for runs whose tasks go to worker processes.

``broken`` fails with a secret in its message (the host's redaction must
cut it from what it logs, traceback included); ``refused`` raises an
exception that pickles but cannot be rebuilt; ``wide`` yields rows that are
each larger than the part limit, so its task logs many events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline_collector import register

#: What ``broken`` puts in its error; a host redacts it.
SECRET = "s3cr3t-pa55word"
#: Rows of ``wide``, each logged as ``record.oversized`` when the part limit is small.
WIDE_ROWS = 150


def _refuse() -> None:
    raise RuntimeError("this value cannot be rebuilt")


class _Unbuildable:
    """A value that pickles but raises when unpickled (whatever reducers are installed)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _refuse, ()


class Refused(Exception):
    """An exception that pickles but cannot be unpickled: it holds an unbuildable value."""

    def __init__(self, code: int) -> None:
        super().__init__(f"refused with code {code}")
        self.handle = _Unbuildable()


@register("config", "1.0", config=True)
def config(**kwargs: Any) -> dict[str, Any]:
    return {"platform": "test"}


@register("rows", "1.0", format="csv")
def rows(**kwargs: Any) -> Iterator[str]:
    yield "id,name\n"
    for i in range(20):
        yield f"{i},row-{i}\n"


def _connect(password: str) -> None:
    raise RuntimeError(f"login as app:{password} refused")


@register("broken", "1.0", format="csv")
def broken(**kwargs: Any) -> Iterator[str]:
    _connect(SECRET)
    yield "never\n"


@register("refused", "1.0", format="csv")
def refused(**kwargs: Any) -> Iterator[str]:
    raise Refused(7)
    yield "never\n"


@register("wide", "1.0", format="csv")
def wide(**kwargs: Any) -> Iterator[str]:
    yield "id,payload\n"
    for i in range(WIDE_ROWS):
        yield f"{i},{'x' * 200}\n"
