"""ProbeTracker with a plain dict as its table: closing, releasing, restarts, alerts, maintenance, no-data.

Objective 99.9 % availability and 99 % of results within 300 ms; Google SRE default rules;
no_data after 5 minutes; one result per minute unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import ProbeEvent
from schemas.policy import parse_policy
from streams.engine.service_slo import ServiceEntry
from streams.engine.slo_plan import SloPlan
from streams.worker.probe_tracking import ProbeTracker
from tests.unit.streams.conftest import utc

POLICY = """
contracts:
  - id: gold
    customer: acme
    services: [search, login]
    probes:
      availability: {objective: 0.999, window: 30d}
      latency: {threshold_ms: 300, objective: 0.99}
      maintenance:
        - {start: "2026-11-27T12:00:00Z", end: "2026-11-27T12:10:00Z"}
      no_data_after: 5m
"""
PLAN = SloPlan(parse_policy(POLICY))
T0 = utc("2026-11-27 10:00")


class Outputs:
    def __init__(self, journal: list[str]) -> None:
        self.minutes: list[dict] = []
        self.alerts: list[dict] = []
        self.statuses: list[dict] = []
        self.journal = journal  # what reached the "broker" and the table, in order

    async def __call__(self, minutes, alerts, statuses) -> None:
        self.minutes += [orjson.loads(v) for _, v in minutes]
        self.alerts += [orjson.loads(v) for _, v in alerts]
        self.statuses += [orjson.loads(v) for _, v in statuses]
        self.journal.append("publish")

    async def stored(self) -> None:
        self.journal.append("stored")

    def alert_log(self) -> list[tuple[str, str, str]]:
        return [(a["alert"], a["type"], a["at"][11:16]) for a in self.alerts]


class JournalTable(dict):
    def __init__(self, journal: list[str]) -> None:
        super().__init__()
        self.journal = journal

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, value)
        self.journal.append("write")


class Harness:
    """A tracker on partition 0 with an injected wall clock; offsets count up."""

    def __init__(self, table: dict | None = None) -> None:
        self.journal: list[str] = []
        self.table: dict[bytes, bytes] = JournalTable(self.journal) if table is None else table
        self.out = Outputs(self.journal)
        self.wall = T0
        self.offset = 0
        self.counted: list[int] = []
        self.tracker = ProbeTracker(PLAN, self.table, self.out, lambda: self.wall,
                                    lateness=timedelta(seconds=60), idle=timedelta(minutes=2), stored=self.out.stored)

    def send(self, at: datetime, ok: bool = True, latency: float = 100.0, eid: str | None = None,
             offset: int | None = None, service: str = "search") -> str:
        offset = self.offset if offset is None else offset
        self.offset = max(self.offset, offset + 1)
        event = ProbeEvent(event_id=eid or f"e{offset}", occurred_at=at, source="t", probe_id="p", service=service,
                           region="eu", ok=ok, latency_ms=latency, status_code=200 if ok else 503)

        outcome = self.tracker.on_event(event, 0, offset)
        if outcome == "counted":
            self.counted.append(offset)
        return outcome

    @property
    def acked(self) -> list[int]:
        """Counted results a commit may pass: those before the first one still held."""
        first = self.tracker.held(0)
        return [o for o in self.counted if first is None or o < first[0]]

    def tick(self, caught_up: bool = True) -> int:
        return asyncio.run(self.tracker.on_tick(0, caught_up))

    def minutes(self, results: list[bool], start: datetime = T0) -> None:
        """One result per minute at second 30, ticking after each."""
        for i, ok in enumerate(results):
            self.send(start + timedelta(minutes=i, seconds=30), ok=ok)
            self.tick()


def test_a_minute_closes_after_the_lateness_and_acks_its_results_then() -> None:
    h = Harness()
    assert h.send(utc("2026-11-27 10:00:10"), latency=120) == "counted"
    assert h.send(utc("2026-11-27 10:00:40"), ok=False, latency=800) == "counted"
    assert h.send(utc("2026-11-27 10:00:40"), ok=False, latency=800, eid="e1") == "duplicate"  # same event id
    assert h.send(utc("2026-11-27 10:01:30")) == "counted"
    h.tick()
    assert h.out.minutes == [] and h.acked == []  # watermark 10:00:30: nothing closed
    h.send(utc("2026-11-27 10:02:00"))
    h.tick()
    assert h.out.minutes == []  # one result alone does not move the watermark
    h.send(utc("2026-11-27 10:02:00"))  # two agree: watermark 10:01:00
    h.tick()
    (minute,) = h.out.minutes
    assert (minute["minute"], minute["total"], minute["good"]) == ("2026-11-27T10:00:00Z", 2, 1)
    assert (minute["latency_sum_ms"], minute["latency_max_ms"]) == (920.0, 800.0)
    assert (minute["fast_le_ms"], minute["fast"]) == ([300.0], [1])
    assert minute["contracts"] == [{"contract_id": "gold", "customer": "acme", "fast": 1, "excluded": False}]
    assert h.acked == [0, 1]  # only the results of the closed minute
    assert h.send(utc("2026-11-27 10:00:59")) == "late"
    assert {(s["sli"], s["error_rate_5m"]) for s in h.out.statuses} == {("availability", 0.5), ("latency", 0.5)}


def test_outputs_are_stored_before_the_entries_are_written_and_the_results_released() -> None:
    """A crash at any point loses nothing: entries written before their outputs were stored would
    skip the results read again. (The probe feed commits released results only after a wait for
    everything sent before, the entries too.)"""
    h = Harness()
    h.send(utc("2026-11-27 10:00:10"))
    h.send(utc("2026-11-27 10:00:20"))
    h.send(utc("2026-11-27 10:02:00"))
    h.send(utc("2026-11-27 10:02:00"))  # watermark 10:01:00: the first minute closes
    stored = h.out.stored

    async def stored_while_held() -> None:
        await stored()
        h.journal.append(f"held from {h.tracker.held(0)[0]}")

    h.tracker.stored = stored_while_held
    h.tick()
    assert h.journal == ["publish", "stored", "held from 0", "write"]
    assert h.acked == [0, 1] and h.tracker.held(0)[0] == 2  # released only then


def test_a_restart_skips_what_was_counted_and_counts_open_minutes_again() -> None:
    first = Harness()
    first.send(utc("2026-11-27 10:00:10"))
    first.send(utc("2026-11-27 10:01:10"), ok=False)
    first.send(utc("2026-11-27 10:02:10"))
    first.send(utc("2026-11-27 10:02:10"))
    first.tick()  # watermark 10:01:10: minute 10:00 closed
    assert [m["minute"][11:16] for m in first.out.minutes] == ["10:00"]

    # A new worker takes the partition over; every result after the last commit comes again.
    again = Harness(first.table)
    again.wall = T0 + timedelta(seconds=10)
    assert again.send(utc("2026-11-27 10:00:10"), offset=0) == "duplicate"
    assert again.send(utc("2026-11-27 10:01:10"), ok=False, offset=1) == "counted"
    assert again.send(utc("2026-11-27 10:02:10"), offset=2) == "counted"
    assert again.send(utc("2026-11-27 10:02:10"), offset=3) == "counted"
    assert again.send(utc("2026-11-27 10:00:50"), offset=4) == "late"  # new, for a closed minute
    again.send(utc("2026-11-27 10:04:00"), offset=5)
    again.send(utc("2026-11-27 10:04:00"), offset=6)  # watermark 10:03
    again.tick()
    assert [(m["minute"][11:16], m["total"], m["good"]) for m in again.out.minutes] == [("10:01", 1, 0), ("10:02", 2, 2)]
    series = ServiceEntry.load(again.table[b"search"], timedelta(hours=6), PLAN.horizon).series["gold/availability"]
    assert series.counts(utc("2026-11-27 10:03"), timedelta(minutes=5)) == (4, 1)  # nothing counted twice


def test_burn_rate_alerts_fire_and_resolve_minute_by_minute() -> None:
    h = Harness()
    # Ten good minutes, one bad one (10:10), then good ones. At the end of 10:10 (10:11), 1 of
    # 11 results is bad: burn (1/11)/0.001 = 90.9 on every window, above 14.4, 6 and 1, so all
    # three rules fire. page-1h resolves when 10:10 leaves its 5 m window: at 10:16; page-6h
    # when it leaves the 30 m window: at 10:41; ticket-3d stays (6 h window still holds it).
    h.minutes([True] * 10 + [False] + [True] * 40)
    h.send(T0 + timedelta(minutes=52))
    h.tick()
    assert h.out.alert_log() == [
        ("page-1h", "firing", "10:11"), ("page-6h", "firing", "10:11"), ("ticket-3d", "firing", "10:11"),
        ("page-1h", "resolved", "10:16"), ("page-6h", "resolved", "10:41"),
    ]
    first = h.out.alerts[0]
    assert (first["sli"], first["severity"], round(first["long_burn"], 1)) == ("availability", "page", 90.9)
    assert round(first["budget_remaining"], 2) == round(1 - (1 / 11) / 0.001, 2)
    # Ids are deterministic: a second run over the same input yields the same ones.
    again = Harness()
    again.minutes([True] * 10 + [False] + [True] * 40)
    again.send(T0 + timedelta(minutes=52))
    again.tick()
    assert [a["event_id"] for a in again.out.alerts] == [a["event_id"] for a in h.out.alerts]


def test_alerts_evaluate_every_minute_while_firing_even_without_data() -> None:
    h = Harness()
    h.minutes([True] * 10 + [False])
    h.send(T0 + timedelta(minutes=20, seconds=30))  # nine silent minutes, then data
    h.send(T0 + timedelta(minutes=22))
    h.tick()
    # page-1h resolved at 10:16 although no result arrived between 10:11 and 10:20.
    assert ("page-1h", "resolved", "10:16") in h.out.alert_log()


def test_minutes_in_a_maintenance_window_do_not_spend_budget() -> None:
    h = Harness()
    start = utc("2026-11-27 11:50")
    h.minutes([True] * 10 + [False] * 10 + [True] * 5, start=start)  # bad 12:00-12:10: all in maintenance
    h.send(start + timedelta(minutes=27))
    h.send(start + timedelta(minutes=27))
    h.tick()
    assert h.out.alerts == []
    flags = {m["minute"][11:16]: m["contracts"][0]["excluded"] for m in h.out.minutes}
    assert (flags["11:59"], flags["12:00"], flags["12:09"], flags["12:10"]) == (False, True, True, False)
    series = ServiceEntry.load(h.table[b"search"], timedelta(hours=6), PLAN.horizon).series["gold/availability"]
    assert series.counts(start + timedelta(minutes=25), timedelta(hours=1)) == (15, 0)


def test_one_slow_result_after_a_maintenance_window_pages_nobody() -> None:
    """The maintenance window (12:00-12:10) leaves the 1 h and 5 m windows holding only the
    result of 12:10: alone, it is 100 % bad, 100 times the budget. Burn-rate rules start to
    fire only on `alert_min_results` (default 5) results in their long window: no page.
    Five slow minutes later the windows hold enough, and the latency page fires."""
    h = Harness()
    start = utc("2026-11-27 12:00")
    h.minutes([True] * 10, start=start)  # all excluded
    h.minutes([False], start=start + timedelta(minutes=10))  # 12:10, slow and failed
    h.minutes([True] * 3, start=start + timedelta(minutes=11))
    h.send(start + timedelta(minutes=16))
    h.send(start + timedelta(minutes=16))
    h.tick()
    assert h.out.alerts == []
    h.minutes([False] * 5, start=start + timedelta(minutes=16))
    h.send(start + timedelta(minutes=23))
    h.send(start + timedelta(minutes=23))
    h.tick()
    assert ("page-1h", "firing", "12:17") in h.out.alert_log()


def test_no_data_fires_after_a_silence_and_resolves_when_results_return() -> None:
    h = Harness()
    h.minutes([True] * 3)  # last result at 10:02:30; its minute ends 10:03
    # The partition goes quiet: after 2 minutes idle the watermark follows the wall clock.
    for minutes in range(3, 12):
        h.wall = T0 + timedelta(minutes=minutes)
        h.tick()
    # 10:03 + 5 m = 10:08 is closed once the wall clock passes 10:09 (lateness 60 s).
    assert h.out.alert_log() == [("no_data", "firing", "10:08")]
    h.send(utc("2026-11-27 10:15:30"))
    h.send(utc("2026-11-27 10:17:00"))
    h.send(utc("2026-11-27 10:17:00"))
    h.tick()
    assert h.out.alert_log() == [("no_data", "firing", "10:08"), ("no_data", "resolved", "10:15")]


def test_a_silence_inside_a_catch_up_fires_and_resolves_in_event_time() -> None:
    h = Harness()
    for m in [0, 1, 2, 30, 31]:  # a 27-minute gap, all processed in one tick
        h.send(T0 + timedelta(minutes=m, seconds=30))
    h.send(T0 + timedelta(minutes=33))
    h.send(T0 + timedelta(minutes=33))
    h.tick()
    assert h.out.alert_log() == [("no_data", "firing", "10:08"), ("no_data", "resolved", "10:30")]


def test_nothing_is_written_or_acknowledged_unless_the_outputs_are_stored() -> None:
    h = Harness()
    h.send(utc("2026-11-27 10:00:10"), ok=False)
    h.send(utc("2026-11-27 10:02:00"))
    h.send(utc("2026-11-27 10:02:00"))

    async def broker_down(*_records) -> None:
        raise ConnectionError("broker unreachable")

    h.tracker.publish = broker_down
    try:
        h.tick()
    except ConnectionError:
        pass
    assert h.table == {} and h.acked == []
    # Delivered again after the crash, the results give the same minute.
    again = Harness(h.table)
    again.send(utc("2026-11-27 10:00:10"), ok=False, offset=0)
    again.send(utc("2026-11-27 10:02:00"), offset=1)
    again.send(utc("2026-11-27 10:02:00"), offset=2)
    again.tick()
    assert [(m["minute"][11:16], m["total"], m["good"]) for m in again.out.minutes] == [("10:00", 1, 0)]
    assert again.acked == [0] and b"search" in again.table


def test_a_rejected_record_moves_the_idle_clock() -> None:
    """Idle means no record at all was read, counted or rejected, for `idle` (2 min here)."""
    h = Harness()
    h.send(utc("2026-11-27 10:00:10"))
    h.wall = utc("2026-11-27 10:29")
    h.tracker.on_rejected(0)
    h.wall = utc("2026-11-27 10:30")
    h.tick()
    assert h.out.minutes == []  # a record was read a minute ago
    h.wall = utc("2026-11-27 10:31")
    h.tick()
    assert [m["minute"] for m in h.out.minutes] == ["2026-11-27T10:00:00Z"]


async def _noop() -> None:
    return None


def test_a_status_is_as_of_its_last_minute_with_results_however_far_a_tick_closes() -> None:
    h = Harness()
    h.send(utc("2026-11-27 10:00:10"))
    h.wall = utc("2026-11-27 10:30")  # idle: this tick closes up to 10:29 at once
    h.tick()
    assert {s["as_of"] for s in h.out.statuses} == {"2026-11-27T10:01:00Z"}


def test_a_status_shows_the_rules_firing_at_its_last_data_whichever_tick_publishes_it() -> None:
    """Results stop after a bad minute (10:10): page-1h resolves at 10:16 and page-6h at 10:41
    without data (alerts say so). The status stays as of 10:11 with the rules firing then,
    however far the last tick closed, so one as_of always carries one firing list."""
    def run(wall: str) -> tuple[list[dict], list[tuple[str, str, str]]]:
        h = Harness()
        h.minutes([True] * 10 + [False])
        h.wall = utc(wall)
        h.tick()
        return [s for s in h.out.statuses if s["sli"] == "availability"], h.out.alert_log()

    (soon, soon_alerts), (late, late_alerts) = run("2026-11-27 10:30"), run("2026-11-27 10:50")
    assert ("page-6h", "resolved", "10:41") in late_alerts and ("page-6h", "resolved", "10:41") not in soon_alerts
    assert soon == late
    assert (late[-1]["as_of"][11:16], late[-1]["firing"]) == ("10:11", ["page-1h", "page-6h", "ticket-3d"])


def test_after_a_takeover_minutes_close_by_the_wall_clock_only_once_caught_up() -> None:
    table: dict[bytes, bytes] = {}
    h = Harness(table)
    h.send(utc("2026-11-27 10:00:10"))
    h.send(utc("2026-11-27 10:02:00"))
    h.tick()  # 10:00 closed and written; 10:02 open (its result is read again after a restart)
    restarted = Harness(table)
    restarted.wall = utc("2026-11-27 10:30")
    restarted.tick(caught_up=False)
    assert restarted.out.minutes == []  # the 10:02 result still waits in Kafka
    restarted.send(utc("2026-11-27 10:02:00"), offset=1)  # read again: counted anew
    restarted.wall = utc("2026-11-27 11:30")
    restarted.tick(caught_up=True)
    assert [m["minute"] for m in restarted.out.minutes] == ["2026-11-27T10:02:00Z"]


def test_a_crash_between_two_services_writes_loses_neither() -> None:
    """The minute of 10:00 closes for search and login in one tick; the worker dies after
    writing search's entry and before login's. Login's result, read again, is counted again
    (not refused as late) and its minute closed; search's is skipped as counted."""
    first = Harness()
    first.send(utc("2026-11-27 10:00:10"), offset=0)
    first.send(utc("2026-11-27 10:00:20"), offset=1, service="login")
    first.send(utc("2026-11-27 10:02:00"), offset=2)
    first.send(utc("2026-11-27 10:02:00"), offset=3)
    first.tick()
    assert sorted(m["service"] for m in first.out.minutes) == ["login", "search"]
    crashed = {k: v for k, v in first.table.items() if k == b"search"}

    again = Harness(crashed)
    assert again.send(utc("2026-11-27 10:00:10"), offset=0) == "duplicate"
    assert again.send(utc("2026-11-27 10:00:20"), offset=1, service="login") == "counted"
    again.send(utc("2026-11-27 10:02:00"), offset=2)
    again.send(utc("2026-11-27 10:02:00"), offset=3)
    again.send(utc("2026-11-27 10:03:30"), offset=4, service="login")  # new, for an open minute
    assert again.send(utc("2026-11-27 10:00:30"), offset=5, service="login") == "late"  # new and late
    again.tick()
    assert [(m["service"], m["minute"][11:16], m["total"]) for m in again.out.minutes] == [("login", "10:00", 1)]


