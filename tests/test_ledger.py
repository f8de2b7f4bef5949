"""The ledger's rules on their own (docs/contract.md, section 3), from hand-built records.

An entry moves only over windows collected AND confirmed, in order; the first
failing window stops its key; ``<key>_full`` moves only when a full sync's
every window is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_collector.book.ledger import Ledger
from pipeline_collector.records import (
    Batch,
    Collection,
    Collector,
    Part,
    Plan,
    Problem,
    State,
    Status,
    Task,
    Window,
)

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
CONFIG = Collector(key="config", version="1.0", func=dict, config=True)


def make_plan(
    windows: dict[str, int],
    *,
    full_sync: Iterable[str] = (),
    problems: Iterable[str] = (),
) -> Plan:
    """A plan with ``windows[key]`` hourly windows per key, ending now, seqs counted in key order."""
    full = set(full_sync)
    tasks: list[Task] = []
    for key, count in windows.items():
        collector = Collector(key=key, version="1.0", func=list, format="csv")
        for n in range(count):
            since = NOW - (count - n) * HOUR
            window = Window(since=since, until=since + HOUR)
            tasks.append(
                Task(collector=collector, window=window, seq=len(tasks), full_sync=key in full)
            )
    return Plan(
        now=NOW,
        since=None,
        until=NOW,
        last_gather=NOW - 24 * HOUR,
        horizon=timedelta(weeks=4),
        config=CONFIG,
        tasks=tuple(tasks),
        problems=tuple(Problem(key=k, message="slicer failed") for k in problems),
    )


def tasks_of(plan: Plan, key: str) -> list[Task]:
    return [t for t in plan.tasks if t.key == key]


def part(task: Task, index: int = 0) -> Part:
    return Part(
        key=task.key,
        seq=task.seq,
        index=index,
        filename=task.collector.filename,
        path=Path(f"{task.key}.{task.seq}.{index}"),
        raw_size=100,
        deflated_size=50,
        crc32=0,
    )


def collection(task: Task, status: Status = "ok", parts: int = 1) -> Collection:
    """The outcome of ``task``: ``parts`` parts when ok, none otherwise."""
    made = tuple(part(task, i) for i in range(parts)) if status == "ok" else ()
    return Collection(task=task, status=status, started_at=NOW, elapsed=0.0, parts=made)


def batch(*parts: Part) -> Batch:
    return Batch(group="default", number=0, parts=parts)


# The ledger notes in place; these return it, so each test reads as a sequence of notes.
def ledger_for(plan: Plan) -> Ledger:
    return Ledger.for_plan(plan)


def collected(ledger: Ledger, c: Collection) -> Ledger:
    ledger.collected(c)
    return ledger


def confirmed(ledger: Ledger, b: Batch) -> Ledger:
    ledger.confirmed(b)
    return ledger


def failed(ledger: Ledger, b: Batch) -> Ledger:
    ledger.failed(b)
    return ledger


def advance(ledger: Ledger, state: State) -> State:
    return ledger.advance(state)


def stopped_at(ledger: Ledger, key: str) -> int | None:
    return ledger.stopped_at(key)


def shipped(ledger: Ledger, *collections: Collection) -> Ledger:
    """Note each collection, then confirm each of its parts in a batch of its own."""
    for c in collections:
        ledger = collected(ledger, c)
    for c in collections:
        for p in c.parts:
            ledger = confirmed(ledger, batch(p))
    return ledger


class TestLedgerFor:
    def test_orders_each_keys_tasks_and_starts_with_nothing_pending(self) -> None:
        """A fresh ledger lists each key's seqs in order, their ends, and nothing pending or stopped."""
        plan = make_plan({"jobs": 2, "hosts": 1})
        ledger = ledger_for(plan)
        assert ledger.order == {"jobs": (0, 1), "hosts": (2,)}
        assert ledger.until == {t.seq: t.window.until for t in plan.tasks}
        assert ledger.pending == {} and ledger.stops == {} and ledger.done == {}
        assert ledger.now == NOW

    def test_planning_problems_stop_their_keys_before_any_window(self) -> None:
        """A key whose slicer failed while planning is stopped before its first window."""
        ledger = ledger_for(make_plan({"jobs": 1}, problems=["broken"]))
        assert stopped_at(ledger, "broken") == -1
        assert stopped_at(ledger, "jobs") is None

    def test_only_full_sync_keys_are_marked(self) -> None:
        """The ledger knows which keys run a full sync."""
        ledger = ledger_for(make_plan({"jobs": 1, "inventory": 2}, full_sync=["inventory"]))
        assert ledger.full_sync == frozenset({"inventory"})


