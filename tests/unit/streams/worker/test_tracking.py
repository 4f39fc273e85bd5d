"""SlaTracker with plain dicts as tables: ticks, duplicates, crashes and takeovers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from schemas.outputs import entity_key
from streams.engine.clocks import ClockEngine
from streams.engine.instants import micros
from streams.settings import Settings
from streams.worker.published_ids import PublishedIds, event_id_of
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


def tracker_on(policy, tables, rec, wall) -> SlaTracker:
    return SlaTracker(ClockEngine(policy), tables, rec, wall, stored=rec.stored)


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
        await tracker.on_tick(partition, lambda kind: None)
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

    assert run(tracker.on_tick(3, at(utc("2026-11-27 10:07")))) == 0
    assert run(tracker.on_tick(2, at(utc("2026-11-27 10:20")))) == 0  # another partition
    assert run(tracker.on_tick(3, at(utc("2026-11-27 10:15:00")))) == 3  # two warnings + breach
    assert [e["type"] for e in rec.events] == ["warning", "warning", "breached"]
    assert run(tracker.on_tick(3, at(utc("2026-11-27 10:16")))) == 0


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
    tracker = SlaTracker(ClockEngine(policy), tables, rec, Wall(), cached=2, stored=rec.stored)
    for n, tid in enumerate(["T1", "T2", "T1", "T3"]):
        apply(tracker, ticket(f"e{n}", "2026-11-27 10:00", "new", tid=tid), 0, n, utc("2026-11-27 10:00"))
    assert list(tracker._cache) == [("ticket", KEY["T1"]), ("ticket", KEY["T3"])]  # T2 was the least recently used


def test_a_tick_fires_each_kind_by_its_own_inputs_clock(setup) -> None:
    tracker, _, rec, _ = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 3, 0, utc("2026-11-27 10:00"))
    # The incident topic has been read up to 11:00, the ticket topic only to 10:05 (backlog).
    clocks = {"ticket": utc("2026-11-27 10:05"), "incident": utc("2026-11-27 11:00")}
    assert run(tracker.on_tick(3, clocks.__getitem__)) == 0 and rec.events == []
    clocks["ticket"] = utc("2026-11-27 10:15")
    assert run(tracker.on_tick(3, clocks.__getitem__)) == 3


def test_a_workers_own_outputs_are_not_announced_again_at_its_first_tick(setup) -> None:
    tracker, _, rec, wall = setup
    wall.now = utc("2026-11-27 10:00:05")  # events are read before the partition's first tick
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    apply(tracker, ticket("b", "2026-11-27 10:01", "open", reply=True), 1, 0, utc("2026-11-27 10:01"))
    assert [e["type"] for e in rec.events] == ["met"]
    assert run(tracker.on_tick(1, at(utc("2026-11-27 10:01")))) == 0 and len(rec.events) == 1


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
                             tracker.on_tick(3, at(utc("2026-11-27 10:07:45"))))

    run(both())
    run(tracker.on_tick(3, lambda kind: None))  # writes the reply if it came after the tick
    state = Entry.load(tables["ticket"][KEY["T1"]]).state
    outcome = {s.instance_id: s.outcome for s in tracker.engine.snapshot(state)}
    assert outcome["ticket:T1:gold:response"] == "met"  # the reply is in the stored state


def test_changes_are_written_once_per_entity_and_acknowledged_at_the_next_tick(setup) -> None:
    """The lifecycle events, entry and status record of an entity changed three times wait for
    the tick, which publishes them, writes each entry once and then acknowledges every event in order."""
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
    assert rec.events == [] and tables["ticket"] == {} and rec.status_keys == [] and acked == []

    assert run(tracker.on_tick(0, at(utc("2026-11-27 10:02")))) == 0
    assert [e["type"] for e in rec.events] == ["met"]  # the response
    assert sorted(rec.status_keys) == [KEY["T1"], KEY["T2"]] and acked == [0, 1, 2, 3]
    assert Entry.load(tables["ticket"][KEY["T1"]]).state.events[-1].at == micros(utc("2026-11-27 10:02"))
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
        run(tracker.on_tick(0, at(utc("2026-11-27 10:00"))))
    assert rec.status_keys == [KEY["T1"]] and acked == []


def test_a_revoke_drops_staged_changes_unacknowledged(setup) -> None:
    """The next owner reads those events again; nothing of them may be written or acknowledged here."""
    tracker, tables, rec, _ = setup
    acked: list[int] = []

    async def ack() -> None:
        acked.append(0)

    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack))
    tracker.forget()
    run(tracker.on_tick(0, at(utc("2026-11-27 10:00"))))
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


def test_an_entry_is_written_only_once_its_outputs_are_stored(policy) -> None:
    """Outputs, stored, entry, acknowledgement: state in the table always means its outputs
    are on their topics, so a new owner has nothing to publish again. The entry's own wait
    is the event feed's, before it commits what was acknowledged (test_event_feed.py)."""
    order: list[str] = []

    class Logged(dict):
        def __setitem__(self, key, value) -> None:
            order.append("entry")
            super().__setitem__(key, value)

    class Rec(Recorder):
        async def __call__(self, events, statuses) -> None:
            order.append("events" if events else "statuses")
            await super().__call__(events, statuses)

        async def stored(self) -> None:
            order.append("stored")

    async def ack() -> None:
        order.append("ack")

    tables = {"ticket": Logged(), "incident": Logged()}
    tracker = tracker_on(policy, tables, Rec(), Wall())
    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack))
    run(tracker.on_event(ticket("b", "2026-11-27 10:01", "open", reply=True), 0, 1, utc("2026-11-27 10:01"), ack))
    run(tracker.on_tick(0, lambda kind: None))
    assert order == ["events", "stored", "entry", "ack", "ack"]  # events and statuses in one publish


