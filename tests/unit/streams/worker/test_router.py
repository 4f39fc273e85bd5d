"""The worker's routing of input records, without Faust: real trackers over plain dicts,
an injected wall clock, and lists for what is dead-lettered and acknowledged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson
import pytest

from schemas.deadletter import Reason
from schemas.policy import parse_policy
from schemas.outputs import entity_key
from streams.engine.clocks import ClockEngine
from streams.validate import Limits
from streams.verdict import Consumed
from streams.worker.partition_clock import PartitionClock
from streams.worker.router import Router
from streams.worker.tracking import SlaTracker
from tests.unit.streams.conftest import utc

POLICY = parse_policy("""
contracts:
  - id: gold
    customer: acme
    services: [checkout]
    tickets:
      targets:
        P1: {response: 15m, resolution: 1h}
""")
T0 = utc("2026-11-27 10:00")
TOPICS = {"ticket": "sla.tickets"}

# acme's tickets: their keys in state and on the instances topic
KEY = {t: entity_key("ticket", "acme", t) for t in ("T1", "T2", "T3")}


class _Broken:
    """An engine whose every `apply` fails, as a bug in it would (a compiled engine's methods
    cannot be replaced, so this stands in front of one)."""

    def __init__(self, engine: ClockEngine) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def apply(self, *args: object) -> None:
        raise RuntimeError("engine broke")


class World:
    """A router with the SLA tracker on dict tables; records are numbered per topic."""

    def __init__(self, fail_sla: bool = False, lateness: timedelta = timedelta(0)) -> None:
        self.wall = T0
        self.letters: list[tuple[str, int, Reason, str]] = []
        self.acked: list[tuple[str, int]] = []
        self.published: list[bytes] = []  # keys of every record published
        self.lifecycle: list[tuple[str, str]] = []  # (instance, type) on the breach topic
        self.offsets = {kind: 0 for kind in TOPICS}

        async def publish(*groups) -> None:
            self.published += [k for group in groups for k, _ in group]
            if len(groups) == 2:  # the SLA tracker's (lifecycle events, statuses)
                self.lifecycle += [(e["instance_id"], e["type"]) for e in map(orjson.loads, (v for _, v in groups[0]))]

        async def stored() -> None:
            pass  # every record published counts as stored at once here

        async def reject(record: Consumed, reason: Reason, detail: str) -> None:
            self.letters.append((record.topic, record.offset, reason, detail))

        engine = ClockEngine(POLICY) if not fail_sla else _Broken(ClockEngine(POLICY))
        self.tracker = SlaTracker(engine, {"ticket": {}, "incident": {}}, publish, lambda: self.wall, stored=stored)
        self.clock = PartitionClock(lambda: self.wall, lateness=lateness)
        self.router = Router(Limits(), self.clock, reject, self.tracker)

    def send(self, kind: str, value: dict | bytes, key: bytes, highwater: int | None = None) -> int:
        offset = self.offsets[kind]
        self.offsets[kind] += 1
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        record = Consumed(TOPICS[kind], 0, offset, key, data, self.wall)

        async def ack() -> None:
            self.acked.append((kind, offset))

        asyncio.run(self.router.route(kind, record, offset + 1 if highwater is None else highwater, ack))
        return offset


def ticket(at: datetime, status: str = "new", eid: str = "t1", tid: str = "T1") -> dict:
    return {"event_id": eid, "occurred_at": at.isoformat(), "source": "desk", "ticket_id": tid,
            "customer": "acme", "service": "checkout", "priority": "P1", "status": status}


def test_a_refused_record_is_dead_lettered_with_its_reason_and_acknowledged() -> None:
    w = World()
    w.send("ticket", b"{not json", b"T1")
    w.send("ticket", {**ticket(T0), "priority": 1}, b"T1")  # a number where a string belongs
    assert [(offset, reason) for _, offset, reason, _ in w.letters] == [(0, Reason.malformed_json), (1, Reason.invalid)]
    assert w.acked == [("ticket", 0), ("ticket", 1)] and w.published == []


def test_a_ticket_drives_the_sla_tracker_and_is_acknowledged_once_the_next_tick_wrote_it() -> None:
    w = World()
    w.send("ticket", ticket(T0), b"T1")
    assert w.published == [] and w.acked == [] and w.letters == []  # staged until the tick
    asyncio.run(w.tracker.on_tick(0, lambda kind: T0))
    assert w.published == [KEY["T1"]] and w.acked == [("ticket", 0)] and KEY["T1"] in w.tracker.tables["ticket"]


def test_a_failure_inside_the_sla_tracker_dead_letters_the_record_and_the_worker_goes_on() -> None:
    w = World(fail_sla=True)
    w.send("ticket", ticket(T0), b"T1")
    (letter,) = w.letters
    assert letter[2] == Reason.processing_error and "engine broke" in letter[3]
    assert w.acked == [("ticket", 0)]


@pytest.mark.parametrize("key", [b"T2", None])
def test_a_ticket_keyed_by_another_id_is_refused(key: bytes | None) -> None:
    w = World()
    w.send("ticket", ticket(T0), key)
    assert [reason for _, _, reason, _ in w.letters] == [Reason.wrong_key] and w.published == []


@pytest.mark.parametrize("lateness, false_breach", [(timedelta(0), True), (timedelta(minutes=30), False)])
def test_a_backlog_out_of_event_time_order_fires_nothing_a_later_record_disproves(
        lateness: timedelta, false_breach: bool) -> None:
    """A restarted worker's backlog: T3 opened at 10:00, T9 and T8 at 10:20, then T3 set pending
    at 10:01 (sent entity by entity). A tick after the third record must not breach T3's
    15-minute response: the pending record, still unread, pauses it before."""
    w = World(lateness=lateness)
    w.wall = T0 + timedelta(hours=2)  # long after: only the partition's watermark holds the clock
    w.send("ticket", ticket(T0, eid="a", tid="T3"), b"T3", highwater=4)
    w.send("ticket", ticket(T0 + timedelta(minutes=20), eid="b", tid="T9"), b"T9", highwater=4)
    w.send("ticket", ticket(T0 + timedelta(minutes=20), eid="d", tid="T8"), b"T8", highwater=4)
    asyncio.run(w.tracker.on_tick(0, lambda kind: w.clock.now(kind, 0)))
    w.send("ticket", ticket(T0 + timedelta(minutes=1), "pending", eid="c", tid="T3"), b"T3", highwater=4)
    asyncio.run(w.tracker.on_tick(0, lambda kind: w.clock.now(kind, 0)))
    t3 = [(i, t) for i, t in w.lifecycle if i == "ticket:T3:gold:response"]
    assert t3 == ([("ticket:T3:gold:response", "breached"), ("ticket:T3:gold:response", "correction")]
                  if false_breach else [])
