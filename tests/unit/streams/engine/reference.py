"""A straightforward reference for the clock engine's facts, for property tests.

It walks an entity's events from the first every time it is asked, keeps nothing between
calls and knows nothing of the engine's runs, rolls, due instants or ledgers: only the SLA
rules of docs/sla-semantics.md over a compiled plan's calendar, targets, pause
statuses and threshold fractions, in datetimes. The engine must publish exactly these facts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import LifecycleType
from streams.engine.clocks import ClockEngine

TERMINAL = {"ticket": {"solved", "closed"}, "incident": {"resolved"}}


def stops(kind: str, metric: str, status: str, reply: bool) -> bool:
    """Whether an event with `status` (and a public reply) stops the metric's clock."""
    if metric == "response":
        return reply or status in TERMINAL["ticket"]
    if metric == "acknowledge":
        return status in ("acknowledged", "resolved")
    return status in TERMINAL[kind]


def team_of(event: TicketEvent | IncidentEvent, ola: str) -> bool:
    """Whether the OLA's team ("group:<name>" or "supplier:<name>") holds the ticket after `event`."""
    field, _, name = ola.partition(":")
    value = event.assignment_group if field == "group" else event.supplier
    return isinstance(event, TicketEvent) and value == name


def reference_facts(engine: ClockEngine, events: list[TicketEvent | IncidentEvent],
                    now: datetime) -> dict[str, dict[str, str]]:
    """Per SLA and OLA instance id of the entity, its facts as of `now`: key -> "type|instant".
    An OLA's clock starts when its team first holds the ticket and runs only while it does;
    its response stops at the team's first reply, status change or hand-on."""
    if not events:
        return {}
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    first, last = ordered[0], ordered[-1]
    kind = first.kind
    entity = first.ticket_id if isinstance(first, TicketEvent) else first.incident_id
    out = {}
    olas = [p for plans in engine._olas.values() for p in plans]
    for plan in (*engine._plans_of(kind, last.customer, last.service), *olas):
        ola = plan.ola
        history = ordered
        if ola is not None:
            held = [i for i, e in enumerate(ordered) if team_of(e, ola)]
            if not held:
                continue
            history = ordered[held[0]:]
        levels = [e.priority.value if isinstance(e, TicketEvent) else e.severity.value for e in history]
        if not any(level in plan.targets for level in levels):
            continue
        targets = {level: timedelta(microseconds=us) for level, us in plan.targets.items()}
        facts: dict[str, tuple[LifecycleType, datetime]] = {}
        elapsed, prev, level = timedelta(0), history[0].occurred_at, levels[0]
        running, stopped, cycle = False, False, 0

        def cross(t0: datetime, t1: datetime, inclusive: bool) -> None:
            """Fire the thresholds the running clock reaches in [t0, t1] (t1 itself if inclusive)."""
            target = targets.get(level)
            if target is None:
                return
            for fraction, key in plan.fractions:
                needed = target * fraction
                if key in facts:
                    continue
                at = t0 if elapsed >= needed else plan.calendar.add(t0, needed - elapsed)
                if at < t1 or (inclusive and at == t1):
                    facts[key] = (LifecycleType.breached if fraction == 1.0 else LifecycleType.warning, at)

        for i, (event, event_level) in enumerate(zip(history, levels)):
            status = event.status.value
            reply = isinstance(event, TicketEvent) and event.public_reply
            if ola is None:
                ends = stops(kind, plan.metric, status, reply)
            else:
                acted = i > 0 and team_of(history[i - 1], ola) and (
                    reply or status != history[i - 1].status.value or not team_of(event, ola))
                ends = status in TERMINAL["ticket"] or (plan.metric == "response" and acted)
            if i and running:
                cross(prev, event.occurred_at, inclusive=not ends)
                elapsed += plan.calendar.elapsed(prev, event.occurred_at)
            prev, level = event.occurred_at, event_level
            target = targets.get(level)
            if not stopped and ends:
                stopped = True
                if target is not None and elapsed > target and "breached" not in facts:
                    facts["breached"] = (LifecycleType.breached, prev)  # re-targeted below the time used
                outcome = LifecycleType.missed if "breached" in facts else LifecycleType.met
                facts[f"outcome:{cycle}"] = (outcome, prev)
            elif stopped and plan.metric in ("resolution", "resolve") and status not in TERMINAL[kind]:
                stopped, cycle = False, cycle + 1  # reopened: the resolution clock runs on
            running = not stopped and status not in plan.pause and (ola is None or team_of(event, ola))
            if running:
                cross(prev, prev, inclusive=True)  # a re-target may put the time used past thresholds
        if running and now > prev:
            cross(prev, now, inclusive=True)
        out[f"{kind}:{entity}:{plan.slot}:{plan.metric}"] = {
            key: f"{type_.value}|{at.isoformat()}" for key, (type_, at) in facts.items() if at <= now}
    return out
