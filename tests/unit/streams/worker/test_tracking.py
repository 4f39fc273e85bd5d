"""SlaTracker with plain dicts as tables: ticks, duplicates, outbox and recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from schemas.outputs import entity_key
from streams.engine.clocks import ClockEngine
from streams.worker.tracking import Entry, SlaTracker
from tests.unit.streams.conftest import ticket, utc

# acme's tickets: their keys in state and on the instances topic
KEY = {t: entity_key("ticket", "acme", t) for t in ("T1", "T2", "T3")}


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.statuses: list[dict] = []  # instance rows, from one status record per entity
        self.status_keys: list[bytes] = []
        self.unstored = 0  # records published and not yet stored by the "broker"
        self.lost = False  # the "broker" refuses them

    async def __call__(self, events, statuses) -> None:
        self.events += [orjson.loads(v) for _, v in events]
        self.statuses += [i for _, v in statuses for i in orjson.loads(v)["instances"]]
        self.status_keys += [k for k, _ in statuses]
        self.unstored += len(events) + len(statuses)

    async def stored(self) -> None:
        if self.lost:
            raise RuntimeError("not stored")
        self.unstored = 0


class Wall:
    def __init__(self) -> None:
        self.now = utc("2026-11-27 10:00")

    def __call__(self):
        return self.now


class Committed:
    """The group's committed offsets per (source, partition); nothing committed at first."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = {}

    async def __call__(self, source: str, partition: int) -> int:
        return self.offsets.get((source, partition), 0)


def tracker_on(policy, tables, rec, wall, committed=None) -> SlaTracker:
    return SlaTracker(ClockEngine(policy), tables, rec, wall, committed or Committed(), timedelta(seconds=30),
                      stored=rec.stored)


@pytest.fixture
def setup(policy):
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    rec, wall = Recorder(), Wall()
    return tracker_on(policy, tables, rec, wall), tables, rec, wall


def run(coro):
    return asyncio.run(coro)


async def no_ack() -> None:
    pass


def apply(tracker: SlaTracker, event, partition: int, offset: int, now) -> int:
    """Apply one event, then a tick that fires nothing (every clock holds) writes it."""
    async def both() -> int:
        published = await tracker.on_event(event, partition, offset, now, no_ack)
        await tracker.on_tick(partition, offset, lambda kind: None)
        return published

    return run(both())


def at(now):
    """The same clock for every input kind."""
    return lambda kind: now


def test_breach_on_tick_once(setup) -> None:
    tracker, tables, rec, _ = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 3, 0, utc("2026-11-27 10:00"))
    entry = Entry.load(tables["ticket"][KEY["T1"]])
    assert entry.partition == 3 and entry.state.next_due == utc("2026-11-27 10:07:30")
    assert {s["instance_id"] for s in rec.statuses} == {"ticket:T1:gold:response", "ticket:T1:gold:resolution"}
    assert rec.status_keys == [KEY["T1"]]  # both instances in one record

    assert run(tracker.on_tick(3, 0, at(utc("2026-11-27 10:07")))) == 0
    assert run(tracker.on_tick(2, 0, at(utc("2026-11-27 10:20")))) == 0  # another partition
    assert run(tracker.on_tick(3, 0, at(utc("2026-11-27 10:15:00")))) == 3  # two warnings + breach
    assert [e["type"] for e in rec.events] == ["warning", "warning", "breached"]
    assert run(tracker.on_tick(3, 0, at(utc("2026-11-27 10:16")))) == 0


def test_duplicates_publish_nothing(setup) -> None:
    tracker, tables, rec, _ = setup
    first = ticket("a", "2026-11-27 10:00", "new")
    apply(tracker, first, 0, 0, utc("2026-11-27 10:00"))
    before = (len(rec.statuses), dict(tables["ticket"]))
    assert apply(tracker, first, 0, 0, utc("2026-11-27 10:01")) == 0
    assert (len(rec.statuses), dict(tables["ticket"])) == before


