"""SlaTracker with plain dicts as tables: ordering of effects, ticks, duplicates, re-indexing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.clocks import ClockEngine
from streams.tracking import SlaTracker, load_entry
from tests.unit.streams.conftest import ticket, utc


class Recorder:
    def __init__(self, tables: dict) -> None:
        self.events: list[Any] = []
        self.statuses: list[Any] = []
        self.tables = tables
        self.table_at_publish: list[bytes | None] = []

    async def __call__(self, events, statuses) -> None:
        self.table_at_publish.append(self.tables["ticket"].get(b"T1"))
        self.events += events
        self.statuses += statuses


@pytest.fixture
def setup(policy):
    tables: dict[str, dict[bytes, bytes]] = {"ticket": {}, "incident": {}}
    recorder = Recorder(tables)
    return SlaTracker(ClockEngine(policy), tables, recorder), tables, recorder


def run(coro):
    return asyncio.run(coro)


def test_breach_on_tick_once_and_state_written_after_publishing(setup) -> None:
    tracker, tables, rec = setup
    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 3, utc("2026-11-27 10:00")))
    partition, state = load_entry(tables["ticket"][b"T1"])
    assert partition == 3 and state.next_due == utc("2026-11-27 10:07:30")
    assert rec.table_at_publish == [None]  # published before the state was stored
    assert {s.instance_id for s in rec.statuses} == {"ticket:T1:gold:response", "ticket:T1:gold:resolution"}

    assert run(tracker.on_tick(3, utc("2026-11-27 10:07"))) == 0
    assert run(tracker.on_tick(2, utc("2026-11-27 10:20"))) == 0  # other partition
    assert run(tracker.on_tick(3, utc("2026-11-27 10:15:00"))) == 3  # two warnings + breach
    assert [e.type.value for e in rec.events] == ["warning", "warning", "breached"]
    assert run(tracker.on_tick(3, utc("2026-11-27 10:16"))) == 0


def test_duplicates_publish_nothing(setup) -> None:
    tracker, tables, rec = setup
    first = ticket("a", "2026-11-27 10:00", "new")
    run(tracker.on_event(first, 0, utc("2026-11-27 10:00")))
    before = (len(rec.statuses), dict(tables["ticket"]))
    assert run(tracker.on_event(first, 0, utc("2026-11-27 10:01"))) == 0
    assert (len(rec.statuses), dict(tables["ticket"])) == before


def test_due_index_is_rebuilt_from_the_tables(setup, policy) -> None:
    tracker, tables, rec = setup
    run(tracker.on_event(ticket("a", "2026-11-27 10:00", "new"), 1, utc("2026-11-27 10:00")))
    # A new worker takes over the partition: same tables, empty index.
    successor = SlaTracker(ClockEngine(policy), tables, rec)
    assert run(successor.on_tick(1, utc("2026-11-27 10:15"))) == 3
    assert rec.events[-1].type.value == "breached"
