"""Property-based checks of the calendars and the clock engine (hypothesis)."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone
from typing import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.events import TicketEvent
from schemas.outputs import EntityStatus
from schemas.policy import parse_policy
from streams.engine.calendar import build_calendars
from streams.engine.clocks import ClockEngine
from streams.engine.instants import SECOND, span
from streams.engine.replay import Replay
from streams.engine.state_codec import dump_state, load_state, state_from_json, state_to_json
from tests.unit.streams.conftest import POLICY
from tests.unit.streams.engine.reference import reference_facts

POL = parse_policy(POLICY)
CALENDARS = build_calendars(POL.doc.calendars)
ENGINE = ClockEngine(POL)
BASE = datetime(2026, 3, 20, tzinfo=timezone.utc)  # spans the March DST change and a holiday-free stretch
PROFILE = settings(max_examples=int(__import__("os").environ.get("HYPOTHESIS_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

instants = st.integers(min_value=0, max_value=40 * 86400).map(lambda s: BASE + timedelta(seconds=s))
calendars = st.sampled_from(sorted(CALENDARS))


@PROFILE
@given(calendars, instants, instants, instants)
def test_elapsed_is_additive(name: str, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    cal = CALENDARS[name]
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)


@PROFILE
@given(calendars, instants, instants)
def test_reaching_elapsed_lands_at_or_before(name: str, start: datetime, t: datetime) -> None:
    start, t = sorted((start, t))
    cal = CALENDARS[name]
    used = cal.elapsed(start, t)
    reached = cal.add(start, used)
    assert reached <= t
    assert cal.elapsed(start, reached) == used


@PROFILE
@given(calendars, instants, st.integers(min_value=0, max_value=30 * 86400))
def test_add_then_elapsed_round_trips(name: str, start: datetime, seconds: int) -> None:
    cal = CALENDARS[name]
    duration = timedelta(seconds=seconds)
    assert cal.elapsed(start, cal.add(start, duration)) == duration


def walked_elapsed(cal, start: datetime, end: datetime) -> timedelta:
    """The reference: open time in [start, end) summed day by day over the local dates."""
    total = timedelta(0)
    if end <= start:
        return total
    day, last = start.astimezone(cal.tz).date(), end.astimezone(cal.tz).date()
    while day <= last:
        for a, b in cal.intervals(day):
            total += max(min(b, end) - max(a, start), timedelta(0))
        day += timedelta(days=1)
    return total


def walked_add(cal, start: datetime, duration: timedelta) -> datetime:
    """The reference: the budget spent interval by interval from `start`'s local date on."""
    if duration <= timedelta(0):
        return start
    day = start.astimezone(cal.tz).date()
    while True:
        for a, b in cal.intervals(day):
            if b > start:
                begin = max(a, start)
                if duration <= b - begin:
                    return begin + duration
                duration -= b - begin
        day += timedelta(days=1)


# Over a year end, both DST changes and the holidays of a year and a half.
wide_instants = st.integers(min_value=0, max_value=430 * 86400).map(
    lambda s: datetime(2025, 12, 1, tzinfo=timezone.utc) + timedelta(seconds=s, microseconds=s % 7 * 100_001))
business = st.sampled_from(sorted(name for name, cal in CALENDARS.items() if hasattr(cal, "intervals")))


@PROFILE
@given(business, wide_instants, wide_instants, st.integers(min_value=0, max_value=90 * 86400))
def test_the_compiled_table_gives_what_walking_the_days_gives(name: str, a: datetime, b: datetime, seconds: int) -> None:
    cal = type(CALENDARS[name])(name, CALENDARS[name].tz, CALENDARS[name].weekly, CALENDARS[name].closed)  # no table yet
    duration = timedelta(seconds=seconds, microseconds=seconds % 3)
    assert cal.elapsed(a, b) == walked_elapsed(cal, a, b)
    assert cal.add(a, duration) == walked_add(cal, a, duration)
    assert cal.add(b, duration) == walked_add(cal, b, duration)  # after the table grew for `a`


STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed", "reopened"]


