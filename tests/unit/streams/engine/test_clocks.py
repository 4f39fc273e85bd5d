"""SLA clock rules, each with expectations worked out by hand in the comments."""

from __future__ import annotations

import orjson
import pytest

from schemas.outputs import SlaEvent
from streams.engine.clocks import ClockEngine, event_id
from streams.engine.replay import Replay
from tests.unit.streams.conftest import ticket, utc

RESP = "ticket:T1:gold:response"
RESO = "ticket:T1:gold:resolution"


@pytest.fixture
def engine(policy) -> ClockEngine:
    return ClockEngine(policy)


def feed(engine, events, now=None):
    """Apply events in the order given, each at now = max event time so far (replay style)."""
    state, out, watermark = None, [], None
    for ev in events:
        watermark = max(filter(None, (watermark, ev.occurred_at)))
        state, produced = engine.apply(state, ev, now or watermark)
        out += produced
    return state, out


def without_versions(engine, state, now) -> list[dict]:
    return [s.model_dump(exclude={"version"}) for s in engine.status(state, now)]


def effective(state) -> dict[str, dict[str, str]]:
    """Facts that currently hold per instance (ids and versions left out)."""
    return {i: {k: p.summary for k, p in ledger.facts.items()} for i, ledger in state.ledgers.items() if ledger.facts}


def summary(events: list[SlaEvent], instance: str | None = None) -> list[tuple]:
    return [
        (e.type.value, e.at.strftime("%m-%d %H:%M:%S"), e.threshold)
        for e in events if instance is None or e.instance_id == instance
    ]


def test_breach_fires_at_the_deadline_without_new_events_and_only_once(engine) -> None:
    # P1 response 15m, warnings at 50% (7m30s) and 75% (11m15s); opened 10:00 on a 24x7 clock.
    state, out = feed(engine, [ticket("e1", "2026-11-27 10:00", "new")])
    assert out == []
    state, out = engine.advance(state, utc("2026-11-27 10:14:59"))
    assert summary(out, RESP) == [("warning", "11-27 10:07:30", 0.5), ("warning", "11-27 10:11:15", 0.75)]
    state, out = engine.advance(state, utc("2026-11-27 10:15"))
    assert summary(out) == [("breached", "11-27 10:15:00", None)]
    assert out[0].elapsed_s == 900 and out[0].target_s == 900
    state, again = engine.advance(state, utc("2026-11-27 10:20"))
    assert summary(again) == []


def test_next_due_is_the_next_threshold(engine) -> None:
    state, _ = feed(engine, [ticket("e1", "2026-11-27 10:00", "new")])
    assert state.next_due == utc("2026-11-27 10:07:30")
    state, _ = engine.advance(state, utc("2026-11-27 10:12"))
    assert state.next_due == utc("2026-11-27 10:15")
    state, _ = engine.apply(state, ticket("b", "2026-11-27 10:13", "solved", reply=True), utc("2026-11-27 10:13"))
    assert state.next_due is None


def test_pause_stops_the_clock_and_reply_meets_response(engine) -> None:
    # P2: response 1h, resolution 4h. new 09:00, reply 09:20 (response met, 20m),
    # pending 10:00-12:00 (paused 2h), solved 14:30: resolution elapsed 1h + 2h30 = 3h30 <= 4h.
    events = [
        ticket("a", "2026-11-27 09:00", "new", "P2"),
        ticket("b", "2026-11-27 09:20", "open", "P2", reply=True),
        ticket("c", "2026-11-27 10:00", "pending", "P2"),
        ticket("d", "2026-11-27 12:00", "open", "P2"),
        ticket("e", "2026-11-27 14:30", "solved", "P2"),
    ]
    state, out = feed(engine, events)
    assert summary(out, RESP) == [("met", "11-27 09:20:00", None)]
    # Resolution warnings: 50% = 2h of SLA time -> 09:00 + 1h, paused, +1h from 12:00 = 13:00;
    # 75% = 3h -> 14:00. Then met at 14:30.
    assert summary(out, RESO) == [
        ("warning", "11-27 13:00:00", 0.5), ("warning", "11-27 14:00:00", 0.75), ("met", "11-27 14:30:00", None),
    ]
    met = [e for e in out if e.type.value == "met" and e.instance_id == RESO][0]
    assert met.elapsed_s == 3.5 * 3600