def test_a_tick_that_does_not_wait_publishes_at_once_and_writes_once_the_broker_has_stored(policy) -> None:
    """The worker's tick agent: while one partition's outputs wait for the broker, other
    partitions tick; the entry and acknowledgement still come only after the outputs are
    stored, and the partition's next flush waits for its last."""
    order: list[str] = []
    broker = asyncio.Event()

    class Rec(Recorder):
        async def stored(self) -> None:
            order.append("waiting")
            await broker.wait()
            order.append("stored")

    async def ack() -> None:
        order.append("ack")

    async def scenario() -> None:
        tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
        rec = Rec()
        tracker = tracker_on(policy, tables, rec, Wall())
        await tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack)
        await tracker.on_event(ticket("b", "2026-11-27 10:00", "new", tid="T2"), 1, 0, utc("2026-11-27 10:00"), ack)
        await tracker.on_tick(0, lambda kind: None, wait=False)
        assert rec.status_keys == [KEY["T1"]] and not tables["ticket"] and order == []  # published, not written
        await tracker.on_tick(1, lambda kind: None, wait=False)  # not held by partition 0's wait
        assert rec.status_keys == [KEY["T1"], KEY["T2"]] and not tables["ticket"]
        await asyncio.sleep(0)
        assert order == ["waiting", "waiting"]
        broker.set()
        for partition in (0, 1):  # each partition's next flush waits for its last first
            await tracker.on_tick(partition, lambda kind: None, wait=False)
        assert set(tables["ticket"]) == {KEY["T1"], KEY["T2"]}
        assert order == ["waiting", "waiting", "stored", "ack", "stored", "ack"]

    run(scenario())


def test_a_revoke_right_after_a_tick_that_does_not_wait_stops_its_write(setup) -> None:
    """The partitions may go before the write's task has even started: it writes nothing and
    acknowledges nothing (the new owner applies the events again)."""
    tracker, tables, rec, _ = setup
    acked: list[int] = []

    async def ack() -> None:
        acked.append(1)

    async def scenario() -> None:
        await tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack)
        await tracker.on_tick(0, lambda kind: None, wait=False)
        tracker.forget()  # before the task's first step
        await tracker.on_tick(0, lambda kind: None, wait=False)  # waits for that task; raises its failure
        assert rec.status_keys == [KEY["T1"]] and not tables["ticket"] and not acked

    run(scenario())


def test_a_write_that_failed_while_waiting_on_its_own_is_raised_by_the_next_tick(setup) -> None:
    tracker, tables, rec, _ = setup

    async def scenario() -> None:
        await tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), no_ack)
        rec.lost = True
        await tracker.on_tick(0, lambda kind: None, wait=False)  # returns: the wait is its own
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="not stored"):
            await tracker.on_tick(1, lambda kind: None, wait=False)
        assert not tables["ticket"]  # nothing written: the events are read and applied again

    run(scenario())