def test_parsed_entries_are_kept_until_a_revoke_then_read_from_the_table_again(setup) -> None:
    """While it owns a partition only the tracker writes its entries, so it keeps them parsed;
    after a revoke the table may hold another owner's writes (a changelog recovery)."""
    tracker, tables, rec, _ = setup
    first = ticket("a", "2026-11-27 10:00", "new")
    apply(tracker, first, 0, 0, utc("2026-11-27 10:00"))
    del tables["ticket"][KEY["T1"]]  # the table changed behind the tracker's back
    assert apply(tracker, first, 0, 0, utc("2026-11-27 10:01")) == 0  # the kept entry: a duplicate
    tracker.forget()
    apply(tracker, first, 0, 0, utc("2026-11-27 10:01"))  # read again: nothing there, so new
    assert KEY["T1"] in tables["ticket"] and rec.status_keys == [KEY["T1"], KEY["T1"]]


def test_only_the_most_recently_used_entries_are_kept(policy) -> None:
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    rec = Recorder()
    tracker = SlaTracker(ClockEngine(policy), tables, rec, Wall(), Committed(), cached=2, stored=rec.stored)
    for n, tid in enumerate(["T1", "T2", "T1", "T3"]):
        apply(tracker, ticket(f"e{n}", "2026-11-27 10:00", "new", tid=tid), 0, n, utc("2026-11-27 10:00"))
    assert list(tracker._cache) == [("ticket", KEY["T1"]), ("ticket", KEY["T3"])]  # T2 was the least recently used


def test_outbox_keeps_only_the_recent_window(setup) -> None:
    tracker, tables, rec, wall = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"))
    wall.now = utc("2026-11-27 10:15")
    run(tracker.on_tick(0, 0, at(utc("2026-11-27 10:15"))))  # 3 events published at wall 10:15
    wall.now = utc("2026-11-27 10:15:20")
    apply(tracker, ticket("b", "2026-11-27 10:15:20", "open", reply=True), 0, 0, utc("2026-11-27 10:15:20"))
    # The reply stops the breached response clock: `missed`; the three of 10:15 are 20 s old.
    outbox = Entry.load(tables["ticket"][KEY["T1"]]).outbox
    assert [orjson.loads(v)["type"] for _, _, v, _ in outbox] == ["warning", "warning", "breached", "missed"]
    wall.now = utc("2026-11-27 10:17")
    apply(tracker, ticket("c", "2026-11-27 10:17", "solved"), 0, 0, utc("2026-11-27 10:17"))
    # Resolution met at 10:17 (17 min of 1 h); everything older than 30 s has aged out.
    outbox = Entry.load(tables["ticket"][KEY["T1"]]).outbox
    assert [orjson.loads(v)["type"] for _, _, v, _ in outbox] == ["met"]


def test_a_new_owner_republishes_what_may_have_been_lost_and_fires_due_deadlines(setup, policy) -> None:
    tracker, tables, rec, wall = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    wall.now = utc("2026-11-27 10:08")
    run(tracker.on_tick(1, 0, at(utc("2026-11-27 10:08"))))  # the 50% warning, then "crash"
    lost = [e["event_id"] for e in rec.events]
    assert len(lost) == 1

    successor_rec = Recorder()
    wall.now = utc("2026-11-27 10:15")
    successor = tracker_on(policy, tables, successor_rec, wall)
    run(successor.on_tick(1, 0, at(utc("2026-11-27 10:15"))))
    ids = [e["event_id"] for e in successor_rec.events]
    assert ids[0] == lost[0]  # the same event again, same id
    assert [e["type"] for e in successor_rec.events[1:]] == ["warning", "breached"]
    run(successor.on_tick(1, 0, at(utc("2026-11-27 10:16"))))
    run(successor.on_tick(2, 0, at(utc("2026-11-27 10:16"))))  # an empty partition's first tick scans again
    run(successor.on_tick(1, 0, at(utc("2026-11-27 10:17"))))
    assert len(successor_rec.events) == 3  # recovery happens once


