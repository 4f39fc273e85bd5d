"""The event feed's acknowledgements, without Kafka: which offset a commit may name while
records wait for their tick. The worker's router and SLA tracker over dict tables."""

from __future__ import annotations

import asyncio

import orjson

from schemas.deadletter import Reason
from streams.verdict import Consumed
from streams.worker.event_feed import Pending
from tests.unit.streams.worker.test_router import KEY, T0, World


def ticket(event_id: str, ticket_id: str = "T1") -> bytes:
    return orjson.dumps({"event_id": event_id, "occurred_at": "2026-11-27T09:59:00Z", "source": "desk",
                         "customer": "acme", "service": "checkout", "ticket_id": ticket_id, "priority": "P1",
                         "status": "new"})


def route(world: World, held: Pending, offset: int, value: bytes, key: bytes = b"T1") -> None:
    record = Consumed("sla.tickets", 0, offset, key, value, T0)
    held.next_read = offset + 1
    asyncio.run(world.router.route("ticket", record, offset + 1, held.track(offset)))


def test_a_commit_waits_for_the_tick_that_writes_an_applied_event_not_for_a_refused_one_after_it() -> None:
    world, held = World(), Pending(40)
    route(world, held, 40, ticket("e1"))
    route(world, held, 41, b"not json")
    route(world, held, 42, ticket("e2", "T2"), b"T2")
    assert [(offset, reason) for _, offset, reason, _ in world.letters] == [(41, Reason.malformed_json)]
    assert held.done_before() == 40  # offset 40 is applied, its entry not written yet
    asyncio.run(world.tracker.on_tick(0, lambda kind: T0))
    assert set(world.tracker.tables["ticket"]) == {KEY["T1"], KEY["T2"]}
    assert held.done_before() == 43 and held.first() is None


def test_refused_records_alone_are_done_at_once_and_nothing_read_commits_nothing() -> None:
    world, held = World(), Pending(None)
    assert held.done_before() is None
    route(world, held, 7, b"[]")
    route(world, held, 8, ticket("e1", "T3"), b"T1")  # keyed by another ticket: refused
    assert [reason for _, _, reason, _ in world.letters] == [Reason.invalid, Reason.wrong_key]
    assert held.done_before() == 9
