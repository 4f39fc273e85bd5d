"""What-if with hand-worked expectations: the engine and probe core over a small history,
figures read back from a scratch embedded ClickHouse, then compared."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from schemas.events import ContactEvent, ProbeEvent, TicketEvent
from schemas.policy import parse_policy
from streams.whatif.history import History
from streams.whatif.run import whatif

CURRENT = """
calendars:
  berlin: {{timezone: Europe/Berlin, hours: {{mon-fri: "08:00-18:00"}}}}
contracts:
  - id: gold
    customer: acme
    services: [checkout]
    tickets:
      calendar: {calendar}
      targets:
        P1: {{response: {response}, resolution: 8h}}
    probes:
      availability: {{objective: {objective}, window: month}}
    credits:
      - {{below: {tier}, credit: 10}}
      - {{below: 0.99, credit: 25}}
"""


def policy(response: str = "30m", calendar: str = "24x7", objective: float = 0.999, tier: float = 0.999):
    return parse_policy(CURRENT.format(response=response, calendar=calendar, objective=objective, tier=tier))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def ticket(tid: str, n: int, at: str, status: str, reply: bool = False) -> TicketEvent:
    return TicketEvent(event_id=f"{tid}-{n}", occurred_at=utc(at), source="t", ticket_id=tid, customer="acme",
                       service="checkout", priority="P1", status=status, public_reply=reply)


# (ticket, opened, first reply) in November 2026; all solved two hours after opening.
REPLIES = [("T1", "2026-11-02 10:00", "2026-11-02 10:20"), ("T2", "2026-11-03 09:00", "2026-11-03 09:25"),
           ("T3", "2026-11-04 09:00", "2026-11-04 09:05"), ("T4", "2026-11-05 09:00", "2026-11-05 10:00")]


def tickets() -> list[TicketEvent]:
    out = []
    for tid, opened, replied in REPLIES:
        solved = (utc(opened) + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
        out += [ticket(tid, 0, opened, "new"), ticket(tid, 1, replied, "open", reply=True), ticket(tid, 2, solved, "solved")]
    return out


def run(current, proposed, events, until: str):
    history = History(sorted(events, key=lambda e: (e.occurred_at, e.event_id)), [])
    comparison, _, _ = whatif(current, proposed, history, utc(until), Console(quiet=True))
    return comparison


def sla_row(comparison, metric: str):
    (row,) = [r for r in comparison.sla if r.key[1] == metric]
    return row


def test_a_tighter_response_target_turns_two_met_tickets_into_misses() -> None:
    c = run(policy("30m"), policy("15m"), tickets(), "2026-12-01 00:00")
    response = sla_row(c, "response")
    assert response.key[3].isoformat() == "2026-11-01" and response.key[2] == "P1"
    assert (response.current.met, response.current.missed, response.current.met_pct) == (3, 1, 75.0)
    assert (response.proposed.met, response.proposed.missed, response.proposed.met_pct) == (1, 3, 25.0)
    assert [(x.instance_id, x.current, x.proposed, x.current_deadline, x.proposed_deadline) for x in c.changes] == [
        ("ticket:T1:gold:response", "met", "missed", utc("2026-11-02 10:30"), utc("2026-11-02 10:15")),
        ("ticket:T2:gold:response", "met", "missed", utc("2026-11-03 09:30"), utc("2026-11-03 09:15")),
    ]
    assert not sla_row(c, "resolution").changed  # 8 h either way


def test_the_same_policy_changes_nothing() -> None:
    c = run(policy(), policy(), tickets(), "2026-12-01 00:00")
    assert c.differences == 0 and len(c.sla) == 2


def test_business_hours_move_a_friday_deadline_over_the_weekend() -> None:
    """Opened Friday 15:00 UTC (16:00 in Berlin), never solved. 24x7: 8 h end Friday 23:00 UTC,
    breached by Sunday. Business hours: 2 h on Friday, 6 h from Monday 08:00 Berlin = 13:00 UTC."""
    friday = [ticket("T5", 0, "2026-11-06 15:00", "new"), ticket("T5", 1, "2026-11-06 15:10", "open", reply=True)]
    c = run(policy(), policy(calendar="berlin"), friday, "2026-11-08 12:00")
    (change,) = c.changes
    assert (change.instance_id, change.current, change.proposed) == ("ticket:T5:gold:resolution", "breached", "open")
    assert (change.current_deadline, change.proposed_deadline) == (utc("2026-11-06 23:00"), utc("2026-11-09 13:00"))


def test_a_raised_objective_with_its_tiers_puts_a_month_into_a_credit_tier() -> None:
    """10,000 results in November, 8 failed: availability 0.9992. Below 0.999 earns 10 %:
    nothing owed. At 99.95 % (below 0.9995 earns 10 %) the same month owes 10 %."""
    start = utc("2026-11-10 00:00")
    probes = [ProbeEvent(event_id=f"p{i}", occurred_at=start + timedelta(seconds=6 * i), source="t", probe_id="p",
                         service="checkout", region="eu", ok=i % 1250 != 7, latency_ms=80.0, status_code=200)
              for i in range(10_000)]
    c = run(policy(), policy(objective=0.9995, tier=0.9995), probes, "2026-11-11 00:00")
    (row,) = c.probes
    assert row.key[:3] == ("gold", "acme", "checkout")
    assert row.current.availability == pytest.approx(0.9992) and row.proposed.availability == pytest.approx(0.9992)
    assert (row.current.credit_percent, row.proposed.credit_percent) == (0.0, 10.0)
    assert row.current.availability_budget_used == pytest.approx(0.8)
    assert row.proposed.availability_budget_used == pytest.approx(1.6)


def test_olas_are_compared_under_their_team_and_never_under_a_customer() -> None:
    # The same four tickets, each with the desk from its opening until its first reply, then
    # with network until solved. desk's response ends at its reply (20, 25, 5, 60 minutes):
    # with a 30m target 3 met, 1 missed; with 15m, 1 met, 3 missed. network's resolution: the
    # rest of the two hours (100, 95, 115, 60 minutes) against 4h: all met under both.
    olas = """
