"""Input event models: incidents, ticket updates, probe results and finished contacts.

These models are the contract with producers. Exported JSON Schema files live next to
this module (schemas/json/) and a test keeps them in step.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, StrictInt,
    model_validator,
)


def _to_utc(value: datetime) -> datetime:
    """UTC, within years no SLA event can lie outside (an instant near year 1 or 9999
    cannot even be converted to UTC, nor have a deadline computed)."""
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not 1970 <= utc.year <= 2999:
        raise ValueError("must lie between the years 1970 and 2999")
    return utc


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text(value: object) -> object:
    """Only an RFC 3339 string (or a datetime, from code): never an epoch number, which
    pydantic would otherwise take as seconds or milliseconds without saying so."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time string with an offset, e.g. 2026-11-27T10:00:00Z")


UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_to_utc),
    Field(description="RFC 3339 instant with an explicit offset; stored as UTC."),
]
Identifier = Annotated[str, Field(min_length=1, max_length=256)]


class Severity(str, Enum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class IncidentStatus(str, Enum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    resolved = "resolved"
    reopened = "reopened"


class Priority(str, Enum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class TicketStatus(str, Enum):
    new = "new"
    open = "open"
    pending = "pending"
    on_hold = "on_hold"
    solved = "solved"
    closed = "closed"
    reopened = "reopened"


_KIND = "Optional; must match the topic. Replay infers it from the entity id field when absent."


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Identifier = Field(description="Unique per producer event; repeats are ignored.")
    occurred_at: UtcDatetime
    source: Identifier = Field(description="The system that produced the event.")


class IncidentEvent(_Event):
    """A change of an incident's state (from PagerDuty, Opsgenie, ...)."""

    kind: Literal["incident"] = Field(default="incident", description=_KIND)
    incident_id: Identifier = Field(description="The incident; also the Kafka key.")
    service: Identifier = Field(description="The affected service (matched against contracts' services).")
    customer: Identifier = Field(description="The customer whose contract applies.")
    severity: Severity = Field(description="A change re-targets the running clocks.")
    status: IncidentStatus = Field(description="acknowledged stops the acknowledge clock, resolved the resolve clock.")

    @property
    def entity_id(self) -> str:
        return self.incident_id


class TicketEvent(_Event):
    """A ticket creation or update (from a service desk)."""

    kind: Literal["ticket"] = Field(default="ticket", description=_KIND)
    ticket_id: Identifier = Field(description="The ticket; also the Kafka key.")
    customer: Identifier = Field(description="The customer whose contract applies.")
    service: Identifier = Field(description="The service the ticket is about (matched against contracts' services).")
    priority: Priority = Field(description="A change re-targets the running clocks.")
    status: TicketStatus = Field(description="Pause statuses stop the clocks; solved/closed stop resolution.")
    public_reply: StrictBool = Field(
        default=False, description="True when this update is an agent's public reply."
    )
    assignment_group: Identifier | None = Field(
        default=None, description="The support group holding the ticket after this update (OLAs); absent: none.",
    )
    supplier: Identifier | None = Field(
        default=None, description="The outside supplier working the ticket after this update (underpinning "
                                  "contracts); absent: none.",
    )

    @property
    def entity_id(self) -> str:
        return self.ticket_id


class ProbeEvent(_Event):
    """One synthetic probe result."""

    kind: Literal["probe"] = Field(default="probe", description=_KIND)
    probe_id: Identifier = Field(description="The probe (check) that produced the result.")
    service: Identifier = Field(description="The service probed; also the Kafka key.")
    region: Identifier = Field(description="Where the probe ran.")
    ok: StrictBool = Field(description="The result counts as good (availability SLI).")
    latency_ms: Annotated[float, Strict()] = Field(ge=0, allow_inf_nan=False, description="Response time (latency SLI).")
    status_code: StrictInt = Field(ge=0, le=999, description="Protocol status code, for the record.")

    @property
    def entity_id(self) -> str:
        return self.service


class Channel(str, Enum):
    voice = "voice"
    chat = "chat"
    email = "email"
    messaging = "messaging"


class ContactEvent(BaseModel):
    """One finished contact (a call, chat, e-mail or message) from a contact-centre platform:
    queued, then answered or abandoned, then ended. Keyed by queue (docs/contacts.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["contact"] = Field(default="contact", description=_KIND)
    contact_id: Identifier = Field(description="The contact; unique per customer: a repeated id is counted once.")
    source: Identifier = Field(description="The system that produced the record.")
    customer: Identifier = Field(description="The customer whose contract applies.")
    queue: Identifier = Field(description="The queue the contact waited in; also the Kafka key.")
    channel: Channel = Field(description="How the customer made contact.")
    queued_at: UtcDatetime = Field(description="When the contact entered the queue: it counts in this interval.")
    answered_at: UtcDatetime | None = Field(default=None, description="When an agent answered (or abandoned_at).")
    abandoned_at: UtcDatetime | None = Field(default=None, description="When the customer gave up waiting (or answered_at).")
    ended_at: UtcDatetime = Field(description="When the contact ended (after wrap-up): the record's event time.")
    first_contact_resolution: StrictBool | None = Field(
        default=None, description="Whether the answered contact resolved the matter at once; absent: not recorded.")
    agent_group: Identifier | None = Field(default=None, description="The agents' group that answered, for the record.")

    @model_validator(mode="after")
    def _one_outcome_in_order(self) -> "ContactEvent":
        if (self.answered_at is None) == (self.abandoned_at is None):
            raise ValueError("a contact has exactly one of answered_at and abandoned_at")
        left = self.answered_at or self.abandoned_at
        assert left is not None
        if not self.queued_at <= left <= self.ended_at:
            what = "answered_at" if self.answered_at is not None else "abandoned_at"
            raise ValueError(f"times out of order: queued_at <= {what} <= ended_at must hold")
        if self.first_contact_resolution is not None and self.answered_at is None:
            raise ValueError("first_contact_resolution is for answered contacts only")
        return self

    @property
    def event_id(self) -> str:
        return self.contact_id

    @property
    def occurred_at(self) -> datetime:
        """The record's event time (what "too far in the future or past" and watermarks use)."""
        return self.ended_at

    @property
    def entity_id(self) -> str:
        return self.queue


Event = Annotated[
    Union[IncidentEvent, TicketEvent, ProbeEvent, ContactEvent], Field(discriminator="kind")
]
EventKind = Literal["incident", "ticket", "probe", "contact"]
EVENT_MODELS: dict[str, type[IncidentEvent] | type[TicketEvent] | type[ProbeEvent] | type[ContactEvent]] = {
    "incident": IncidentEvent,
    "ticket": TicketEvent,
    "probe": ProbeEvent,
    "contact": ContactEvent,
}

_ID_FIELDS = {"ticket_id": "ticket", "incident_id": "incident", "probe_id": "probe", "contact_id": "contact"}


def implied_kind(obj: dict[str, object]) -> str | None:
    """The event kind an object stands for: its `kind`, else the one entity id field it has."""
    kind = obj.get("kind")
    if isinstance(kind, str):
        return kind
    kinds = {k for name, k in _ID_FIELDS.items() if name in obj}
    return kinds.pop() if len(kinds) == 1 else None


MAX_BATCH = 1000  # results in one probe batch record
ProbeBatch = Annotated[
    list[ProbeEvent],
    Field(min_length=1, max_length=MAX_BATCH,
          description="Probe results of one service (the Kafka key) in one record: each result is judged, "
                      "counted or dead-lettered on its own."),
]