@st.composite
def ticket_histories(draw: st.DrawFn) -> list[TicketEvent]:
    customer = draw(st.sampled_from(["acme", "initech"]))
    n = draw(st.integers(min_value=1, max_value=8))
    offsets = draw(st.lists(st.integers(min_value=0, max_value=3 * 86400), min_size=n, max_size=n))
    return [
        TicketEvent(
            event_id=f"e{i}", occurred_at=BASE + timedelta(seconds=off), source="h", ticket_id="T",
            customer=customer, service="checkout",
            priority=draw(st.sampled_from(["P1", "P2", "P3"])), status=draw(st.sampled_from(STATUSES)),
            public_reply=draw(st.booleans()),
            # OLA teams of the shared policy, and a group without one
            assignment_group=draw(st.sampled_from([None, None, "network", "desk", "db"])),
            supplier=draw(st.sampled_from([None, None, "telco"])),
        )
        for i, off in enumerate(offsets)
    ]


def replay(events: list[TicketEvent], held_back: bool):
    """Apply in the given order; then advance to the end. held_back: nothing fires before the end."""
    end = max(e.occurred_at for e in events) + timedelta(days=2)
    first = min(e.occurred_at for e in events) - timedelta(seconds=1)
    state, out, watermark = None, [], first
    for ev in events:
        watermark = max(watermark, ev.occurred_at)
        state, produced = ENGINE.apply(state, ev, first if held_back else watermark)
        out += produced
    state, produced = ENGINE.advance(state, end)
    return state, out + produced, end


@PROFILE
@given(ticket_histories(), st.randoms(use_true_random=False))
def test_any_permutation_gives_the_same_state_and_outputs(events: list[TicketEvent], rnd) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    s1, o1, end = replay(events, held_back=True)
    s2, o2, _ = replay(shuffled, held_back=True)
    assert s1 == s2
    assert [codec.dumps(e) for e in o1] == [codec.dumps(e) for e in o2]
    # Fed replay-style (the clock follows the events), corrections may differ on the way,
    # but what holds at the end is the same.
    s3, _, _ = replay(shuffled, held_back=False)
    assert [s.model_dump(exclude={"version"}) for s in ENGINE.status(s3, end)] == [
        s.model_dump(exclude={"version"}) for s in ENGINE.status(s1, end)
    ]
    assert holding(s3) == holding(s1)


def holding(state) -> dict[str, dict[str, str]]:
    return {i: {k: p.summary for k, p in ledger.facts.items()} for i, ledger in state.ledgers.items() if ledger.facts}


@PROFILE
@given(ticket_histories(), st.lists(st.integers(min_value=-86400, max_value=5 * 86400), max_size=5))
def test_no_event_sequence_raises(events: list[TicketEvent], advances: list[int]) -> None:
    state = None
    for ev in events:
        state, _ = ENGINE.apply(state, ev, ev.occurred_at)
    for seconds in advances:
        now = BASE + timedelta(seconds=seconds)
        state, _ = ENGINE.advance(state, now)
        ENGINE.status(state, now)
        assert state.next_due is None or state.next_due > now


@PROFILE
@given(ticket_histories())
def test_walks_continued_event_by_event_equal_walks_from_the_first_and_survive_the_codec(
        events: list[TicketEvent]) -> None:
    in_order = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    state = None
    for ev in in_order:  # each event sorts last: every walk goes on from its Run
        state, _ = ENGINE.apply(state, ev, ev.occurred_at)
    end = in_order[-1].occurred_at + timedelta(days=2)
    from_first, _ = ENGINE.advance(state.replace(runs={}), in_order[-1].occurred_at)
    assert from_first.runs == state.runs
    assert ENGINE.status(state, end) == ENGINE.status(from_first, end)
    assert load_state(dump_state(state)) == state
    # An entry written before runs kept their due time loads without runs: walked again, same answers.
    assert all(len(run) == 9 for run in state_to_json(state)[5].values())  # the shape the previous version reads
    old = state_to_json(state)[:6]
    reloaded = state_from_json(old)
    assert reloaded.runs == {}
    assert ENGINE.status(reloaded, end) == ENGINE.status(state, end)
    assert ENGINE.advance(reloaded, end)[1] == ENGINE.advance(state, end)[1]