class TestMovesOnlyOverConfirmedWindows:
    def test_collected_but_unconfirmed_window_does_not_move(self) -> None:
        """Parts that wait for confirmation keep the entry where it was."""
        plan = make_plan({"jobs": 1})
        ledger = collected(ledger_for(plan), collection(plan.tasks[0]))
        assert "jobs" not in advance(ledger, State()).entries

    def test_confirmed_window_moves_the_entry_to_its_end(self) -> None:
        """Once every part of a window is confirmed, the entry moves to the window's end."""
        plan = make_plan({"jobs": 2})
        first, _ = tasks_of(plan, "jobs")
        ledger = shipped(ledger_for(plan), collection(first))
        assert advance(ledger, State()).entries["jobs"] == first.window.until

    def test_a_window_with_one_part_unconfirmed_does_not_count(self) -> None:
        """A window of three parts with two confirmed is not done."""
        plan = make_plan({"jobs": 1})
        c = collection(plan.tasks[0], parts=3)
        ledger = collected(ledger_for(plan), c)
        ledger = confirmed(confirmed(ledger, batch(c.parts[0])), batch(c.parts[2]))
        assert "jobs" not in advance(ledger, State()).entries
        ledger = confirmed(ledger, batch(c.parts[1]))
        assert advance(ledger, State()).entries["jobs"] == plan.tasks[0].window.until

    def test_a_window_with_nothing_to_ship_is_done_when_collected(self) -> None:
        """An empty collection has no parts to wait for: collecting it is enough."""
        plan = make_plan({"quiet": 1})
        ledger = collected(ledger_for(plan), collection(plan.tasks[0], status="empty"))
        assert advance(ledger, State()).entries["quiet"] == NOW

    def test_windows_count_in_order_only(self) -> None:
        """A done window after one still waiting does not move the entry past the waiting one."""
        plan = make_plan({"jobs": 3})
        first, second, third = tasks_of(plan, "jobs")
        ledger = shipped(ledger_for(plan), collection(first), collection(third))
        ledger = collected(ledger, collection(second))
        assert advance(ledger, State()).entries["jobs"] == first.window.until
        ledger = shipped(ledger, collection(second))
        assert advance(ledger, State()).entries["jobs"] == third.window.until

    def test_an_uncollected_first_window_holds_back_the_rest(self) -> None:
        """Later windows shipped before the first was collected do not move the entry."""
        plan = make_plan({"jobs": 2})
        _, second = tasks_of(plan, "jobs")
        ledger = shipped(ledger_for(plan), collection(second))
        assert "jobs" not in advance(ledger, State()).entries

    def test_confirmations_of_one_key_do_not_move_another(self) -> None:
        """Each key moves over its own windows only."""
        plan = make_plan({"jobs": 1, "hosts": 1})
        (jobs,), (hosts,) = tasks_of(plan, "jobs"), tasks_of(plan, "hosts")
        ledger = shipped(collected(ledger_for(plan), collection(hosts)), collection(jobs))
        entries = advance(ledger, State()).entries
        assert entries["jobs"] == jobs.window.until and "hosts" not in entries

    def test_an_entry_never_moves_backwards(self) -> None:
        """A stored entry later than the windows done stays where it is."""
        plan = make_plan({"jobs": 1})
        ledger = shipped(ledger_for(plan), collection(plan.tasks[0]))
        later = NOW + HOUR
        assert advance(ledger, State(entries={"jobs": later})).entries["jobs"] == later

    def test_moved_hands_over_each_moved_entry_once(self) -> None:
        """``moved()`` gives the entries that moved since it was last asked, and only those."""
        plan = make_plan({"jobs": 2, "hosts": 1})
        first, second = tasks_of(plan, "jobs")
        ledger = shipped(ledger_for(plan), collection(first))
        assert ledger.moved() == {"jobs": first.window.until}
        assert ledger.moved() == {}
        ledger = collected(ledger, collection(second, status="empty"))
        assert ledger.moved() == {"jobs": second.window.until}
        ledger = collected(ledger, collection(tasks_of(plan, "hosts")[0], status="failed"))
        assert ledger.moved() == {}

    def test_a_confirmation_moves_only_the_keys_it_holds(self) -> None:
        """Confirming one key's part leaves every other key's entry out of ``moved()``."""
        plan = make_plan({k: 3 for k in ("a", "b", "c", "d")})
        ledger = ledger_for(plan)
        for t in plan.tasks:
            ledger = collected(ledger, collection(t))
        assert ledger.moved() == {}
        b0 = tasks_of(plan, "b")[0]
        ledger = confirmed(ledger, batch(part(b0)))
        assert ledger.moved() == {"b": b0.window.until}

    def test_full_sync_entry_is_handed_over_with_the_last_window(self) -> None:
        """When a full sync's last window is done, ``moved()`` gives ``<key>_full`` too."""
        plan = make_plan({"inventory": 2}, full_sync=["inventory"])
        ledger = shipped(ledger_for(plan), collection(plan.tasks[0]))
        assert ledger.moved() == {"inventory": plan.tasks[0].window.until}
        ledger = shipped(ledger, collection(plan.tasks[1]))
        assert ledger.moved() == {"inventory": NOW, "inventory_full": NOW}


