"""OLAs and underpinning contracts: each scenario worked out by hand in its comments.

The shared policy (tests/unit/streams/conftest.py): contract gold (acme, checkout, 24x7,
warnings at 50 % and 75 %) P1 response 15m / resolution 1h, P2 1h / 4h. OLAs: group
`network` on the berlin calendar (Mon-Fri 08:00-18:00 Berlin, UTC+1 in November: 07:00-17:00
UTC), warning at 50 %, P1 response 30m / resolution 2h, P2 resolution 8h; group `desk` 24x7,
pausing on pending only, P1 response 10m / resolution 1h; supplier `telco` 24x7, P1
resolution 4h. 2026-11-27 is a Friday.
"""

from __future__ import annotations

from schemas import codec
from schemas.outputs import Lifecycle
from schemas.policy import parse_policy
from streams.engine.clocks import ClockEngine
from streams.engine.state_codec import dump_state, load_state, state_to_json
from tests.unit.streams.conftest import POLICY, ticket, utc

ENGINE = ClockEngine(parse_policy(POLICY))
DESK_RESP, DESK_RESO = "ticket:T1:ola:group:desk:response", "ticket:T1:ola:group:desk:resolution"
NET_RESP, NET_RESO = "ticket:T1:ola:group:network:response", "ticket:T1:ola:group:network:resolution"


def feed(events, now=None):
    """Apply in the order given, each at now = the latest event time so far (replay style)."""
    state, out, watermark = None, [], None
    for ev in events:
        watermark = max(filter(None, (watermark, ev.occurred_at)))
        state, produced = ENGINE.apply(state, ev, now or watermark)
        out += produced
    return state, out


def said(out: list[Lifecycle], instance: str) -> list[tuple]:
    """(type, when, elapsed seconds) of an instance's lifecycle events."""
    return [(o.type.value, o.at.strftime("%m-%d %H:%M"), o.elapsed_s) for o in out if o.instance_id == instance]


def test_ping_pong_resumes_the_first_group_s_clock_where_it_stopped() -> None:
    # desk 10:00-10:20, network 10:20-11:00 (Friday 11:20-12:00 in Berlin: open), desk again
    # 11:00-11:30, solved. desk's response ends at its hand-on (10:20, 20m: breached at 10m =
    # 10:10, missed); network responds with its reply at 10:50 (30m, the target: met), its
    # 50 % warning at 15m = 10:35. desk's resolution: 20m + 30m = 50m < 1h: met at 11:30
    # (resumed at 20m, not started again); network's: 40m of 2h, met at the solve.
    state, out = feed([
        ticket("e1", "2026-11-27 10:00", "new", group="desk"),
        ticket("e2", "2026-11-27 10:20", "open", group="network"),
        ticket("e3", "2026-11-27 10:50", "open", reply=True, group="network"),
        ticket("e4", "2026-11-27 11:00", "open", group="desk"),
        ticket("e5", "2026-11-27 11:30", "solved", group="desk"),
    ])
    assert said(out, DESK_RESP) == [("breached", "11-27 10:10", 600), ("missed", "11-27 10:20", 1200)]
    assert said(out, NET_RESP) == [("warning", "11-27 10:35", 900), ("met", "11-27 10:50", 1800)]
    assert said(out, DESK_RESO) == [("met", "11-27 11:30", 3000)]
    assert said(out, NET_RESO) == [("met", "11-27 11:30", 2400)]
    assert {o.ola for o in out if o.instance_id.startswith("ticket:T1:ola:")} == {"group:desk", "group:network"}
    assert all(o.contract_id == "" for o in out if o.ola) and all(o.ola is None for o in out if o.contract_id)
    # The customer SLA's 90 minutes of resolution, by the group holding the ticket.
    gold = {s.metric: s for s in ENGINE.snapshot(state) if s.contract_id == "gold"}
    assert gold["resolution"].elapsed_s == 5400 and gold["resolution"].held_s == {"desk": 3000, "network": 2400}
    assert gold["response"].held_s == {"desk": 1200, "network": 1800}  # gold's reply came at 10:50 too