def test_a_tick_fires_each_kind_by_its_own_inputs_clock(setup) -> None:
    tracker, _, rec, _ = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 3, 0, utc("2026-11-27 10:00"))
    # The incident topic has been read up to 11:00, the ticket topic only to 10:05 (backlog).
    clocks = {"ticket": utc("2026-11-27 10:05"), "incident": utc("2026-11-27 11:00")}
    assert run(tracker.on_tick(3, 0, clocks.__getitem__)) == 0 and rec.events == []
    clocks["ticket"] = utc("2026-11-27 10:15")
    assert run(tracker.on_tick(3, 0, clocks.__getitem__)) == 3


def test_a_workers_own_outputs_are_not_announced_again_at_its_first_tick(setup) -> None:
    tracker, _, rec, wall = setup
    wall.now = utc("2026-11-27 10:00:05")  # events are read before the partition's first tick
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    apply(tracker, ticket("b", "2026-11-27 10:01", "open", reply=True), 1, 0, utc("2026-11-27 10:01"))
    assert [e["type"] for e in rec.events] == ["met"]
    assert run(tracker.on_tick(1, 0, at(utc("2026-11-27 10:01")))) == 0 and len(rec.events) == 1


def test_a_new_owner_republishes_status_rows_of_changes_without_lifecycle_events(setup, policy) -> None:
    tracker, tables, rec, wall = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    wall.now = utc("2026-11-27 10:01")
    apply(tracker, ticket("b", "2026-11-27 10:01", "pending"), 1, 0, utc("2026-11-27 10:01"))  # paused: no event
    assert rec.events == [] and {s["state"] for s in rec.statuses[-2:]} == {"paused"}
    successor_rec = Recorder()
    wall.now = utc("2026-11-27 10:01:05")  # the status rows of 10:01 may not have been stored
    successor = tracker_on(policy, tables, successor_rec, wall)
    run(successor.on_tick(1, 0, at(utc("2026-11-27 10:00:30"))))  # its input partition is still behind
    assert successor_rec.events == [] and successor_rec.statuses == rec.statuses[-2:]  # the very same rows