def test_a_crash_before_the_outputs_are_stored_leaves_the_old_entry_and_the_same_ids_come_again(setup, policy) -> None:
    tracker, tables, rec, wall = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    written = dict(tables["ticket"])
    wall.now = utc("2026-11-27 10:08")
    rec.lost = True  # the broker never stores the warning: the tick fails, nothing is written
    with pytest.raises(RuntimeError, match="not stored"):
        run(tracker.on_tick(1, at(utc("2026-11-27 10:08"))))
    assert tables["ticket"] == written
    (lost,) = rec.events

    successor_rec = Recorder()
    wall.now = utc("2026-11-27 10:15")
    successor = tracker_on(policy, tables, successor_rec, wall)
    run(successor.on_tick(1, at(utc("2026-11-27 10:15"))))
    assert successor_rec.events[0] == lost  # the same event again, same id
    assert [e["type"] for e in successor_rec.events[1:]] == ["warning", "breached"]
    run(successor.on_tick(2, at(utc("2026-11-27 10:16"))))  # an empty partition's first tick scans again
    run(successor.on_tick(1, at(utc("2026-11-27 10:17"))))
    assert len(successor_rec.events) == 3  # nothing fires twice


def test_a_kill_after_the_outputs_are_stored_sends_none_of_them_again_once_the_topics_ids_are_read(setup, policy) -> None:
    """Killed after the broker stored a tick's warning, before the entry was written: the next
    owner derives the warning again (same id) and, with the breach topic's ids read at its
    takeover (`PublishedIds`, as the worker's publish does), leaves it out; what comes later
    is sent as an uninterrupted owner sends it."""
    tracker, tables, rec, wall = setup
    on_topic: list[bytes] = []

    class Killed(Exception):
        pass

    async def stored_then_killed() -> None:
        raise Killed  # the broker has the records; the process dies before it writes the entry

    async def send(events, statuses) -> None:
        on_topic.extend(v for _, v in events)
        await rec(events, statuses)

    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    first = SlaTracker(ClockEngine(policy), tables, send, wall, stored=stored_then_killed)
    written = dict(tables["ticket"])
    with pytest.raises(Killed):
        run(first.on_tick(1, at(utc("2026-11-27 10:08"))))
    assert tables["ticket"] == written and [orjson.loads(v)["type"] for v in on_topic] == ["warning"]

    published = PublishedIds(Settings(), read=lambda since_ms: frozenset(filter(None, map(event_id_of, on_topic))))
    successor_rec = Recorder()

    async def deduped(events, statuses) -> None:
        await successor_rec(published.fresh(events), statuses)

    successor = SlaTracker(ClockEngine(policy), tables, deduped, wall, stored=successor_rec.stored)
    run(published.ready())
    run(successor.on_tick(1, at(utc("2026-11-27 10:08"))))
    assert successor_rec.events == []  # the warning is on the topic already
    run(successor.on_tick(1, at(utc("2026-11-27 10:15"))))
    uninterrupted = Recorder()
    alone = tracker_on(policy, {"ticket": {}, "incident": {}}, uninterrupted, wall)
    apply(alone, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    run(alone.on_tick(1, at(utc("2026-11-27 10:08"))))
    run(alone.on_tick(1, at(utc("2026-11-27 10:15"))))
    assert [orjson.loads(v) for v in on_topic] + successor_rec.events == uninterrupted.events


def test_a_change_whose_status_rows_were_not_stored_is_applied_again_by_the_next_owner(setup, policy) -> None:
    tracker, tables, rec, wall = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    rec.lost = True
    paused = ticket("b", "2026-11-27 10:01", "pending")  # paused: status rows, no lifecycle event
    with pytest.raises(RuntimeError, match="not stored"):
        apply(tracker, paused, 1, 1, utc("2026-11-27 10:01"))
    successor_rec = Recorder()
    successor = tracker_on(policy, tables, successor_rec, wall)
    apply(successor, paused, 1, 1, utc("2026-11-27 10:01"))  # not acknowledged: read again
    assert successor_rec.events == [] and successor_rec.statuses == rec.statuses[-2:]  # the very same rows



def test_partitions_revoked_while_the_broker_stores_are_not_written_by_the_old_owner(policy) -> None:
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    acked: list[int] = []

    class Revoking(Recorder):
        async def stored(self) -> None:
            tracker.forget()  # a rebalance while the tick waits for the broker

    async def ack() -> None:
        acked.append(0)

    tracker = tracker_on(policy, tables, Revoking(), Wall())
    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack))
    run(tracker.on_tick(0, lambda kind: None))
    assert tables["ticket"] == {} and acked == []  # the new owner applies the event again