olas:
  - group: desk
    targets: {{P1: {{response: {desk}}}}}
  - group: network
    targets: {{P1: {{resolution: 4h}}}}
"""
    events = []
    for e in tickets():
        replied = e.status.value != "new"
        events.append(e.model_copy(update={"assignment_group": "network" if replied else "desk"}))
    current = parse_policy(CURRENT.format(response="30m", calendar="24x7", objective=0.999, tier=0.999)
                           + olas.format(desk="30m"))
    proposed = parse_policy(CURRENT.format(response="30m", calendar="24x7", objective=0.999, tier=0.999)
                            + olas.format(desk="15m"))
    c = run(current, proposed, events, "2026-12-01 00:00")
    desk = next(r for r in c.sla if r.key[0] == "ola:group:desk")
    assert desk.key[1:3] == ("response", "P1") and desk.current.customer == ""
    assert (desk.current.met, desk.current.missed, desk.proposed.met, desk.proposed.missed) == (3, 1, 1, 3)
    network = next(r for r in c.sla if r.key[0] == "ola:group:network")
    assert not network.changed and (network.current.met, network.current.missed) == (4, 0)
    assert network.current.mean_elapsed_s == (100 + 95 + 115 + 60) * 60 / 4
    assert sorted(x.instance_id for x in c.changes) == ["ticket:T1:ola:group:desk:response",
                                                        "ticket:T2:ola:group:desk:response"]
    assert not [r for r in c.sla if r.key[0] == "gold" and r.changed]  # the customer SLA is the same


def test_a_longer_answer_threshold_meets_every_interval_and_owes_no_credit() -> None:
    """Two intervals of acme's support queue on 2026-11-10. 10:00: waits 10, 25, 25, 5, 15 s:
    within 20 s 3 of 5 (0.6, missed at 80/20), within 30 s 5 of 5 (met). 10:15: five waits of
    5 s, met either way. Attainment 1 of 2 (0.5: under both tiers, 25 % owed) against 2 of 2
    (nothing owed); the month's level 8 / 10 = 0.8 (met) against 1.0."""
    contacts = """
    contacts:
      objectives:
        - queue: support
          service_level: {{target: 0.8, within: {within}}}
"""
    waits = [(0, w) for w in (10, 25, 25, 5, 15)] + [(15, 5)] * 5
    events = [ContactEvent(contact_id=f"c{n}", source="t", customer="acme", queue="support", channel="voice",
                           queued_at=utc("2026-11-10 10:00") + timedelta(minutes=minute),
                           answered_at=utc("2026-11-10 10:00") + timedelta(minutes=minute, seconds=wait),
                           ended_at=utc("2026-11-10 10:00") + timedelta(minutes=minute, seconds=wait + 60))
              for n, (minute, wait) in enumerate(waits)]
    base = CURRENT.format(response="30m", calendar="24x7", objective=0.999, tier=0.999)
    at = base.index("    credits:")
    current, proposed = (parse_policy(base[:at] + contacts.format(within=w).lstrip("\n") + base[at:])
                         for w in ("20s", "30s"))
    c = run(current, proposed, events, "2026-11-11 00:00")
    (row,) = c.contacts
    assert row.key[:5] == ("gold", "acme", "support", "support", "service_level") and row.key[5].isoformat() == "2026-11-01"
    assert (row.current.intervals, row.current.met, row.current.attainment, row.current.value) == (2, 1, 0.5, 0.8)
    assert (row.proposed.intervals, row.proposed.met, row.proposed.attainment, row.proposed.value) == (2, 2, 1.0, 1.0)
    assert (row.current.credit_percent, row.proposed.credit_percent) == (25.0, 0.0)
    assert row.current.month_met and row.proposed.month_met