def test_statuses_while_catching_up_come_every_few_minutes_and_the_newest_once_caught_up() -> None:
    table: dict[bytes, bytes] = {}
    h = Harness(table)
    h.tracker.status_every = 5
    for i in range(12):  # a backlog: minute by minute (two results each), not caught up
        h.send(T0 + timedelta(minutes=i, seconds=30))
        h.send(T0 + timedelta(minutes=i, seconds=40))
        h.wall = T0 + timedelta(minutes=i + 2, seconds=31)  # the minute before is past the lateness
        h.tick(caught_up=False)
    as_of = sorted({s["as_of"][11:16] for s in h.out.statuses})
    assert as_of == ["10:01", "10:06"]  # the first, then five minutes of event time later
    restarted = Harness(table)  # a takeover knows from the table which status is still due
    restarted.wall = h.wall
    restarted.tick(caught_up=True)
    # The newest closed minute's (10:09; 10:10 and 10:11 were within the lateness, still open).
    assert {s["as_of"][11:16] for s in restarted.out.statuses} == {"10:10"}
    assert len(restarted.out.statuses) == 2  # availability and latency, once each


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(st.tuples(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 30), st.booleans()),
                                        min_size=2, max_size=5),
                               st.booleans()), min_size=1, max_size=12),
    restart_at=st.integers(0, 12), back=st.integers(0, 6),
)
def test_a_batch_record_gives_what_its_results_one_by_one_give(records, restart_at, back) -> None:
    """on_batch against on_event per result, through ticks and a restart that reads records
    again (some covered by the entries, some not): the same late results, outputs, table and
    held offsets."""
    def run(batched: bool) -> tuple:
        h = Harness({})
        out, late = h.out, []
        order = list(range(len(records)))
        order = order[:restart_at] + order[max(restart_at - back, 0):]  # after the restart, some come again
        for n, i in enumerate(order):
            if n == restart_at:
                h = Harness(dict(h.table))
                h.tracker.publish = out
            results, tick = records[i]
            events = [ProbeEvent(event_id=f"e{eid}", occurred_at=T0 + timedelta(seconds=s), source="t", probe_id="p",
                                 service="search", region="eu", ok=ok, latency_ms=100.0 + s, status_code=200)
                      for s, eid, ok in results]
            if batched:
                late += [(i, e.event_id) for e in h.tracker.on_batch("search", events, 0, i)]
            else:
                late += [(i, e.event_id) for e in events if h.tracker.on_event(e, 0, i) == "late"]
            h.wall = T0 + timedelta(seconds=40 * n)
            if tick:
                h.tick()
        held = h.tracker.held(0)
        return late, out.minutes, out.alerts, out.statuses, dict(h.table), held and held[0]

    assert run(batched=True) == run(batched=False)


def test_a_tick_whose_partition_is_revoked_during_its_wait_writes_nothing() -> None:
    """The broker stores the outputs, but the partition moved meanwhile: a write now would land
    in the changelog after the new owner's and be restored over it; the new owner counts the
    results again from the commits instead."""
    h = Harness()
    h.send(utc("2026-11-27 10:00:10"))
    h.send(utc("2026-11-27 10:02:00"))
    h.send(utc("2026-11-27 10:02:00"))  # watermark 10:01:00: the first minute closes
    stored = h.out.stored

    async def revoked_while_stored() -> None:
        await stored()
        h.tracker.forget()

    h.tracker.stored = revoked_while_stored
    assert h.tick() == 0
    assert h.journal == ["publish", "stored"] and h.table == {}