class TestFirstFailureStopsTheKey:
    def test_a_failed_collection_stops_its_key_at_its_window(self) -> None:
        """The entry stays at the end of the last window before the failed one."""
        plan = make_plan({"jobs": 3})
        first, second, third = tasks_of(plan, "jobs")
        ledger = shipped(ledger_for(plan), collection(first), collection(third))
        ledger = collected(ledger, collection(second, status="failed"))
        assert stopped_at(ledger, "jobs") == second.seq
        assert advance(ledger, State()).entries["jobs"] == first.window.until

    def test_a_skipped_collection_stops_its_key_too(self) -> None:
        """A window that was not collected because its key stopped counts as failed."""
        plan = make_plan({"jobs": 2})
        first, second = tasks_of(plan, "jobs")
        ledger = collected(
            shipped(ledger_for(plan), collection(first)), collection(second, "skipped")
        )
        assert stopped_at(ledger, "jobs") == second.seq
        assert advance(ledger, State()).entries["jobs"] == first.window.until

    def test_later_windows_never_move_the_entry_past_the_failure(self) -> None:
        """Windows after the failed one are shipped and confirmed, and still do not count."""
        plan = make_plan({"jobs": 4})
        w0, w1, w2, w3 = tasks_of(plan, "jobs")
        ledger = collected(ledger_for(plan), collection(w0, status="failed"))
        ledger = shipped(ledger, collection(w1), collection(w2), collection(w3))
        assert "jobs" not in advance(ledger, State()).entries

    def test_the_earliest_failure_is_where_the_key_stops(self) -> None:
        """Whatever order failures are noted in, the key stops at its first failed window."""
        plan = make_plan({"jobs": 3})
        _, second, third = tasks_of(plan, "jobs")
        one_way = collected(
            collected(ledger_for(plan), collection(third, "failed")), collection(second, "failed")
        )
        other_way = collected(
            collected(ledger_for(plan), collection(second, "failed")), collection(third, "failed")
        )
        assert stopped_at(one_way, "jobs") == stopped_at(other_way, "jobs") == second.seq

    def test_a_failure_stops_only_its_own_key(self) -> None:
        """Another key's windows still move its entry."""
        plan = make_plan({"jobs": 1, "hosts": 1})
        (jobs,), (hosts,) = tasks_of(plan, "jobs"), tasks_of(plan, "hosts")
        ledger = shipped(collected(ledger_for(plan), collection(jobs, "failed")), collection(hosts))
        assert stopped_at(ledger, "hosts") is None
        entries = advance(ledger, State()).entries
        assert entries["hosts"] == hosts.window.until and "jobs" not in entries