def test_what_a_chain_of_crashes_lost_is_published_until_its_input_is_committed(policy) -> None:
    """A fact published just before a crash is lost; the next owner publishes it again and
    dies too, after a minute of other work in the partition. However long the chain, every
    new owner publishes it again until the input that caused it is committed."""
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    wall, committed = Wall(), Committed()
    first = Recorder()
    a = tracker_on(policy, tables, first, wall, committed)
    apply(a, ticket("a1", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    wall.now = utc("2026-11-27 10:00:05")
    apply(a, ticket("a2", "2026-11-27 10:00:05", "open", reply=True), 1, 1, utc("2026-11-27 10:00:05"))
    (met,) = first.events  # the response was met; lost in the crash that follows

    wall.now = utc("2026-11-27 10:00:10")
    b = tracker_on(policy, tables, Recorder(), wall, committed)  # publishes it again, then dies before storing it
    for n in range(12):  # a minute of other tickets in the same partition
        wall.now = utc("2026-11-27 10:00:10") + timedelta(seconds=5 * n)
        apply(b, ticket(f"b{n}", "2026-11-27 10:00:10", "new", tid=f"T{n + 2}"), 1, 2 + n, wall.now)

    wall.now = utc("2026-11-27 10:01:20")
    again = Recorder()
    run(tracker_on(policy, tables, again, wall, committed).on_tick(1, 0, at(wall.now)))
    assert met in again.events  # its input (offset 1) is not committed: published again, same id

    committed.offsets[("ticket", 1)] = 14  # everything read so far is committed, so stored
    after = Recorder()
    run(tracker_on(policy, tables, after, wall, committed).on_tick(1, 0, at(wall.now)))
    assert after.events == [] and after.statuses == []


def test_a_new_owner_recovers_before_the_first_event_it_applies(setup, policy) -> None:
    """The first record of a taken-over partition may be an event for the very entity whose
    outputs were lost: they are published again before the event rewrites its entry."""
    tracker, tables, rec, wall = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    apply(tracker, ticket("b", "2026-11-27 10:01", "open", reply=True), 1, 1, utc("2026-11-27 10:01"))
    (met,) = rec.events
    successor_rec = Recorder()
    successor = tracker_on(policy, tables, successor_rec, wall)
    apply(successor, ticket("c", "2026-11-27 10:02", "solved"), 1, 2, utc("2026-11-27 10:02"))
    assert successor_rec.events[0] == met and successor_rec.events[1]["type"] == "met"  # then resolution met


def test_an_event_and_a_tick_for_one_entity_never_overwrite_each_other(policy) -> None:
    """The ingest and tick agents interleave at every await: a tick that read the entry before
    an event's write must not write its older state over it (the chaos suite lost a first
    reply that way: the response SLA was then missed)."""
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}

    class SlowRecorder(Recorder):
        async def __call__(self, events, statuses) -> None:
            await asyncio.sleep(0)  # a send yields to the other agent
            await asyncio.sleep(0)

        async def stored(self) -> None:
            await asyncio.sleep(0)  # so does waiting for the broker

    tracker = tracker_on(policy, tables, SlowRecorder(), Wall())
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 3, 0, utc("2026-11-27 10:00"))

    async def both() -> None:
        reply = ticket("b", "2026-11-27 10:06", "open", reply=True)
        await asyncio.gather(tracker.on_event(reply, 3, 1, utc("2026-11-27 10:06"), no_ack),
                             tracker.on_tick(3, 0, at(utc("2026-11-27 10:07:45"))))

    run(both())
    run(tracker.on_tick(3, 1, lambda kind: None))  # writes the reply if it came after the tick
    state = Entry.load(tables["ticket"][KEY["T1"]]).state
    outcome = {s.instance_id: s.outcome for s in tracker.engine.snapshot(state)}
    assert outcome["ticket:T1:gold:response"] == "met"  # the reply is in the stored state


def test_changes_are_written_once_per_entity_and_acknowledged_at_the_next_tick(setup) -> None:
    """Lifecycle events go out at once; the entry and status record of an entity changed three
    times wait for the tick, which writes each once and then acknowledges every event in order."""
    tracker, tables, rec, _ = setup
    acked: list[int] = []

    def ack(offset: int):
        async def done() -> None:
            assert rec.unstored == 0  # its outputs are stored first
            acked.append(offset)
        return done

    events = [ticket("a", "2026-11-27 10:00", "new"), ticket("b", "2026-11-27 10:01", "open", reply=True),
              ticket("c", "2026-11-27 10:00", "new", tid="T2"), ticket("d", "2026-11-27 10:02", "pending")]
    for offset, event in enumerate(events):
        run(tracker.on_event(event, 0, offset, event.occurred_at, ack(offset)))
    assert [e["type"] for e in rec.events] == ["met"]  # the response, at once
    assert tables["ticket"] == {} and rec.status_keys == [] and acked == []

    assert run(tracker.on_tick(0, 4, at(utc("2026-11-27 10:02")))) == 0
    assert sorted(rec.status_keys) == [KEY["T1"], KEY["T2"]] and acked == [0, 1, 2, 3]
    assert Entry.load(tables["ticket"][KEY["T1"]]).state.events[-1].at == utc("2026-11-27 10:02")
    assert {s["state"] for s in rec.statuses if s["entity_id"] == "T1"} == {"paused", "stopped"}


