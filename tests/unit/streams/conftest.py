"""A small policy and event builders shared by the engine tests."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from schemas.events import IncidentEvent, TicketEvent
from schemas.policy import Policy, parse_policy

POLICY = """
calendars:
  berlin:
    timezone: Europe/Berlin
    hours: {mon-fri: "08:00-18:00"}
    holidays: {country: DE, extra: ["2026-12-24"]}
  nights:
    timezone: Europe/Berlin
    hours: {mon-sun: "00:00-06:00"}
contracts:
  - id: gold
    customer: acme
    services: [checkout]
    tickets:
      warn_at: [0.5, 0.75]
      targets:
        P1: {response: 15m, resolution: 1h}
        P2: {response: 1h, resolution: 4h}
    incidents:
      targets:
        SEV1: {acknowledge: 5m, resolve: 1h}
  - id: biz
    customer: initech
    services: ["*"]
    tickets:
      calendar: berlin
      targets:
        P1: {resolution: 2h}
olas:
  - group: network
    calendar: berlin
    warn_at: [0.5]
    targets:
      P1: {response: 30m, resolution: 2h}
      P2: {resolution: 8h}
  - group: desk
    pause_statuses: [pending]
    targets:
      P1: {response: 10m, resolution: 1h}
  - supplier: telco
    targets:
      P1: {resolution: 4h}
"""


@pytest.fixture(scope="session")
def policy() -> Policy:
    return parse_policy(POLICY)


def utc(text: str) -> datetime:
    """'2026-11-27 10:00' or with seconds, as UTC."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)


def ticket(eid: str, at: str, status: str, priority: str = "P1", reply: bool = False,
           tid: str = "T1", customer: str = "acme", group: str | None = None, supplier: str | None = None) -> TicketEvent:
    return TicketEvent(event_id=eid, occurred_at=utc(at), source="test", ticket_id=tid, customer=customer,
                       service="checkout", priority=priority, status=status, public_reply=reply,
                       assignment_group=group, supplier=supplier)


def incident(eid: str, at: str, status: str, severity: str = "SEV1", iid: str = "I1") -> IncidentEvent:
    return IncidentEvent(event_id=eid, occurred_at=utc(at), source="test", incident_id=iid,
                         service="checkout", customer="acme", severity=severity, status=status)