class TestFailedBatch:
    def test_a_failed_batch_stops_every_key_in_it(self) -> None:
        """Each key with a part in a batch that did not arrive stops at that part's window."""
        plan = make_plan({"jobs": 2, "hosts": 2, "users": 1})
        jobs, hosts = tasks_of(plan, "jobs"), tasks_of(plan, "hosts")
        ledger = ledger_for(plan)
        for t in plan.tasks:
            ledger = collected(ledger, collection(t))
        ledger = failed(ledger, batch(part(jobs[1]), part(hosts[0])))
        assert stopped_at(ledger, "jobs") == jobs[1].seq
        assert stopped_at(ledger, "hosts") == hosts[0].seq
        assert stopped_at(ledger, "users") is None

    def test_keys_of_a_failed_batch_keep_only_what_was_confirmed_before(self) -> None:
        """A failed batch leaves its keys at the windows confirmed before it, even when later ones arrive."""
        plan = make_plan({"jobs": 3})
        first, second, third = tasks_of(plan, "jobs")
        cs = [collection(first), collection(second), collection(third)]
        ledger = ledger_for(plan)
        for c in cs:
            ledger = collected(ledger, c)
        ledger = confirmed(ledger, batch(*cs[0].parts))
        ledger = failed(ledger, batch(*cs[1].parts))
        ledger = confirmed(ledger, batch(*cs[2].parts))
        assert advance(ledger, State()).entries["jobs"] == first.window.until

    def test_one_failed_part_stops_a_window_whose_other_parts_arrived(self) -> None:
        """A window split over two batches is lost when either of them is."""
        plan = make_plan({"jobs": 1})
        c = collection(plan.tasks[0], parts=2)
        ledger = confirmed(collected(ledger_for(plan), c), batch(c.parts[0]))
        ledger = failed(ledger, batch(c.parts[1]))
        assert stopped_at(ledger, "jobs") == 0
        assert "jobs" not in advance(ledger, State()).entries


class TestFullSync:
    def test_full_entry_moves_to_now_when_every_window_is_done(self) -> None:
        """A full sync whose every window arrived records ``<key>_full`` at the run's time."""
        plan = make_plan({"inventory": 3}, full_sync=["inventory"])
        ledger = shipped(ledger_for(plan), *(collection(t) for t in plan.tasks))
        entries = advance(ledger, State()).entries
        assert entries["inventory_full"] == NOW
        assert entries["inventory"] == NOW

    def test_no_full_entry_while_a_window_waits(self) -> None:
        """With one window still waiting for confirmation, ``<key>_full`` does not move."""
        plan = make_plan({"inventory": 2}, full_sync=["inventory"])
        first, second = plan.tasks
        ledger = collected(shipped(ledger_for(plan), collection(first)), collection(second))
        entries = advance(ledger, State(entries={"inventory_full": NOW - 30 * HOUR})).entries
        assert entries["inventory_full"] == NOW - 30 * HOUR
        assert entries["inventory"] == first.window.until

    def test_no_full_entry_after_a_failed_window(self) -> None:
        """A full sync with a failed window moves the entry up to the failure, and not ``_full``."""
        plan = make_plan({"inventory": 2}, full_sync=["inventory"])
        first, second = plan.tasks
        ledger = collected(
            shipped(ledger_for(plan), collection(first)), collection(second, "failed")
        )
        entries = advance(ledger, State()).entries
        assert "inventory_full" not in entries
        assert entries["inventory"] == first.window.until

    def test_no_full_entry_for_an_ordinary_run(self) -> None:
        """A key that was not asked for a full sync never gets a ``_full`` entry."""
        plan = make_plan({"inventory": 1})
        ledger = shipped(ledger_for(plan), collection(plan.tasks[0]))
        assert sorted(advance(ledger, State()).entries) == ["inventory"]


# --- property: any run's outcome, against the rule read straight from the contract -------

Outcome = tuple[Status, tuple[int | None, ...]]  # status, and the batch number of each part
STATUSES: list[Status] = ["ok", "ok", "ok", "empty", "failed", "skipped"]


