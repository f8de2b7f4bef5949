"""Stage 5, pack: place parts into batches, one batch per archive.

Pure placement by docs/contract.md, section 4: a part goes into the first
open batch of its shipping group that has room and does not hold its key yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from ..errors import ConfigurationError
from ..records import Batch, Collection, Part
from .archive_format import archive_bound

__all__ = ["pack"]


@attrs.define
class _Bin:
    number: int
    group: str
    parts: list[Part] = attrs.Factory(list)
    collections: list[Collection] = attrs.Factory(list)

    @property
    def raw(self) -> int:
        return sum(p.raw_size for p in self.parts)

    def batch(self) -> Batch:
        return Batch(
            group=self.group,
            number=self.number,
            parts=tuple(self.parts),
            collections=tuple(self.collections),
        )


def pack(
    collections: Iterable[Collection],
    *,
    max_data_size: int,
    max_upload_size: int,
    config: Part,
    config_version: str = "1.0",
) -> Iterator[Batch]:
    """Place parts into archives and yield each batch when it is closed.

    A part goes into the first open batch of its shipping group that has room
    (``max_data_size`` of uncompressed data, config excluded, and an exact
    bound of the compressed archive within ``max_upload_size``) and does not
    already hold its key; else a new batch opens.  A sliced collector's
    batches close as soon as its window is placed; the rest close at the end,
    in the order they were opened.  A failed collection leaves a status row.
    A part that cannot fit an upload even alone is refused
    (``ConfigurationError``): no batch is made that its archive would break.
    """
    open_bins: list[_Bin] = []
    count = 0

    def fits(b: _Bin, part: Part, c: Collection) -> bool:
        if part.key in {p.key for p in b.parts}:
            return False
        if b.parts and b.raw + part.raw_size > max_data_size:
            return False
        cols = b.collections if c in b.collections else [*b.collections, c]
        bound = archive_bound([*b.parts, part], cols, config, config_version)
        return bound <= max_upload_size

    def row_fits(b: _Bin, c: Collection) -> bool:
        """Whether a status row of ``c`` keeps ``b`` within the upload limit."""
        return (
            archive_bound(b.parts, [*b.collections, c], config, config_version) <= max_upload_size
        )

    def new_bin(group: str) -> _Bin:
        nonlocal count
        b = _Bin(number=count, group=group)
        count += 1
        open_bins.append(b)
        return b

    for c in collections:
        group = c.task.collector.shipping_group
        touched: list[_Bin] = []
        for part in c.parts:
            target = next((b for b in open_bins if b.group == group and fits(b, part, c)), None)
            if target is None:
                target = new_bin(group)
                if not fits(target, part, c):
                    raise ConfigurationError(
                        f"part {part.index} of {part.key!r} ({part.deflated_size} bytes"
                        f" compressed) cannot fit one upload of {max_upload_size} bytes beside"
                        " config.json and the archive's own members; cut it with the same limits"
                    )
            target.parts.append(part)
            if c not in target.collections:
                target.collections.append(c)
            if target not in touched:
                touched.append(target)
        if not c.parts and c.status == "failed":
            target = next(
                (b for b in open_bins if b.group == group and row_fits(b, c)), None
            ) or new_bin(group)
            target.collections.append(c)
            touched.append(target)
        if c.task.collector.sliced and c.parts:
            for b in sorted(touched, key=lambda b: b.number):
                open_bins.remove(b)
                yield b.batch()
    for b in open_bins:
        yield b.batch()
    open_bins.clear()