def test_deadline_while_paused_and_after_resume(engine) -> None:
    state, _ = feed(engine, [
        ticket("a", "2026-11-27 09:00", "new", "P2", reply=True),
        ticket("b", "2026-11-27 10:00", "on_hold", "P2"),
    ])
    status = {s.metric: s for s in engine.status(state, utc("2026-11-27 11:00"))}
    assert status["resolution"].state == "paused" and status["resolution"].deadline is None
    assert status["resolution"].elapsed_s == 3600
    state, _ = engine.apply(state, ticket("c", "2026-11-27 12:00", "open", "P2"), utc("2026-11-27 12:00"))
    # 1h used, 3h left from 12:00 -> 15:00.
    status = {s.metric: s for s in engine.status(state, utc("2026-11-27 12:00"))}
    assert status["resolution"].deadline == utc("2026-11-27 15:00")


def test_business_hours_across_a_weekend(engine) -> None:
    # biz: resolution 2h, Berlin Mon-Fri 08-18. Fri 27 Nov 17:30 CET (16:30Z): 30m Friday,
    # 1h30 Monday from 08:00 CET -> Mon 30 Nov 09:30 CET = 08:30Z.
    state, _ = feed(engine, [ticket("a", "2026-11-27 16:30", "new", tid="B1", customer="initech")])
    (status,) = engine.status(state, utc("2026-11-27 16:30"))
    assert status.instance_id == "ticket:B1:biz:resolution"
    assert status.deadline == utc("2026-11-30 08:30")
    state, out = engine.advance(state, utc("2026-11-30 08:29:59"))
    assert out == []
    state, out = engine.advance(state, utc("2026-11-30 08:30"))
    assert summary(out) == [("breached", "11-30 08:30:00", None)]


def test_public_holidays_push_the_deadline(engine) -> None:
    # Wed 23 Dec 17:00 CET (16:00Z): 1h Wednesday; 24 Dec (extra), 25 Dec (holiday), weekend;
    # Mon 28 Dec 08:00-09:00 CET -> deadline 08:00Z.
    state, _ = feed(engine, [ticket("a", "2026-12-23 16:00", "new", tid="B2", customer="initech")])
    (status,) = engine.status(state, utc("2026-12-23 16:00"))
    assert status.deadline == utc("2026-12-28 08:00")


@pytest.mark.parametrize(
    ("created", "deadline"),
    [
        # Spring: Fri 27 Mar 17:00 CET (16:00Z) + 1h Fri, + 1h Mon 30 Mar 08:00 CEST (06:00Z) -> 07:00Z.
        ("2026-03-27 16:00", "2026-03-30 07:00"),
        # Autumn: Fri 23 Oct 17:00 CEST (15:00Z) + 1h Fri, + 1h Mon 26 Oct 08:00 CET (07:00Z) -> 08:00Z.
        ("2026-10-23 15:00", "2026-10-26 08:00"),
    ],
)
def test_deadlines_across_dst_changes(engine, created: str, deadline: str) -> None:
    state, _ = feed(engine, [ticket("a", created, "new", tid="B3", customer="initech")])
    (status,) = engine.status(state, utc(created))
    assert status.deadline == utc(deadline)


def test_pause_spanning_off_hours(engine) -> None:
    # Mon 30 Nov 16:00 CET (15:00Z) new; pending at 17:00 CET after 1h; open again Tue 10:00 CET
    # (09:00Z). 1h left from Tue 10:00 CET -> 11:00 CET = 10:00Z (not 09:00 CET, as without the pause).
    state, _ = feed(engine, [
        ticket("a", "2026-11-30 15:00", "new", tid="B4", customer="initech"),
        ticket("b", "2026-11-30 16:00", "pending", tid="B4", customer="initech"),
        ticket("c", "2026-12-01 09:00", "open", tid="B4", customer="initech"),
    ])
    (status,) = engine.status(state, utc("2026-12-01 09:00"))
    assert status.elapsed_s == 3600
    assert status.deadline == utc("2026-12-01 10:00")