@PROFILE
@given(ticket_histories(), st.lists(st.integers(min_value=-86400, max_value=12 * 86400), min_size=1, max_size=6))
def test_facts_without_calendar_work_are_those_the_full_derivation_gives(
        events: list[TicketEvent], offsets: list[int]) -> None:
    # The reconcile path skips a running clock's calendar work until its next threshold is
    # due; at any instant it must find the same facts and next due time as the full derivation.
    state = None
    for ev in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        state, _ = ENGINE.apply(state, ev, ev.occurred_at)
    assert state is not None
    for plan, instance, run in ENGINE._runs(state):
        for seconds in offsets:
            now = state.events[-1].at + seconds * SECOND
            full = ENGINE._finish(run, plan, now)
            assert ENGINE._facts_at(run, plan, now) == (full.facts, full.next_due), instance


@PROFILE
@given(ticket_histories(), st.lists(st.tuples(st.integers(min_value=0, max_value=8),
                                              st.integers(min_value=0, max_value=4 * 86400)), max_size=8))
def test_deadlines_fired_between_events_give_what_walks_from_the_first_give(
        events: list[TicketEvent], ticks: list[tuple[int, int]]) -> None:
    # A tick rolls each run forward past the thresholds it fired; the next event may come
    # after the clock passed its instant (live: ticks run on wall time) and stop, pause or
    # re-target the clock before them. Every call must publish what a walk from the first
    # event publishes.
    steps: list[TicketEvent | datetime] = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    for position, seconds in sorted(ticks, reverse=True):
        steps.insert(min(position, len(steps)), BASE + timedelta(seconds=seconds))
    rolled = fresh = None
    clock = BASE - timedelta(seconds=1)
    for step in steps:
        if isinstance(step, datetime):
            if rolled is None or fresh is None:
                continue
            clock = max(clock, step)
            rolled, out_rolled = ENGINE.advance(rolled, clock)
            fresh, out_fresh = ENGINE.advance(fresh.replace(runs={}), clock)
        else:
            clock = max(clock, step.occurred_at)
            rolled, out_rolled = ENGINE.apply(rolled, step, clock)
            fresh, out_fresh = ENGINE.apply(fresh and fresh.replace(runs={}), step, clock)
        assert [codec.dumps(o) for o in out_rolled] == [codec.dumps(o) for o in out_fresh]
        assert (rolled.ledgers, rolled.next_due) == (fresh.ledgers, fresh.next_due)
        assert ENGINE.snapshot(rolled) == ENGINE.snapshot(fresh)


@st.composite
def desk_histories(draw: st.DrawFn) -> list[TicketEvent]:
    """Several tickets over two weeks in event-time order, some reopened or late days after closing."""
    events = []
    for t in range(draw(st.integers(min_value=1, max_value=6))):
        n = draw(st.integers(min_value=1, max_value=8))
        offsets = draw(st.lists(st.integers(min_value=0, max_value=14 * 86400), min_size=n, max_size=n))
        events += [TicketEvent(
            event_id=f"T{t}-e{i}", occurred_at=BASE + timedelta(seconds=off), source="h", ticket_id=f"T{t}",
            customer="acme", service="checkout", priority=draw(st.sampled_from(["P1", "P2", "P3"])),
            status=draw(st.sampled_from(STATUSES)), public_reply=draw(st.booleans()),
        ) for i, off in enumerate(offsets)]
    late = draw(st.integers(min_value=0, max_value=len(events) - 1))  # one event arrives days late
    ordered = sorted(events, key=lambda e: e.occurred_at)
    moved = ordered.pop(late)
    return ordered + [moved] if draw(st.booleans()) else ordered[:late] + [moved] + ordered[late:]


@PROFILE
@given(desk_histories())
def test_a_replay_that_puts_stopped_entities_away_gives_the_same_outputs(events: list[TicketEvent]) -> None:
    """Entities put away (serialised, on disk, without their walks) once every instance stopped,
    and read back for a reopen or a late event, give the replay the same outputs and final
    status as entities kept as objects throughout."""
    def run(put_away_after: timedelta):
        r = Replay(ENGINE, put_away_after=span(put_away_after))
        out = [o for e in events for o in r.feed(e)]
        out += r.advance(max(e.occurred_at for e in events) + timedelta(days=20))
        return [codec.dumps(o) for o in out], [s.model_dump_json() for s in r.final()], r

    away_out, away_final, away = run(timedelta(seconds=1))
    kept_out, kept_final, _ = run(timedelta(days=10_000))
    assert away_out == kept_out and away_final == kept_final
    # Every stopped one is away, and only those.
    shelved = list(away.entities())[len(away.states):]
    assert away.shelf.count == len(shelved)
    assert not any(all(r.stopped_at for r in state.runs.values()) for state in away.states.values())
    end = max(e.occurred_at for e in events) + timedelta(days=20)
    assert all(s.state == "stopped" for state in shelved for s in ENGINE.status(state, end))