@st.composite
def runs(draw: st.DrawFn) -> tuple[Plan, dict[int, Outcome], dict[int, bool]]:
    """A plan, each task's outcome (parts placed in numbered batches) and each batch's fate.

    A part's batch number ``None`` means it was never shipped (the run ended first);
    a batch maps to True when it arrived, False when it failed.
    """
    keys = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    windows = {k: draw(st.integers(1, 4)) for k in keys}
    full = draw(st.sets(st.sampled_from(keys)))
    plan = make_plan(windows, full_sync=full)
    batch_numbers = st.one_of(st.none(), st.integers(0, 5))
    outcomes: dict[int, Outcome] = {}
    for t in plan.tasks:
        status = draw(st.sampled_from(STATUSES))
        count = draw(st.integers(0, 3)) if status == "ok" else 0
        outcomes[t.seq] = (status, tuple(draw(batch_numbers) for _ in range(count)))
    fates = {n: draw(st.booleans()) for n in range(6)}
    return plan, outcomes, fates


def play(
    plan: Plan, outcomes: dict[int, Outcome], fates: dict[int, bool], order: list[int]
) -> Ledger:
    """Note every collection, then every batch in ``order``, as a run would."""
    ledger = ledger_for(plan)
    batches: dict[int, list[Part]] = {}
    for t in plan.tasks:
        status, placed = outcomes[t.seq]
        c = collection(t, status, parts=len(placed))
        ledger = collected(ledger, c)
        for p, number in zip(c.parts, placed, strict=True):
            if number is not None:
                batches.setdefault(number, []).append(p)
    for number in order:
        if number in batches:
            noted = confirmed if fates[number] else failed
            ledger = noted(ledger, batch(*batches[number]))
    return ledger


def done(outcome: Outcome, fates: dict[int, bool]) -> bool:
    """The contract's test of one window: collected, and every part arrived."""
    status, placed = outcome
    return status in ("ok", "empty") and all(n is not None and fates[n] for n in placed)


def lost(outcome: Outcome, fates: dict[int, bool]) -> bool:
    """A window that failed: not collected, or a part in a batch that did not arrive."""
    status, placed = outcome
    return status in ("failed", "skipped") or any(n is not None and not fates[n] for n in placed)


class TestAnyRun:
    @settings(deadline=None)  # timing is not what is tested
    @given(run=runs(), order=st.permutations(range(6)))
    def test_entry_is_the_end_of_the_longest_run_of_done_windows(
        self, run: tuple[Plan, dict[int, Outcome], dict[int, bool]], order: list[int]
    ) -> None:
        """Each key's entry ends its longest prefix of done windows; ``_full`` only when all are done."""
        plan, outcomes, fates = run
        ledger = play(plan, outcomes, fates, order)
        state = advance(ledger, State())
        for key in {t.key for t in plan.tasks}:
            tasks = tasks_of(plan, key)
            prefix = 0
            while prefix < len(tasks) and done(outcomes[tasks[prefix].seq], fates):
                prefix += 1
            expected = tasks[prefix - 1].window.until if prefix else None
            assert state.entries.get(key) == expected
            everything = prefix == len(tasks) and tasks[0].full_sync
            assert state.entries.get(f"{key}_full") == (NOW if everything else None)
            failures = [t.seq for t in tasks if lost(outcomes[t.seq], fates)]
            assert stopped_at(ledger, key) == (min(failures) if failures else None)

    @settings(deadline=None)  # timing is not what is tested
    @given(run=runs(), one=st.permutations(range(6)), other=st.permutations(range(6)))
    def test_the_order_answers_arrive_in_does_not_matter(
        self,
        run: tuple[Plan, dict[int, Outcome], dict[int, bool]],
        one: list[int],
        other: list[int],
    ) -> None:
        """The same answers in any order leave the same ledger and the same state."""
        plan, outcomes, fates = run
        first, second = play(plan, outcomes, fates, one), play(plan, outcomes, fates, other)
        assert first == second
        assert advance(first, State()) == advance(second, State())

    @settings(deadline=None)  # timing is not what is tested
    @given(run=runs(), order=st.permutations(range(6)), stored=st.integers(-30, 30))
    def test_entries_never_move_backwards(
        self,
        run: tuple[Plan, dict[int, Outcome], dict[int, bool]],
        order: list[int],
        stored: int,
    ) -> None:
        """Advancing a stored state keeps every entry at least where it was."""
        plan, outcomes, fates = run
        before = State(entries={t.key: NOW + stored * HOUR for t in plan.tasks})
        after = advance(play(plan, outcomes, fates, order), before)
        assert all(after.entries[k] >= v for k, v in before.entries.items())