def test_events_whose_outputs_the_broker_did_not_store_stay_unacknowledged(setup) -> None:
    """The tick fails (the worker stops and resumes from the committed offsets) and acknowledges nothing."""
    tracker, tables, rec, _ = setup
    acked: list[int] = []

    async def ack() -> None:
        acked.append(0)

    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack))
    rec.lost = True
    with pytest.raises(RuntimeError, match="not stored"):
        run(tracker.on_tick(0, 1, at(utc("2026-11-27 10:00"))))
    assert rec.status_keys == [KEY["T1"]] and acked == []


def test_a_revoke_drops_staged_changes_unacknowledged(setup) -> None:
    """The next owner reads those events again; nothing of them may be written or acknowledged here."""
    tracker, tables, rec, _ = setup
    acked: list[int] = []

    async def ack() -> None:
        acked.append(0)

    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack))
    tracker.forget()
    run(tracker.on_tick(0, 1, at(utc("2026-11-27 10:00"))))
    assert tables["ticket"] == {} and rec.status_keys == [] and acked == []


def test_two_customers_ticket_ids_are_two_entities(setup) -> None:
    tracker, tables, rec, _ = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"))
    apply(tracker, ticket("b", "2026-11-27 10:01", "new", customer="initech"), 0, 1, utc("2026-11-27 10:01"))
    acme, initech = (Entry.load(tables["ticket"][entity_key("ticket", c, "T1")]) for c in ("acme", "initech"))
    assert [e.event_id for e in acme.state.events] == ["a"] and [e.event_id for e in initech.state.events] == ["b"]
    assert rec.status_keys == [KEY["T1"], entity_key("ticket", "initech", "T1")]
    assert {s["customer"] for s in rec.statuses if s["contract_id"] == "gold"} == {"acme"}


def test_an_entry_keyed_by_the_bare_id_moves_to_its_customers_key(setup) -> None:
    """State written before ids were scoped by customer: its customer's next event takes it
    over (history kept); another customer's event does not touch it."""
    tracker, tables, rec, _ = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"))
    tables["ticket"][b"T1"] = tables["ticket"].pop(KEY["T1"])  # as an older version wrote it
    tracker.forget()
    apply(tracker, ticket("b", "2026-11-27 10:01", "new", customer="initech"), 0, 1, utc("2026-11-27 10:01"))
    assert b"T1" in tables["ticket"]
    apply(tracker, ticket("c", "2026-11-27 10:02", "open", reply=True), 0, 2, utc("2026-11-27 10:02"))
    assert b"T1" not in tables["ticket"]
    assert [e.event_id for e in Entry.load(tables["ticket"][KEY["T1"]]).state.events] == ["a", "c"]
    assert [e["type"] for e in rec.events if e["instance_id"] == "ticket:T1:gold:response"] == ["met"]


@pytest.mark.parametrize("clock", ["2026-11-27 09:55", "2026-11-27 10:01", "2026-11-27 10:05"])
def test_a_status_row_is_a_function_of_the_input_not_of_the_partition_clock(policy, clock) -> None:
    """Two runs of one input write the same rows whatever the clock was when they were written
    (a backlog's clock runs behind the events it applies); as_of is never before started_at."""
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    rec = Recorder()
    tracker = tracker_on(policy, tables, rec, Wall())
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc(clock))
    apply(tracker, ticket("b", "2026-11-27 10:02", "open"), 0, 1, utc(clock))
    rows = {(s["instance_id"], s["version"]): s for s in rec.statuses}
    assert {(i, v, s["as_of"], s["elapsed_s"]) for (i, v), s in rows.items()} == {
        ("ticket:T1:gold:response", 1, "2026-11-27T10:00:00Z", 0.0),
        ("ticket:T1:gold:resolution", 1, "2026-11-27T10:00:00Z", 0.0),
        ("ticket:T1:gold:response", 2, "2026-11-27T10:02:00Z", 120.0),
        ("ticket:T1:gold:resolution", 2, "2026-11-27T10:02:00Z", 120.0),
    }