def test_priority_raise_re_targets_and_breaches_at_once(engine) -> None:
    # P2 response 1h opened 10:00; at 10:20 raised to P1 (15m): 20m elapsed >= 15m, so both
    # warnings and the breach fire at 10:20, with P1 as the level.
    state, out = feed(engine, [
        ticket("a", "2026-11-27 10:00", "new", "P2"),
        ticket("b", "2026-11-27 10:20", "open", "P1"),
    ])
    assert summary(out, RESP) == [
        ("warning", "11-27 10:20:00", 0.5), ("warning", "11-27 10:20:00", 0.75), ("breached", "11-27 10:20:00", None),
    ]
    assert {e.level for e in out if e.instance_id == RESP} == {"P1"}
    assert [e.version for e in out if e.instance_id == RESP] == [1, 2, 3]


def test_priority_lowered_keeps_elapsed_and_moves_the_deadline(engine) -> None:
    # P1 opened 10:00, lowered to P2 at 10:05: 5m elapsed, target 1h -> deadline 11:00; no breach at 10:15.
    state, _ = feed(engine, [
        ticket("a", "2026-11-27 10:00", "new", "P1"),
        ticket("b", "2026-11-27 10:05", "open", "P2"),
    ])
    state, out = engine.advance(state, utc("2026-11-27 10:16"))
    assert summary(out, RESP) == []
    status = {s.metric: s for s in engine.status(state, utc("2026-11-27 10:16"))}
    assert status["response"].deadline == utc("2026-11-27 11:00")
    assert status["response"].elapsed_s == 16 * 60


def test_reopen_resumes_resolution_with_elapsed_kept(engine) -> None:
    # P1 resolution 1h: new 10:00, solved 10:40 (met, 40m); reopened 11:00; 75% = 45m at 11:05;
    # breach at 11:20; solved 11:30 -> missed with 70m.
    state, out = feed(engine, [
        ticket("a", "2026-11-27 10:00", "new", reply=True),
        ticket("b", "2026-11-27 10:40", "solved"),
        ticket("c", "2026-11-27 11:00", "reopened"),
        ticket("d", "2026-11-27 11:30", "solved"),
    ])
    assert summary(out, RESO) == [
        ("warning", "11-27 10:30:00", 0.5), ("met", "11-27 10:40:00", None),
        ("warning", "11-27 11:05:00", 0.75), ("breached", "11-27 11:20:00", None), ("missed", "11-27 11:30:00", None),
    ]
    assert [e for e in out if e.instance_id == RESO][-1].elapsed_s == 70 * 60


def test_duplicates_change_nothing(engine) -> None:
    first = ticket("a", "2026-11-27 10:00", "new")
    state, _ = feed(engine, [first, ticket("b", "2026-11-27 10:20", "open")])
    again, out = engine.apply(state, first, utc("2026-11-27 10:20"))
    assert out == [] and again == state


def test_out_of_order_events_are_applied_in_event_time_order(engine) -> None:
    in_order = [
        ticket("a", "2026-11-27 09:00", "new", "P2"),
        ticket("b", "2026-11-27 09:30", "pending", "P2"),
        ticket("c", "2026-11-27 11:00", "open", "P2", reply=True),
    ]
    now = utc("2026-11-27 11:00")
    s1, _ = feed(engine, in_order, now)
    s2, _ = feed(engine, list(reversed(in_order)), now)
    # Versions differ (in order, facts were published and then corrected); what holds does not.
    assert without_versions(engine, s1, now) == without_versions(engine, s2, now)
    assert effective(s1) == effective(s2)
    # Response: 30m of 1h used before the pause -> the 50% warning at 09:30 holds; met at 11:00.
    assert effective(s2)[RESP] == {"outcome:0": "met|2026-11-27T11:00:00+00:00", "warning:0.5": "warning|2026-11-27T09:30:00+00:00"}
    (reso,) = [s for s in engine.status(s2, now) if s.metric == "resolution"]
    assert reso.elapsed_s == 30 * 60 and reso.state == "running"