def test_only_a_tick_writes_changes_however_old_they_are(setup) -> None:
    """Tables can be written only inside Faust's stream iteration, and events come from the
    event feed beside it: an event never writes, a tick writes everything staged."""
    tracker, tables, rec, wall = setup
    acked: list[int] = []

    async def ack() -> None:
        acked.append(0)

    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 0, 0, utc("2026-11-27 10:00"), ack))
    wall.now += timedelta(minutes=5)
    run(tracker.on_event(ticket("b", "2026-11-27 10:00", "new", tid="T2"), 0, 1, utc("2026-11-27 10:00"), ack))
    assert tables["ticket"] == {} and acked == []
    run(tracker.on_tick(0, lambda kind: utc("2026-11-27 10:00")))
    assert set(tables["ticket"]) == {KEY["T1"], KEY["T2"]} and acked == [0, 0]


def test_a_tick_writes_no_entry_for_changes_by_time_alone_and_a_new_owner_publishes_nothing_twice(policy) -> None:
    """T1 (P1, new at 10:00): response warnings 10:07:30 and 10:11:15, breach 10:15; resolution
    warning 10:30. Ticks at 10:08 and 10:12 publish the two warnings: T1's entry stays as its
    event wrote it, the partition's fired-through time (10:12) is written instead. A new owner
    reading those tables publishes at 10:16 exactly what the first owner publishes (the breach,
    version 3, same id), and at 10:31 the resolution's warning; never the warnings again."""
    def owner_of(tables):
        rec = Recorder()
        return tracker_on(policy, tables, rec, Wall()), rec

    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    first, first_rec = owner_of(tables)
    apply(first, ticket("a", "2026-11-27 10:00", "new"), 2, 0, utc("2026-11-27 10:00"))
    written = tables["ticket"][KEY["T1"]]
    for minute in ("10:08", "10:12"):
        assert run(first.on_tick(2, at(utc(f"2026-11-27 {minute}")))) == 1
    assert tables["ticket"][KEY["T1"]] == written  # not written again
    assert orjson.loads(tables["ticket"][b'["fired",2]']) == micros(utc("2026-11-27 10:12"))

    copy = {kind: dict(table) for kind, table in tables.items()}  # what a crash leaves
    successor, successor_rec = owner_of(copy)
    for tracker in (first, successor):
        run(tracker.on_tick(2, at(utc("2026-11-27 10:16"))))
        run(tracker.on_tick(2, at(utc("2026-11-27 10:31"))))
    assert [(e["type"], e["version"]) for e in successor_rec.events] == [("breached", 3), ("warning", 1)]
    assert successor_rec.events == first_rec.events[2:]


def test_a_tick_fires_at_most_its_share_earliest_first_and_a_new_owner_misses_none_of_the_rest(policy) -> None:
    """T1, T2, T3 (P1) new at 10:00, 10:01, 10:02: first response warnings due 10:07:30, 10:08:30,
    10:09:30. With two entities a tick, the tick at 10:10 fires T1's and T2's; the partition's
    fired-through time is then just before T3's (10:09:29.999999), not 10:10, so a new owner of the
    tables that tick left still publishes T3's warning (with 10:10 it would take it for
    published). The next tick fires T3's; from then on both owners publish the same."""
    def owner_of(tables):
        rec = Recorder()
        return SlaTracker(ClockEngine(policy), tables, rec, Wall(), stored=rec.stored, fire_at_most=2), rec

    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    first, first_rec = owner_of(tables)
    for n, tid in enumerate(("T1", "T2", "T3")):
        apply(first, ticket(f"e{n}", f"2026-11-27 10:0{n}", "new", tid=tid), 2, n, utc(f"2026-11-27 10:0{n}"))
    assert run(first.on_tick(2, at(utc("2026-11-27 10:10")))) == 2
    assert [(e["entity_id"], e["at"]) for e in first_rec.events] == [
        ("T1", "2026-11-27T10:07:30Z"), ("T2", "2026-11-27T10:08:30Z")]
    assert orjson.loads(tables["ticket"][b'["fired",2]']) == micros(utc("2026-11-27 10:09:30")) - 1
    assert first.behind(2) and not first.behind(1)  # the worker sends partition 2 its next tick at once

    copy = {kind: dict(table) for kind, table in tables.items()}  # what a crash leaves
    successor, successor_rec = owner_of(copy)
    for tracker in (first, successor):  # the successor's first tick takes T1's and T2's entries up first
        run(tracker.on_tick(2, at(utc("2026-11-27 10:10"))))
        run(tracker.on_tick(2, at(utc("2026-11-27 10:10"))))
    assert [(e["entity_id"], e["at"]) for e in first_rec.events[2:]] == [("T3", "2026-11-27T10:09:30Z")]
    assert not first.behind(2)
    assert successor_rec.events == first_rec.events[2:]
    for tracker in (first, successor):
        run(tracker.on_tick(2, at(utc("2026-11-27 10:20"))))
    assert successor_rec.events[1:] == first_rec.events[3:] and len(first_rec.events) > 3


