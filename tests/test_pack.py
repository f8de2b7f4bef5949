"""Placing parts into batches on its own (docs/contract.md, section 4), from hand-built records.

Two parts of one key never share a batch, groups never mix, a part goes into
the first open batch with room, and a sliced collector's batches close as
soon as its window is placed.  No file is read: pack decides from sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_collector.errors import ConfigurationError
from pipeline_collector.records import Batch, Collection, Collector, Part, Status, Task, Window
from pipeline_collector.stages.archive_format import archive_bound
from pipeline_collector.stages.pack import pack

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)
CONFIG = Part(
    key="config",
    seq=-1,
    index=0,
    filename="config.json",
    path=Path("config.json"),
    raw_size=40,
    deflated_size=30,
    crc32=0,
)
LIMIT, UPLOAD = 1000, 1 << 20


def daily(key: str, last_gather: datetime, **kwargs: object) -> list[tuple[datetime, datetime]]:
    return [(NOW - timedelta(days=1), NOW)]


def collection(
    key: str,
    sizes: Iterable[int | tuple[int, int]] = (100,),
    *,
    seq: int = 0,
    group: str = "default",
    sliced: bool = False,
    status: Status = "ok",
) -> Collection:
    """A collection of ``key`` whose parts have these raw (or raw, deflated) sizes."""
    collector = Collector(
        key=key,
        version="1.0",
        func=list,
        format="csv",
        slicer=daily if sliced else None,
        shipping_group=group,
    )
    task = Task(
        collector=collector, window=Window(since=NOW - timedelta(days=1), until=NOW), seq=seq
    )
    parts = []
    for index, size in enumerate(sizes):
        raw, deflated = size if isinstance(size, tuple) else (size, size // 2)
        parts.append(
            Part(
                key=key,
                seq=seq,
                index=index,
                filename=collector.filename,
                path=Path(f"{key}.{seq}.{index}"),
                raw_size=raw,
                deflated_size=deflated,
                crc32=0,
            )
        )
    return Collection(task=task, status=status, started_at=NOW, elapsed=0.0, parts=tuple(parts))


def packed(
    collections: Iterable[Collection], *, max_data_size: int = LIMIT, max_upload_size: int = UPLOAD
) -> list[Batch]:
    return list(
        pack(
            collections, max_data_size=max_data_size, max_upload_size=max_upload_size, config=CONFIG
        )
    )


def keys(batch: Batch) -> list[str]:
    return [p.key for p in batch.parts]


class TestPlacement:
    def test_parts_of_one_key_never_share_a_batch(self) -> None:
        """Three small parts of one key go into three batches, though one would hold them all."""
        batches = packed([collection("jobs", [10, 10, 10])])
        assert [keys(b) for b in batches] == [["jobs"], ["jobs"], ["jobs"]]
        assert [b.parts[0].index for b in batches] == [0, 1, 2]

    def test_parts_of_different_keys_share_a_batch_with_room(self) -> None:
        """Parts of several keys fill one batch while it has room."""
        batches = packed([collection("jobs", seq=0), collection("hosts", seq=1)])
        assert [keys(b) for b in batches] == [["jobs", "hosts"]]

    def test_a_part_goes_into_the_first_open_batch_with_room(self) -> None:
        """A small part goes back to the first batch that still has room, not the newest."""
        batches = packed(
            [
                collection("jobs", [600], seq=0),
                collection("hosts", [600], seq=1),
                collection("users", [300], seq=2),
            ]
        )
        assert [keys(b) for b in batches] == [["jobs", "users"], ["hosts"]]

    def test_a_part_skips_a_batch_holding_its_key(self) -> None:
        """The second part of a key passes over the batch with its first part, room or not."""
        batches = packed([collection("hosts", [100], seq=0), collection("jobs", [100, 100], seq=1)])
        assert [keys(b) for b in batches] == [["hosts", "jobs"], ["jobs"]]

    def test_groups_never_mix(self) -> None:
        """Collections of another shipping group go into batches of their own, room or not."""
        batches = packed(
            [
                collection("jobs", seq=0),
                collection("billing", seq=1, group="billing"),
                collection("hosts", seq=2),
            ]
        )
        assert [(b.group, keys(b)) for b in batches] == [
            ("default", ["jobs", "hosts"]),
            ("billing", ["billing"]),
        ]
        for b in batches:
            assert {c.task.collector.shipping_group for c in b.collections} == {b.group}

    def test_uncompressed_data_stays_within_max_data_size(self) -> None:
        """A batch holds at most max_data_size of uncompressed data: the exact limit fits, a byte more does not."""
        assert len(packed([collection("a", [400]), collection("b", [600], seq=1)])) == 1
        batches = packed([collection("a", [400]), collection("b", [601], seq=1)])
        assert [keys(b) for b in batches] == [["a"], ["b"]]

    def test_the_config_does_not_count_against_max_data_size(self) -> None:
        """config.json rides in every archive outside the data budget."""
        assert CONFIG.raw_size + 500 + 500 > LIMIT
        assert len(packed([collection("a", [500]), collection("b", [500], seq=1)])) == 1

    def test_a_part_larger_than_the_limit_goes_alone(self) -> None:
        """An oversized part gets a batch of its own, and nothing joins it later."""
        batches = packed(
            [collection("big", [5000], seq=0), collection("small", [10], seq=1)],
        )
        assert [keys(b) for b in batches] == [["big"], ["small"]]

    def test_the_archive_bound_stays_within_max_upload_size(self) -> None:
        """Parts that barely shrink are placed by their compressed size: two per batch when two fit."""
        cs = [collection(k, [(100, 10_000)], seq=n) for n, k in enumerate("abcde")]
        two = archive_bound([cs[0].parts[0], cs[1].parts[0]], cs[:2], CONFIG)
        batches = packed(cs, max_upload_size=two)
        assert [keys(b) for b in batches] == [["a", "b"], ["c", "d"], ["e"]]
        for b in batches:
            assert archive_bound(b.parts, b.collections, CONFIG) <= two

    def test_every_batch_lists_the_collections_of_its_parts(self) -> None:
        """A batch's collections are those whose parts it holds, once each, for its status rows."""
        jobs, hosts = collection("jobs", [100, 100], seq=0), collection("hosts", seq=1)
        batches = packed([jobs, hosts])
        assert [b.collections for b in batches] == [(jobs, hosts), (jobs,)]

    def test_batches_are_numbered_in_the_order_they_opened(self) -> None:
        """Batch numbers count from 0 in opening order."""
        batches = packed([collection("jobs", [100, 100, 100])])
        assert [b.number for b in batches] == [0, 1, 2]

    def test_no_collections_no_batches(self) -> None:
        """Nothing to place gives no batch at all."""
        assert packed([]) == []