def test_late_reply_turns_a_published_breach_into_met(engine) -> None:
    # P1 response 15m, opened 10:00. The watermark reaches 10:16: warnings 10:07:30 and 10:11:15
    # and the breach 10:15 are published (v1-v3). Then the reply of 10:10 arrives: the clock stopped
    # at 10:10, so the 75% warning and the breach never happened. Corrections (v4, v5, in key
    # order) retract them, and `met` at 10:10 follows (v6).
    state, _ = feed(engine, [ticket("a", "2026-11-27 10:00", "new")])
    state, published = engine.advance(state, utc("2026-11-27 10:16"))
    breach = [e for e in published if e.instance_id == RESP and e.type.value == "breached"][0]
    warn75 = [e for e in published if e.instance_id == RESP and e.threshold == 0.75][0]
    state, out = engine.apply(state, ticket("b", "2026-11-27 10:10", "open", reply=True), utc("2026-11-27 10:16"))
    resp = [e for e in out if e.instance_id == RESP]
    assert [(e.type.value, e.corrects, e.version) for e in resp] == [
        ("correction", breach.event_id, 4), ("correction", warn75.event_id, 5), ("met", None, 6),
    ]
    assert resp[-1].at == utc("2026-11-27 10:10") and resp[-1].elapsed_s == 600
    (status,) = [s for s in engine.status(state, utc("2026-11-27 10:16")) if s.metric == "response"]
    # Status version: 2 applied events + 6 lifecycle events, above every earlier row's.
    assert status.outcome == "met" and not status.breached and status.version == 8


def test_event_ids_name_the_fact_not_the_order_it_was_published_in(engine) -> None:
    """P1 response 15m from 10:00, reply at 10:09. Read in order: 50% warning, then met (the
    second event of the instance). Read after the watermark reached 10:12: 50% and 75%
    warnings, a correction of the 75% one, then met (the fourth). `met` is the same fact
    either way, so it has the same id; a correction's id follows from the id it retracts."""
    opened, reply = ticket("a", "2026-11-27 10:00", "new"), ticket("b", "2026-11-27 10:09", "open", reply=True)
    state, _ = feed(engine, [opened])
    state, warned = engine.advance(state, utc("2026-11-27 10:08"))
    _, straight = engine.apply(state, reply, utc("2026-11-27 10:09"))
    late, _ = feed(engine, [opened])
    late, _ = engine.advance(late, utc("2026-11-27 10:12"))
    _, after = engine.apply(late, reply, utc("2026-11-27 10:12"))
    met = [(e.version, e.event_id) for e in straight if e.instance_id == RESP and e.type.value == "met"]
    met_late = [(e.version, e.event_id) for e in after if e.instance_id == RESP and e.type.value == "met"]
    assert (met[0][0], met_late[0][0]) == (2, 4) and met[0][1] == met_late[0][1]
    (correction,) = [e for e in after if e.type.value == "correction"]
    assert correction.event_id == event_id(RESP, "correction", correction.corrects or "")


def test_deadlines_of_met_breached_and_paused_instances(engine) -> None:
    """2026-11-27 is a Friday. T1: replied at 10:05 (response met; its deadline stays 10:15),
    pending 10:20-10:50, so resolution's hour of SLA time ends at 11:30, not 11:00."""
    state = None
    for e in (ticket("a", "2026-11-27 10:00", "new"), ticket("b", "2026-11-27 10:05", "open", reply=True),
              ticket("c", "2026-11-27 10:20", "pending"), ticket("d", "2026-11-27 10:50", "open")):
        state, _ = engine.apply(state, e, e.occurred_at)
    got = engine.deadlines(state)
    assert got["ticket:T1:gold:response"] == utc("2026-11-27 10:15")
    assert got["ticket:T1:gold:resolution"] == utc("2026-11-27 11:30")
    state, _ = engine.advance(state, utc("2026-11-27 12:00"))
    assert engine.deadlines(state)["ticket:T1:gold:resolution"] == utc("2026-11-27 11:30")  # the breach instant
    biz = None  # business hours (Berlin, 08-18): 2 h from Friday 17:00 local end on Monday 09:00 local
    for e in (ticket("x", "2026-11-27 16:00", "new", tid="T9", customer="initech"),
              ticket("y", "2026-11-27 16:30", "solved", tid="T9", customer="initech")):
        biz, _ = engine.apply(biz, e, e.occurred_at)
    assert engine.deadlines(biz)["ticket:T9:biz:resolution"] == utc("2026-11-30 08:00")


