"""Realistic synthetic input: incident and ticket lifecycles, probe results and finished contacts (pure).

Deterministic for a seed; event times are given by the caller, so the same call
sequence always yields the same records.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

import orjson

from schemas.events import IncidentEvent, IncidentStatus, Priority, ProbeEvent, Severity, TicketEvent, TicketStatus

SERVICES = ("checkout", "search", "payments", "login", "catalog")
CUSTOMERS = ("acme", "globex", "initech", "umbrella")
REGIONS = ("eu-west", "us-east", "ap-south")

# Each ticket walks one of these paths; a reply marks the first public reply.
_TICKET_PATHS = (
    ("new", "open+reply", "solved", "closed"),
    ("new", "open+reply", "pending", "open", "solved", "closed"),
    ("new", "open", "on_hold", "open+reply", "solved", "reopened", "solved", "closed"),
)
# The support groups a ticket passes through, by update (the last one holds it from there on):
# most stay with the service desk; some are escalated, some come back (a ping-pong).
_GROUP_PATHS = (
    ("service-desk",), ("service-desk",), ("service-desk",),
    ("service-desk", "service-desk", "network"),
    ("service-desk", "network", "service-desk"),
    ("service-desk", "database", "network", "database"),
)
SUPPLIER = "telco"  # works some escalated tickets beside the group (an underpinning contract)
_INCIDENT_PATHS = (
    ("triggered", "acknowledged", "resolved"),
    ("triggered", "acknowledged", "resolved", "reopened", "resolved"),
)
Record = tuple[str, str, dict[str, Any]]  # kind, key, value


@dataclass
class _Entity:
    id: str
    customer: str
    service: str
    level: str
    path: tuple[str, ...]
    step: int = 0

    def team(self) -> tuple[str, str | None]:
        """(assignment group, supplier) at the current step: a function of the id and the step,
        so that adding teams took nothing from the random sequence the rest is drawn from."""
        n = zlib.crc32(self.id.encode())
        groups = _GROUP_PATHS[n % len(_GROUP_PATHS)]
        return groups[min(self.step, len(groups) - 1)], SUPPLIER if n % 7 == 0 and 1 <= self.step <= 2 else None


@dataclass
class SyntheticSource:
    """Emits a mix of ~75% probes, ~18% ticket updates, ~7% incident updates."""

    seed: int = 0
    rng: random.Random = field(init=False)
    _tickets: list[_Entity] = field(default_factory=list, init=False)
    _incidents: list[_Entity] = field(default_factory=list, init=False)
    _counter: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self.seed}-{self._counter}"

    def record(self, at: datetime) -> Record:
        """The next record, with occurred_at = `at`."""
        roll = self.rng.random()
        if roll < 0.75:
            return self._probe(at)
        if roll < 0.93:
            return self._ticket(at)
        return self._incident(at)

    def _probe(self, at: datetime) -> Record:
        service = self.rng.choice(SERVICES)
        ok = self.rng.random() > 0.01
        latency = self.rng.lognormvariate(4.5, 0.5) if ok else self.rng.uniform(1000, 5000)
        event = ProbeEvent(
            event_id=self._next_id("p"), occurred_at=at, source="synthetic",
            probe_id=f"{service}-{self.rng.choice(REGIONS)}", service=service,
            region=self.rng.choice(REGIONS), ok=ok, latency_ms=round(latency, 2),
            status_code=200 if ok else self.rng.choice((500, 502, 503, 504)),
        )
        return "probe", service, event.model_dump(mode="json")

    def _advance(self, pool: list[_Entity], new: _Entity) -> tuple[_Entity, str]:
        if not pool or self.rng.random() < 0.3:
            pool.append(new)
            entity = new
        else:
            entity = self.rng.choice(pool)
            entity.step += 1
        status = entity.path[entity.step]
        if entity.step == len(entity.path) - 1:
            pool.remove(entity)
        return entity, status

    def _ticket(self, at: datetime) -> Record:
        new = _Entity(
            self._next_id("T"), self.rng.choice(CUSTOMERS), self.rng.choice(SERVICES),
            self.rng.choice(("P1", "P2", "P3", "P4")), self.rng.choice(_TICKET_PATHS),
        )
        entity, status = self._advance(self._tickets, new)
        if self.rng.random() < 0.05:
            entity.level = self.rng.choice(("P1", "P2", "P3", "P4"))
        name, _, reply = status.partition("+")
        group, supplier = entity.team()
        event = TicketEvent(
            event_id=self._next_id("t"), occurred_at=at, source="synthetic", ticket_id=entity.id,
            customer=entity.customer, service=entity.service, priority=Priority(entity.level),
            status=TicketStatus(name), public_reply=bool(reply), assignment_group=group, supplier=supplier,
        )
        return "ticket", entity.id, event.model_dump(mode="json", exclude_none=True)

    def _incident(self, at: datetime) -> Record:
        new = _Entity(
            self._next_id("I"), self.rng.choice(CUSTOMERS), self.rng.choice(SERVICES),
            self.rng.choice(("SEV1", "SEV2", "SEV3", "SEV4")), self.rng.choice(_INCIDENT_PATHS),
        )
        entity, status = self._advance(self._incidents, new)
        event = IncidentEvent(
            event_id=self._next_id("i"), occurred_at=at, source="synthetic", incident_id=entity.id,
            service=entity.service, customer=entity.customer, severity=Severity(entity.level),
            status=IncidentStatus(status),
        )
        return "incident", entity.id, event.model_dump(mode="json")


def bad_records(at: datetime, max_bytes: int) -> Iterator[tuple[str, str, bytes, str]]:
    """One record of each kind of bad input: (kind, key, raw value, expected reason)."""
    good = TicketEvent(
        event_id="bad-0", occurred_at=at, source="synthetic", ticket_id="T-bad",
        customer="acme", service="checkout", priority=Priority.P1, status=TicketStatus.new,
    ).model_dump(mode="json")

    def variant(n: int, **change: Any) -> bytes:
        value = {**good, "event_id": f"bad-{n}", **change}
        return orjson.dumps({k: v for k, v in value.items() if v is not None})

    yield "ticket", "T-bad", b'{"event_id": "bad-1", "occurred_at": ', "malformed_json"
    yield "ticket", "T-bad", variant(2, priority=1), "invalid"  # wrong type
    yield "ticket", "T-bad", variant(3, ticket_id=None), "invalid"  # missing field
    yield "ticket", "T-bad", variant(4, status="escalated"), "invalid"  # unknown enum
    yield "ticket", "T-bad", variant(5, occurred_at=at.replace(tzinfo=None).isoformat()), "invalid"  # no offset
    yield "ticket", "T-bad", variant(6, occurred_at=(at + timedelta(days=3650)).isoformat()), "bad_timestamp"
    yield "ticket", "T-bad", variant(7, source="x" * 200, customer="y" * max_bytes), "too_large"
    yield "ticket", "T-bad", variant(8, public_reply=1), "invalid"  # 1 is not true
    yield "ticket", "T-bad", variant(9, occurred_at=int(at.timestamp())), "invalid"  # an epoch number
    yield "ticket", "T-elsewhere", variant(10), "wrong_key"  # valid, but keyed by another ticket
    yield "ticket", "T-bad", b'"' + b"x" * 900_000 + b'"', "too_large"  # its dead letter must still fit 1 MB
    yield "probe", "checkout", b"[1, 2, 3]", "invalid"


CONTACT_QUEUES = (("acme", "support"), ("acme", "billing"), ("globex", "support"))


def contact_day(end: datetime, seed: int = 0, hours: float = 24) -> list[Record]:
    """`hours` of finished contacts of three queues, the last ending by `end`, in end-time order
    (a contact's record is sent when it ends). The hour from five to four hours before `end` is
    a bad one: long waits, and many give up."""
    rng = random.Random(seed)
    start = end - timedelta(hours=hours)
    bad = (end - timedelta(hours=5), end - timedelta(hours=4))
    out: list[tuple[datetime, Record]] = []
    at, n = start, 0
    while at < end:
        at += timedelta(seconds=rng.randint(10, 40))
        customer, queue = rng.choice(CONTACT_QUEUES)
        slow = bad[0] <= at < bad[1] and customer == "acme"
        wait = timedelta(seconds=rng.choice((3, 5, 7, 9, 11, 13, 15, 17, 24)) + (rng.randint(40, 240) if slow else 0))
        n += 1
        value: dict[str, Any] = {"contact_id": f"c-{seed}-{n}", "source": "synthetic", "customer": customer,
                                 "queue": queue, "channel": rng.choice(("voice", "voice", "chat", "email")),
                                 "queued_at": at.isoformat()}
        if rng.random() < (0.3 if slow else 0.03):
            left = at + timedelta(seconds=rng.choice((2, 4))) if rng.random() < 0.3 else at + wait
            value |= {"abandoned_at": left.isoformat(), "ended_at": left.isoformat()}
            ended = left
        else:
            ended = at + wait + timedelta(seconds=rng.randint(60, 600))
            value |= {"answered_at": (at + wait).isoformat(), "ended_at": ended.isoformat(),
                      "first_contact_resolution": rng.random() < 0.7}
        if ended <= end:  # one still in a call at `end` sends its record later, after this day
            out.append((ended, ("contact", queue, value)))
    return [record for _, record in sorted(out, key=lambda pair: pair[0])]