class TestStatusRows:
    def test_failed_collection_without_parts_leaves_a_status_row(self) -> None:
        """A failed collection alone still gets a batch, with its status row and no parts."""
        broken = collection("jobs", [], status="failed")
        assert packed([broken]) == [Batch(group="default", number=0, collections=(broken,))]

    def test_failed_collection_joins_the_first_open_batch_of_its_group(self) -> None:
        """The status row of a failed collection rides in the first open batch of its group."""
        hosts = collection("hosts", [100, 100], seq=0)
        billing = collection("billing", seq=1, group="billing")
        broken = collection("jobs", [], seq=2, status="failed")
        batches = packed([hosts, billing, broken])
        assert [(b.group, b.collections) for b in batches] == [
            ("default", (hosts, broken)),
            ("default", (hosts,)),
            ("billing", (billing,)),
        ]

    def test_a_status_row_never_pushes_a_batch_past_the_upload_limit(self) -> None:
        """A failed collection's row does not join a batch already filled to the bound."""
        cs = [collection(k, [(100, 10_000)], seq=n) for n, k in enumerate("ab")]
        two = archive_bound([cs[0].parts[0], cs[1].parts[0]], cs, CONFIG)
        broken = collection("a_collector_with_a_long_key", [], seq=2, status="failed")
        for b in packed([*cs, broken], max_upload_size=two):
            assert archive_bound(b.parts, b.collections, CONFIG) <= two

    def test_failed_collection_of_another_group_opens_its_own_batch(self) -> None:
        """A failed collection never rides in another group's batch."""
        hosts = collection("hosts", seq=0)
        broken = collection("billing", [], seq=1, group="billing", status="failed")
        batches = packed([hosts, broken])
        assert [(b.group, b.collections) for b in batches] == [
            ("default", (hosts,)),
            ("billing", (broken,)),
        ]


def pulled(collections: list[Collection], log: list[str]) -> Iterator[Collection]:
    """Yield the collections, noting in ``log`` when pack asks for each."""
    for c in collections:
        log.append(f"pull {c.key}")
        yield c
    log.append("end")


