"""A history through the engine, the probe SLO core and the contact core the live worker uses (pure).

The outputs are the records the worker would publish, so the ClickHouse sink's own row
builders turn them into rows. Deadlines fire up to `until` (the end of the period).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from schemas import codec
from schemas.compact import compact
from schemas.events import ContactEvent, ProbeEvent
from schemas.policy import Policy
from streams.engine.clocks import ClockEngine
from streams.engine.contacts import ContactIntervals
from streams.engine.probes import Bucket, MinuteBuckets
from streams.engine.replay import Replay
from streams.engine.service_slo import ServiceEntry, ServiceSlo
from streams.engine.slo import epoch_minute
from streams.engine.slo_plan import SloPlan
from streams.validate import AnyEvent


def _kept(value: Any) -> bytes:
    """A record's JSON as kept until the figures are read (compact.py)."""
    return compact(codec.dumps(value))


@dataclass
class Outputs:
    """What the worker would have published for the history, as record values."""

    lifecycle: list[bytes] = field(default_factory=list)  # breach topic: SLA lifecycle events, SLO alerts
    statuses: list[bytes] = field(default_factory=list)  # instances topic: one final status per entity
    minutes: list[bytes] = field(default_factory=list)  # minutes topic: closed probe minutes
    contact_intervals: list[bytes] = field(default_factory=list)  # contact intervals topic: each interval's last version
    deadlines: dict[str, datetime | None] = field(default_factory=dict)  # per SLA instance


def simulate(policy: Policy, events: Sequence[AnyEvent], until: datetime,
             progress: Callable[[int], None] = lambda n: None) -> Outputs:
    """Run `events` (in event-time order) under `policy`; `progress(n)` every 10,000 events."""
    engine = ClockEngine(policy)
    replay = Replay(engine)
    plan = SloPlan(policy)
    # Sorted input is never late; the minutes close at `until`.
    buckets = MinuteBuckets(plan.thresholds, lateness=timedelta(0), idle=timedelta(0))
    # Every contact of the history counts (kept as long as anything can be), intervals close at `until`.
    contacts = ContactIntervals(policy, lateness=timedelta(0), idle=timedelta(0), keep=timedelta(days=36500))
    out = Outputs()
    for n, event in enumerate(events, start=1):
        if isinstance(event, ProbeEvent):
            buckets.add(event, until)
        elif isinstance(event, ContactEvent):
            contacts.add(event, until)
        else:
            out.lifecycle += [_kept(o) for o in replay.feed(event)]
        if n % 10_000 == 0:
            progress(n)
    out.lifecycle += [_kept(o) for o in replay.advance(until)]
    for state in replay.entities():
        record = engine.status_json(state)
        if record is not None:
            out.statuses.append(record)  # joined from its parts: its own length
        out.deadlines.update(engine.deadlines(state))
    by_service: dict[str, list[Bucket]] = {}
    for bucket in buckets.close(until, caught_up=True):
        by_service.setdefault(bucket.service, []).append(bucket)
    slo = ServiceSlo(plan)
    end = epoch_minute(until)
    for service, closed in sorted(by_service.items()):
        first = epoch_minute(closed[0].minute)
        minutes, alerts = slo.close(ServiceEntry(0, first, -1), service, closed, first, end)
        out.minutes += [_kept(m) for m in minutes]
        out.lifecycle += [_kept(a) for a in alerts]
    intervals, contact_alerts = contacts.close(until, caught_up=True)
    out.contact_intervals += [_kept(i) for i in intervals]
    out.lifecycle += [_kept(a) for a in contact_alerts]
    progress(len(events))
    return out
