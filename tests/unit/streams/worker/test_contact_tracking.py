"""The contact tracker: outputs stored before state is written, contacts held until their
interval is published and written, a takeover from the table, a revocation mid-wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from schemas.policy import parse_policy
from streams.engine.instants import micros
from streams.worker.contact_tracking import ContactTracker
from tests.unit.streams.conftest import utc
from tests.unit.streams.engine.test_contacts import POLICY, contact

WALL = utc("2026-12-01 16:00")


class Harness:
    """A tracker on partition 0 over a dict table; offsets count up."""

    def __init__(self, table: dict[bytes, bytes] | None = None) -> None:
        self.journal: list[str] = []
        self.table: dict[bytes, bytes] = {} if table is None else table
        self.intervals: list[dict] = []
        self.alerts: list[dict] = []
        self.offset = 0
        self.wall = WALL
        self.tracker = ContactTracker(parse_policy(POLICY.format(formula="offered")), self.table, self.publish,
                                      lambda: self.wall, lateness=timedelta(0), idle=timedelta(minutes=1),
                                      keep=timedelta(days=3), stored=self.stored)

    async def publish(self, intervals, alerts) -> None:
        self.intervals += [orjson.loads(v) for _, v in intervals]
        self.alerts += [orjson.loads(v) for _, v in alerts]
        self.journal.append("publish")

    async def stored(self) -> None:
        self.journal.append(f"stored, held from {self.tracker.held(0)[0]}")

    def send(self, *contacts, offset: int | None = None) -> list[str]:
        out = []
        for c in contacts:
            out.append(self.tracker.on_contact(c, 0, self.offset if offset is None else offset))
            self.offset += 1
        return out

    def tick(self) -> int:
        """A tick two minutes after the contacts were read: the idle partition closes by the wall clock."""
        self.wall += timedelta(minutes=2)
        return asyncio.run(self.tracker.on_tick(0, caught_up=True))


# 10:00, support, voice: answered after 10 s and after 30 s: service level 1 of 2 (offered), missed.
TWO = [contact("a", "2026-12-01 10:00:00", 10), contact("b", "2026-12-01 10:01:00", 30)]


def test_contacts_are_held_until_their_interval_is_published_and_written() -> None:
    h = Harness()
    h.send(*TWO)
    assert h.tracker.held(0)[0] == 0
    assert h.tick() == 2  # the interval and its breach
    assert h.journal == ["publish", "stored, held from 0"] and h.tracker.held(0) is None  # released after the write
    assert {orjson.loads(k)[0] for k in h.table} == {"slot", "series", "mark"}
    assert [(i["version"], i["channels"][0]["offered"]) for i in h.intervals] == [(1, 2)]
    assert [(a["measure"], a["type"]) for a in h.alerts] == [("service_level", "breached")]


def test_a_takeover_reads_the_state_back_and_a_contact_read_again_counts_once() -> None:
    first = Harness()
    first.send(*TWO)
    first.tick()
    again = Harness(first.table)  # a new owner, from the table
    assert again.send(TWO[1], offset=1) == ["duplicate"] and again.tracker.held(0) is None
    # a late third contact, answered in 5 s: 2 of 3, still missed; the interval again, version 2
    again.send(contact("c", "2026-12-01 10:02:00", 5))
    assert again.tick() == 1
    assert [(i["version"], i["channels"][0]["offered"]) for i in again.intervals] == [(2, 3)]


def test_a_tick_whose_partition_is_revoked_during_its_wait_writes_nothing() -> None:
    h = Harness()
    h.send(*TWO)

    async def revoked_while_stored() -> None:
        h.tracker.forget()

    h.tracker.stored = revoked_while_stored
    assert h.tick() == 0
    assert h.table == {}


class Killed(BaseException):
    """The worker killed (SIGKILL) in the middle of a tick's table writes."""