@PROFILE
@given(ticket_histories(), st.lists(st.integers(min_value=-86400, max_value=5 * 86400), max_size=3))
def test_the_status_record_is_entity_status_json(events: list[TicketEvent], advances: list[int]) -> None:
    state = None
    for ev in events:
        state, _ = ENGINE.apply(state, ev, ev.occurred_at)
    for seconds in advances:
        state, _ = ENGINE.advance(state, BASE + timedelta(seconds=seconds))
    record = ENGINE.status_json(state)
    instances = ENGINE.snapshot(state)
    assert (record is None) == (not instances)
    if record is not None:
        model = EntityStatus(kind=state.kind, entity_id=state.entity_id, instances=instances)
        assert record == codec.dumps(model) == codec.dumps(EntityStatus.model_validate_json(record))


@PROFILE
@given(ticket_histories(), st.randoms(use_true_random=False),
       st.lists(st.tuples(st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=5 * 86400)),
                max_size=6))
def test_every_call_publishes_what_the_reference_walk_from_the_first_event_gives(
        events: list[TicketEvent], rnd, ticks: list[tuple[int, int]]) -> None:
    # Events in any order (late ones among them), ticks between them on a clock that only
    # moves on: after every call the published facts are the reference's (reference.py) for
    # the events applied so far, as of the clock.
    steps: list[TicketEvent | datetime] = list(events)
    rnd.shuffle(steps)
    for position, seconds in sorted(ticks, reverse=True):
        steps.insert(min(position, len(steps)), BASE + timedelta(seconds=seconds))
    state, seen, clock = None, [], BASE - timedelta(seconds=1)
    for step in steps:
        if isinstance(step, datetime):
            if state is None:
                continue
            clock = max(clock, step)
            state, _ = ENGINE.advance(state, clock)
        else:
            clock = max(clock, step.occurred_at)
            state, _ = ENGINE.apply(state, step, clock)
            seen.append(step)
        published = {i: {k: p.summary for k, p in lg.facts.items()} for i, lg in state.ledgers.items()}
        expected = reference_facts(ENGINE, seen, clock)
        assert {i: f for i, f in published.items() if f} == {i: f for i, f in expected.items() if f}


def cycles_left_by(run: Callable[[], object]) -> int:
    """Objects in reference cycles that `run()` made and dropped, counted while what it returns
    is still held: the collector is off while it runs, so everything it allocated is in the
    young generation, where a collection of that generation alone finds every cycle among them."""
    gc.collect(0)
    enabled = gc.isenabled()
    gc.disable()
    try:
        kept = run()
        found = gc.collect(0)
        del kept
        return found
    finally:
        if enabled:
            gc.enable()


def test_a_dropped_cycle_is_found() -> None:
    def cycle() -> None:
        a: list[object] = []
        a.append(a)

    assert cycles_left_by(cycle) == 1
    assert cycles_left_by(lambda: [[1], {"a": (2,)}]) == 0


@PROFILE
@given(ticket_histories(), desk_histories(), st.randoms(use_true_random=False))
def test_the_engine_makes_no_reference_cycles(events: list[TicketEvent], desk: list[TicketEvent], rnd) -> None:
    """Everything the engine drops (states, runs, ledgers, outputs, entities put away and read
    back) is freed by reference counting alone: batch runs collect cycles rarely
    (streams/runtime.py, REPLAY_YOUNG), which is cheap only while the engine makes none. The
    replay is held while its garbage is counted: its shelf's SQLite connection is a cycle of
    sqlite3's own, one per replay."""
    shuffled = list(events)
    rnd.shuffle(shuffled)  # late events walk the history again

    def run() -> Replay:
        replay = Replay(ENGINE, put_away_after=span(timedelta(seconds=1)))  # reopened and late ones come off the shelf
        for event in [*desk, *shuffled]:
            replay.feed(event)
        replay.advance(BASE + timedelta(days=30))
        for state in replay.entities():
            ENGINE.status_json(state)
            ENGINE.deadlines(state)
            load_state(dump_state(state))
        replay.final()
        return replay

    assert cycles_left_by(run) == 0