def test_an_event_after_changes_by_time_writes_them_and_a_later_entry_is_not_taken_back(setup, policy) -> None:
    """The warning of 10:07:30 is published by a tick alone; the reply at 10:09 (met, version 2)
    writes T1's entry with both. A new owner's fired-through time (10:08) is before that entry's
    latest change: it takes the entry as it is (advancing it to 10:08 would retract the met)."""
    tracker, tables, rec, _ = setup
    apply(tracker, ticket("a", "2026-11-27 10:00", "new"), 1, 0, utc("2026-11-27 10:00"))
    run(tracker.on_tick(1, at(utc("2026-11-27 10:08"))))
    reply = ticket("b", "2026-11-27 10:09", "open", reply=True)
    apply(tracker, reply, 1, 1, utc("2026-11-27 10:09"))
    assert [(e["type"], e["version"]) for e in rec.events] == [("warning", 1), ("met", 2)]
    entry = Entry.load(tables["ticket"][KEY["T1"]])
    assert entry.state.ledgers["ticket:T1:gold:response"].version == 2

    successor_rec = Recorder()
    successor = tracker_on(policy, tables, successor_rec, Wall())
    apply(successor, reply, 1, 1, utc("2026-11-27 10:10"))  # read again (say, not yet committed)
    apply(successor, ticket("c", "2026-11-27 10:11", "pending"), 1, 2, utc("2026-11-27 10:11"))
    run(successor.on_tick(1, at(utc("2026-11-27 10:12"))))
    assert successor_rec.events == []


def test_a_new_owner_whose_clock_holds_behind_the_fired_through_time_takes_nothing_back(policy) -> None:
    """The first owner's ticks published T1's warnings (10:07:30, 10:11:15; fired through
    10:12). A new owner with a backlog holds its clock behind, at 10:09: its tick there and T1's
    next event (10:10, no change to the clock) publish nothing (not due yet, the warnings would
    have been retracted as corrections and published again with new ids); at 10:16 the breach
    comes as version 3, as from the first owner."""
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    first = tracker_on(policy, tables, Recorder(), Wall())
    apply(first, ticket("a", "2026-11-27 10:00", "new"), 2, 0, utc("2026-11-27 10:00"))
    for minute in ("10:08", "10:12"):
        run(first.on_tick(2, at(utc(f"2026-11-27 {minute}"))))

    rec = Recorder()
    successor = tracker_on(policy, tables, rec, Wall())
    run(successor.on_tick(2, at(utc("2026-11-27 10:09"))))
    run(successor.on_event(ticket("b", "2026-11-27 10:10", "open"), 2, 1, utc("2026-11-27 10:09"), no_ack))
    run(successor.on_tick(2, at(utc("2026-11-27 10:09"))))
    assert rec.events == []
    run(successor.on_tick(2, at(utc("2026-11-27 10:16"))))
    assert [(e["type"], e["version"]) for e in rec.events] == [("breached", 3)]


def test_a_new_owner_whose_clock_holds_behind_facts_published_at_an_event_takes_nothing_back(policy) -> None:
    """The first owner applies T1's update of 10:16 at 10:16: the warnings (10:07:30, 10:11:15)
    and the breach (10:15) are published with it, by the event, not a tick. A new owner with a
    backlog holds its clock at 10:10 and applies T1's next update (10:17): nothing is taken back
    (before, the warning of 10:11:15 and the breach lay ahead of 10:10: two corrections)."""
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    rec = Recorder()
    first = tracker_on(policy, tables, rec, Wall())
    apply(first, ticket("a", "2026-11-27 10:00", "new"), 2, 0, utc("2026-11-27 10:00"))
    apply(first, ticket("b", "2026-11-27 10:16", "open"), 2, 1, utc("2026-11-27 10:16"))
    assert [e["type"] for e in rec.events] == ["warning", "warning", "breached"]

    successor_rec = Recorder()
    successor = tracker_on(policy, tables, successor_rec, Wall())
    apply(successor, ticket("c", "2026-11-27 10:17", "pending"), 2, 2, utc("2026-11-27 10:10"))
    assert successor_rec.events == []