def test_contracts_per_service_are_remembered_within_a_bound(policy, monkeypatch) -> None:
    # Services come from input, so the engine's memo of each service's contracts is bounded:
    # past the bound it starts afresh, and every ticket still gets exactly its contracts' instances
    # (gold covers acme's checkout with both metrics, biz every initech service with resolution only).
    monkeypatch.setattr("streams.engine.clocks._COVERS_KEPT", 2)
    engine = ClockEngine(policy)
    expected = {("acme", "checkout"): ["gold:response", "gold:resolution"], ("acme", "search"): [],
                ("initech", "a"): ["biz:resolution"], ("initech", "b"): ["biz:resolution"]}
    for n, key in enumerate([*expected, ("acme", "checkout"), ("initech", "a"), ("acme", "search")]):
        customer, service = key
        event = ticket(f"e{n}", "2026-11-27 10:00", "new", tid=f"T{n}", customer=customer)
        state, _ = engine.apply(None, event.model_copy(update={"service": service}), event.occurred_at)
        got = [s.instance_id.split(":", 2)[2] for s in engine.status(state, event.occurred_at)]
        assert got == expected[key], key
        assert len(engine._covering) <= 2


def test_an_entity_never_takes_another_customers_event(engine) -> None:
    """State is keyed by customer and id; an engine handed another customer's event refuses it."""
    state, _ = feed(engine, [ticket("a", "2026-11-27 10:00", "new")])
    with pytest.raises(ValueError, match="customer 'acme' cannot take an event of 'initech'"):
        engine.apply(state, ticket("b", "2026-11-27 10:01", "new", customer="initech"), utc("2026-11-27 10:01"))


def test_replay_keeps_one_ticket_per_customer_for_a_shared_id(engine) -> None:
    replay = Replay(engine)
    replay.feed(ticket("a", "2026-11-27 10:00", "new"))
    replay.feed(ticket("b", "2026-11-27 10:01", "new", customer="initech"))
    replay.feed(ticket("c", "2026-11-27 10:02", "open", reply=True))
    rows = {(s.instance_id, s.customer, s.state) for s in replay.final()}
    assert rows == {("ticket:T1:gold:response", "acme", "stopped"), ("ticket:T1:gold:resolution", "acme", "running"),
                    ("ticket:T1:biz:resolution", "initech", "running")}


def test_an_instance_row_of_one_version_does_not_change_with_another_instances_facts(engine) -> None:
    """The response row (breached 10:15) is the same row before and after the resolution
    breaches (11:00): same version, same content. Before, its as_of and elapsed followed the
    entity's latest fact, so two rows of one version differed and either could win."""
    state, _ = feed(engine, [ticket("a", "2026-11-27 10:00", "new")])
    state, _ = engine.advance(state, utc("2026-11-27 10:20"))
    before = {s.instance_id: s for s in engine.snapshot(state)}
    state, out = engine.advance(state, utc("2026-11-27 11:05"))
    assert ("breached", "11-27 11:00:00", None) in summary(out, RESO)
    after = {s.instance_id: s for s in engine.snapshot(state)}
    assert after[RESP] == before[RESP]
    assert after[RESP].as_of == utc("2026-11-27 10:15") and after[RESP].elapsed_s == 900.0
    assert after[RESO].as_of == utc("2026-11-27 11:00") and after[RESO].version > before[RESO].version


def test_status_records_reusing_earlier_rows_equal_records_built_afresh(engine) -> None:
    """A record built with the rows of the entity's earlier records is the record built from
    nothing, after events and deadlines alike; at the resolution's warning (10:45, 75 % of
    1 h) only its row changes, so the response row (breached 10:15, version unchanged) is
    the earlier one itself."""
    reuse: dict = {}
    state, _ = feed(engine, [ticket("a", "2026-11-27 10:00", "new")])
    steps = [("advance", "2026-11-27 10:20"), ("event", "2026-11-27 10:30"), ("advance", "2026-11-27 10:50"),
             ("advance", "2026-11-27 11:05")]
    for n, (step, at) in enumerate(steps):
        if step == "event":
            state, _ = engine.apply(state, ticket(f"b{n}", at, "open"), utc(at))
        else:
            state, _ = engine.advance(state, utc(at))
        rows_before = dict(reuse)
        record = engine.status_json(state, reuse)
        assert record is not None and record == engine.status_json(state)
        assert [row["instance_id"] for row in orjson.loads(record)["instances"]] == list(reuse)
        if at == "2026-11-27 10:50":
            assert reuse[RESP] is rows_before[RESP]  # taken as it was: neither derived nor serialised again
            assert reuse[RESO][0] > rows_before[RESO][0] and reuse[RESO][1] != rows_before[RESO][1]