class KilledAfter(dict):
    """A table whose owner dies after `writes` more writes: the earlier ones are in it."""

    def __init__(self, table: dict[bytes, bytes], writes: int) -> None:
        super().__init__(table)
        self.left = writes

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if self.left == 0:
            raise Killed
        self.left -= 1
        super().__setitem__(key, value)


def alerts_by_fact(alerts: list[dict]) -> set[tuple[str, str, str]]:
    return {(a["measure"], a["type"], a["interval_start"]) for a in alerts}


@pytest.mark.parametrize("writes", [0, 1, 2, 3, 4])  # that tick writes three series, a slot and the mark
def test_a_kill_between_a_ticks_table_writes_publishes_no_recovery_twice(writes: int) -> None:
    # 10:00 misses its service level (1 of 2 within 20 s: a breach); 10:15 meets it (one
    # contact answered in 5 s: a recovery); 10:30 meets it too: nothing, the queue recovered.
    met_1015, met_1030 = contact("m1", "2026-12-01 10:15:00", 5), contact("m2", "2026-12-01 10:30:00", 5)
    whole = Harness()
    for batch in (TWO, [met_1015], [met_1030]):
        whole.send(*batch)
        whole.tick()
    expected = alerts_by_fact(whole.alerts)
    assert expected == {("service_level", "breached", "2026-12-01T10:00:00Z"),
                        ("service_level", "recovered", "2026-12-01T10:15:00Z")}
    # The owner publishes 10:15's recovery, then dies after `writes` of that tick's writes (the
    # 10:15 slot and the queue's three series changed). A new owner takes over from the table.
    first = Harness()
    first.send(*TWO)
    first.tick()
    first.send(met_1015)
    first.tracker.table = KilledAfter(first.table, writes)
    with pytest.raises(Killed):
        first.tick()
    again = Harness(dict(first.tracker.table))
    again.send(met_1015, offset=2)  # not committed: read again
    again.tick()
    again.send(met_1030)
    again.tick()
    assert alerts_by_fact(first.alerts + again.alerts) == expected  # copies of a fact (same id) only


def four_days_on(h: Harness) -> None:
    """Two contacts on 5 December, then a tick: the watermark passes 4 December 10:00, so
    1 December's 10:00 interval is no longer kept (CONTACT_KEEP_DAYS 3) and is forgotten."""
    h.send(contact("d1", "2026-12-05 10:00:00", 5), contact("d2", "2026-12-05 10:01:00", 5))
    h.wall = utc("2026-12-05 11:00")
    h.tick()


def test_a_contact_counted_then_forgotten_and_read_again_after_a_takeover_is_not_late() -> None:
    first = Harness()
    first.send(*TWO)  # offsets 0 and 1
    first.tick()
    four_days_on(first)  # offsets 2 and 3; the mark says 3
    assert orjson.dumps(["slot", "acme", "support", micros(utc("2026-12-01 10:00"))]) not in first.table
    again = Harness(first.table)  # the commit had not passed offset 1: read again
    assert again.send(*TWO, offset=1) == ["duplicate", "duplicate"]
    # read for the first time (after the mark): late, for the feed to dead-letter
    assert again.send(contact("e", "2026-12-01 10:03:00", 5), offset=4) == ["late"]


def test_a_late_contacts_letter_is_stored_before_the_mark_passes_it() -> None:
    h = Harness()
    h.send(*TWO)
    h.tick()
    four_days_on(h)
    h.journal.clear()
    # offset 4: late; offset 5: counted in 11:30, an interval still open, so nothing is published
    assert h.send(contact("e", "2026-12-01 10:03:00", 5), contact("f", "2026-12-05 11:30:00", 5)) == ["late", "counted"]
    assert h.tick() == 0
    assert h.journal == ["stored, held from 5"]  # the letter sent beside offset 4 is stored...
    assert orjson.loads(h.table[orjson.dumps(["mark", 0])])["read"] == 5  # ...before the mark covers it