def test_a_group_calendar_of_its_own_skips_the_weekend() -> None:
    # P2 with network from Friday 16:00 UTC (17:00 Berlin): one business hour on Friday, then
    # Monday 30 Nov from 07:00 UTC. 8h target: 7h more on Monday, breached 14:00; 50 % (4h)
    # at 10:00 Monday. gold's P2 resolution (4h, 24x7) breaches Friday 20:00 meanwhile.
    state, out = feed([ticket("e1", "2026-11-27 16:00", "new", priority="P2", group="network")])
    state, fired = ENGINE.advance(state, utc("2026-11-30 14:00"))
    assert said(fired, NET_RESO) == [("warning", "11-30 10:00", 14400), ("breached", "11-30 14:00", 28800)]
    assert said(fired, "ticket:T1:gold:resolution")[-1] == ("breached", "11-27 20:00", 14400)
    _, out = ENGINE.apply(state, ticket("e2", "2026-11-30 15:00", "solved", priority="P2", group="network"),
                          utc("2026-11-30 15:00"))
    assert said(out, NET_RESO) == [("missed", "11-30 15:00", 32400)]  # 1h Friday + 8h Monday


def test_a_pause_status_of_the_group_pauses_only_its_clock() -> None:
    # desk pauses on pending only. 10:10 on_hold: a status change, desk's response met (10m,
    # the target); gold pauses, desk runs on. 10:30 pending: desk pauses at 30m. 11:30 open:
    # runs again; breached at 60m = 12:00; solved 12:05: missed with 65m. gold's resolution
    # ran 10:00-10:10 and 11:30-12:05: 45m, met; its 50 % warning (30m) at 11:50.
    state, out = feed([
        ticket("e1", "2026-11-27 10:00", "new", group="desk"),
        ticket("e2", "2026-11-27 10:10", "on_hold", group="desk"),
        ticket("e3", "2026-11-27 10:30", "pending", group="desk"),
        ticket("e4", "2026-11-27 11:30", "open", group="desk"),
    ])
    state, fired = ENGINE.advance(state, utc("2026-11-27 12:04"))
    state, done = ENGINE.apply(state, ticket("e5", "2026-11-27 12:05", "solved", group="desk"), utc("2026-11-27 12:05"))
    assert said(out, DESK_RESP) == [("met", "11-27 10:10", 600)]
    assert said(fired + done, DESK_RESO) == [("breached", "11-27 12:00", 3600), ("missed", "11-27 12:05", 3900)]
    assert said(fired + done, "ticket:T1:gold:resolution") == [("warning", "11-27 11:50", 1800),
                                                               ("met", "11-27 12:05", 2700)]
    gold = {s.metric: s for s in ENGINE.snapshot(state) if s.contract_id == "gold"}
    assert gold["resolution"].held_s == {"desk": 2700}


def test_a_priority_raised_while_assigned_re_targets_the_group_s_clocks() -> None:
    # network from 09:00 UTC Friday (10:00 Berlin) at P2 (no response target, resolution 8h).
    # 10:00 raised to P1, still new: response 30m < 1h used: its 50 % warning and breach at
    # the re-target; resolution 2h: 50 % (1h) reached at once, breached at 11:00.
    state, out = feed([
        ticket("e1", "2026-11-27 09:00", "new", priority="P2", group="network"),
        ticket("e2", "2026-11-27 10:00", "new", priority="P1", group="network"),
    ])
    state, fired = ENGINE.advance(state, utc("2026-11-27 11:00"))
    assert said(out, NET_RESP) == [("warning", "11-27 10:00", 3600), ("breached", "11-27 10:00", 3600)]
    assert said(out + fired, NET_RESO) == [("warning", "11-27 10:00", 3600), ("breached", "11-27 11:00", 7200)]
    assert [o.target_s for o in out + fired if o.instance_id == NET_RESO] == [7200, 7200]