class TestClosing:
    def test_a_sliced_collectors_batches_close_when_its_window_is_placed(self) -> None:
        """The batches of a sliced window come out before pack asks for the next collection."""
        log: list[str] = []
        cs = [
            collection("events", [100, 100], seq=0, sliced=True),
            collection("events", [100], seq=1, sliced=True),
        ]
        for b in pack(pulled(cs, log), max_data_size=LIMIT, max_upload_size=UPLOAD, config=CONFIG):
            log.append(f"batch {b.number} seq {[p.seq for p in b.parts]}")
        assert log == [
            "pull events",
            "batch 0 seq [0]",
            "batch 1 seq [0]",
            "pull events",
            "batch 2 seq [1]",
            "end",
        ]

    def test_a_sliced_window_carries_collections_placed_before_it(self) -> None:
        """A sliced window closes the batch it shares with an earlier JSON collection, which rides along."""
        summary = collection("summary", seq=0)
        events = collection("events", seq=1, sliced=True)
        batches = packed([summary, events, collection("hosts", seq=2)])
        assert [keys(b) for b in batches] == [["summary", "events"], ["hosts"]]

    def test_other_batches_close_at_the_end_in_opening_order(self) -> None:
        """Without sliced collectors nothing comes out before the input ends, then batches in order."""
        log: list[str] = []
        cs = [collection("jobs", [100, 100], seq=0), collection("hosts", seq=1)]
        for b in pack(pulled(cs, log), max_data_size=LIMIT, max_upload_size=UPLOAD, config=CONFIG):
            log.append(f"batch {b.number}")
        assert log == ["pull jobs", "pull hosts", "end", "batch 0", "batch 1"]

    def test_a_failed_sliced_window_closes_nothing(self) -> None:
        """A sliced window that failed leaves its status row in an open batch, which stays open."""
        broken = collection("events", [], seq=0, sliced=True, status="failed")
        hosts = collection("hosts", seq=1)
        assert [b.collections for b in packed([broken, hosts])] == [(broken, hosts)]


# --- property: any sizes, any mix -------------------------------------------------------


@st.composite
def inputs(draw: st.DrawFn) -> list[Collection]:
    """Collections of a few keys and two groups, some sliced, some failed, parts of any size."""
    out: list[Collection] = []
    count = draw(st.integers(0, 12))
    sizes = st.tuples(st.integers(1, 3 * LIMIT), st.integers(1, 3000))
    for seq in range(count):
        key = draw(st.sampled_from(["a", "b", "c", "d"]))
        # A key's collector is the same one all run long: its group and slicing follow from it.
        group = "billing" if key == "d" else "default"
        if draw(st.integers(0, 5)) == 0:
            out.append(
                collection(key, [], seq=seq, group=group, sliced=key == "c", status="failed")
            )
            continue
        parts = draw(st.lists(sizes, min_size=1, max_size=4))
        out.append(collection(key, parts, seq=seq, group=group, sliced=key == "c"))
    return out


class TestAnySizes:
    @settings(max_examples=200, deadline=None)
    @given(cs=inputs(), upload=st.integers(16_000, 40_000))
    def test_placement_rules_hold(self, cs: list[Collection], upload: int) -> None:
        """Every part is placed once, by the contract's rules, whatever the sizes.

        A part that could not fit one upload even alone is refused before any
        batch is made of it.
        """
        alone = [p for c in cs for p in c.parts if archive_bound([p], [c], CONFIG) > upload]
        if alone:
            with pytest.raises(ConfigurationError, match=f"part {alone[0].index} of"):
                packed(cs, max_upload_size=upload)
            return
        batches = packed(cs, max_upload_size=upload)
        placed = [p for b in batches for p in b.parts]
        assert sorted(placed, key=lambda p: (p.seq, p.index)) == [p for c in cs for p in c.parts]
        assert [b.number for b in sorted(batches, key=lambda b: b.number)] == list(
            range(len(batches))
        )
        for b in batches:
            assert len(set(keys(b))) == len(b.parts)  # never two parts of one key
            groups = {c.task.collector.shipping_group for c in b.collections}
            assert groups == {b.group}  # groups never mix
            assert {(p.key, p.seq) for p in b.parts} <= {(c.key, c.task.seq) for c in b.collections}
            if len(b.parts) > 1:
                assert sum(p.raw_size for p in b.parts) <= LIMIT
                assert archive_bound(b.parts, b.collections, CONFIG) <= upload

    @settings(deadline=None)  # timing is not what is tested
    @given(cs=inputs())
    def test_every_collection_is_reported_where_it_belongs(self, cs: list[Collection]) -> None:
        """A collection is listed by exactly the batches holding its parts; a failed one by one batch."""
        batches = packed(cs)
        for c in cs:
            listed = [b.number for b in batches if c in b.collections]
            holding = [b.number for b in batches if set(c.parts) & set(b.parts)]
            if c.parts:
                assert listed == holding
            else:
                assert len(listed) == 1

    @settings(deadline=None)  # timing is not what is tested
    @given(cs=inputs())
    def test_a_sliced_windows_batches_take_nothing_placed_after_it(
        self, cs: list[Collection]
    ) -> None:
        """Once a sliced window is placed its batches are closed: no later collection joins them."""
        order = {(c.key, c.task.seq): n for n, c in enumerate(cs)}
        for b in packed(cs):
            sliced = [
                order[c.key, c.task.seq]
                for c in b.collections
                if c.task.collector.sliced and c.parts
            ]
            if sliced:
                assert max(order[c.key, c.task.seq] for c in b.collections) <= min(sliced)