def test_a_late_assignment_corrects_a_published_ola_outcome() -> None:
    # desk from 10:00, solved 11:30 held by desk: desk's resolution breached 11:00, missed
    # 11:30 (90m). Then a late event: network held it from 10:20. desk's time is 20m: both
    # facts are corrected, met follows. network: response ends at the hand-on back at 11:30
    # (70m: 50 % at 10:35, breached at 10:50, missed); resolution 70m of 2h: 50 % at 11:20, met.
    state, out = feed([
        ticket("e1", "2026-11-27 10:00", "new", group="desk"),
        ticket("e2", "2026-11-27 11:30", "solved", group="desk"),
    ])
    assert said(out, DESK_RESO) == [("breached", "11-27 11:00", 3600), ("missed", "11-27 11:30", 5400)]
    breached, missed = [o.event_id for o in out if o.instance_id == DESK_RESO]
    state, late = ENGINE.apply(state, ticket("e9", "2026-11-27 10:20", "open", group="network"), utc("2026-11-27 11:30"))
    assert said(late, DESK_RESO) == [("correction", "11-27 11:30", 1200), ("correction", "11-27 11:30", 1200),
                                     ("met", "11-27 11:30", 1200)]
    assert [o.corrects for o in late if o.instance_id == DESK_RESO][:2] == [breached, missed]
    assert said(late, NET_RESP) == [("warning", "11-27 10:35", 900), ("breached", "11-27 10:50", 1800),
                                    ("missed", "11-27 11:30", 4200)]
    assert said(late, NET_RESO) == [("warning", "11-27 11:20", 3600), ("met", "11-27 11:30", 4200)]


def test_a_ticket_solved_with_a_group_without_ola_ends_the_earlier_group_s_clocks() -> None:
    # desk 10:00-10:05, then db (no OLA) until solved at 12:00. desk's response ends at its
    # hand-on (5m: met); its resolution paused at 5m and ends met at the solve. No db instance.
    state, out = feed([
        ticket("e1", "2026-11-27 10:00", "new", group="desk"),
        ticket("e2", "2026-11-27 10:05", "open", group="db"),
        ticket("e3", "2026-11-27 12:00", "solved", group="db"),
    ])
    assert said(out, DESK_RESP) == [("met", "11-27 10:05", 300)]
    assert said(out, DESK_RESO) == [("met", "11-27 12:00", 300)]
    assert not [o for o in out if "group:db" in o.instance_id]
    assert said(out, "ticket:T1:gold:resolution")[-1] == ("missed", "11-27 12:00", 7200)
    gold = {s.metric: s for s in ENGINE.snapshot(state) if s.contract_id == "gold"}
    assert gold["resolution"].held_s == {"db": 6900, "desk": 300}


def test_a_supplier_s_underpinning_contract_runs_beside_the_group_s_ola() -> None:
    # desk holds the ticket with telco working it from 10:00; telco leaves at 12:00 (2h of 4h),
    # comes back at 13:00 and the ticket is solved at 15:30: 2h + 2h30 = 4h30: breached at
    # 15:00 (2h after 13:00), missed. The time without a group counts as "".
    state, out = feed([
        ticket("e1", "2026-11-27 10:00", "new", group="desk", supplier="telco"),
        ticket("e2", "2026-11-27 12:00", "open", reply=True),
        ticket("e3", "2026-11-27 13:00", "open", supplier="telco"),
        ticket("e4", "2026-11-27 15:30", "solved", supplier="telco"),
    ])
    telco = "ticket:T1:ola:supplier:telco:resolution"
    assert said(out, telco) == [("breached", "11-27 15:00", 14400), ("missed", "11-27 15:30", 16200)]
    assert {o.ola for o in out if o.instance_id == telco} == {"supplier:telco"}
    gold = {s.metric: s for s in ENGINE.snapshot(state) if s.contract_id == "gold"}
    assert gold["resolution"].held_s == {"": 12600, "desk": 7200}


def test_a_ticket_without_groups_gives_what_a_policy_without_olas_gives() -> None:
    events = [ticket("e1", "2026-11-27 10:00", "new"), ticket("e2", "2026-11-27 10:20", "open", reply=True),
              ticket("e3", "2026-11-27 12:00", "solved")]
    without = ClockEngine(parse_policy(POLICY.split("olas:")[0]))
    a_state, a_out = feed(events)
    b_state, b_out = None, []
    for ev in events:
        b_state, produced = without.apply(b_state, ev, ev.occurred_at)
        b_out += produced
    assert a_out and [codec.dumps(o) for o in a_out] == [codec.dumps(o) for o in b_out]
    assert a_state == b_state and dump_state(a_state) == dump_state(b_state)
    assert all(s.held_s is None and s.ola is None for s in ENGINE.snapshot(a_state))


def test_team_fields_survive_the_codec_and_events_without_them_keep_the_old_layout() -> None:
    state, _ = feed([ticket("e1", "2026-11-27 10:00", "new"), ticket("e2", "2026-11-27 10:05", "open", group="desk")])
    assert [len(e) for e in state_to_json(state)[2]] == [7, 9]  # an earlier worker reads the first as before
    assert load_state(dump_state(state)) == state
