"""Engine outputs: SLA lifecycle events (breach topic), SLA instance status records, probe SLO records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.compact import dumps_kept


class LifecycleType(str, Enum):
    warning = "warning"
    breached = "breached"
    met = "met"
    missed = "missed"
    correction = "correction"


class _InstanceRef(BaseModel):
    """What every SLA output says about the instance it belongs to."""

    model_config = ConfigDict(frozen=True)

    instance_id: str = Field(description="kind:entity:contract:metric (an OLA: kind:entity:ola:<team>:metric); the Kafka key")
    kind: Literal["ticket", "incident"]
    entity_id: str
    contract_id: str
    customer: str
    service: str
    metric: Literal["response", "resolution", "acknowledge", "resolve"]
    ola: str | None = Field(
        default=None, description='for an OLA instance: the team it measures, "group:<name>" or "supplier:<name>" '
                                  '(contract_id is then empty); null for a customer SLA',
    )


class SlaEvent(_InstanceRef):
    """One step in an SLA instance's life, as published on the breach topic.

    `event_id` is derived from the instance and the fact alone (its type, threshold and the
    instant it belongs to; for a correction, the id it retracts), never from the order of
    processing, so any replay or restart yields the same ids and alerting systems can drop
    what they have seen.
    """

    schema_version: Literal[1] = 1
    event_id: str
    version: int = Field(ge=1, description="increases with every event of the instance")
    type: LifecycleType
    at: datetime = Field(description="event time of the fact (deadline, threshold crossing or stop)")
    level: str = Field(description="priority or severity in force at `at`")
    target_s: float | None
    elapsed_s: float = Field(description="SLA time elapsed at `at`")
    threshold: float | None = Field(default=None, description="for warnings: fraction of the target")
    corrects: str | None = Field(
        default=None, description="for corrections: the event_id that no longer holds; what holds follows"
    )


@dataclass(slots=True)
class Lifecycle:
    """An `SlaEvent` as a plain record: what the clock engine builds for each lifecycle event
    (a pydantic model per output was a sixth of replay time). Its fields are SlaEvent's,
    declared in name order, so that its JSON (orjson writes a dataclass's fields in declared
    order) is the model's with sorted keys, byte for byte (tests/unit/schemas/test_codec.py).
    Every field is required, so that the engine can pass them by position (a third of the time
    of keywords for 18 fields)."""

    at: datetime
    contract_id: str
    corrects: str | None
    customer: str
    elapsed_s: float
    entity_id: str
    event_id: str
    instance_id: str
    kind: Literal["ticket", "incident"]
    level: str
    metric: Literal["response", "resolution", "acknowledge", "resolve"]
    ola: str | None
    schema_version: Literal[1]
    service: str
    target_s: float | None
    threshold: float | None
    type: LifecycleType
    version: int


class InstanceStatus(_InstanceRef):
    """Current state of one SLA instance (a row of sla_instance_status)."""

    version: int = Field(description="only grows for the instance: the latest row is the one with the largest")
    level: str
    state: Literal["running", "paused", "stopped"]
    started_at: datetime
    stopped_at: datetime | None
    target_s: float | None
    elapsed_s: float
    deadline: datetime | None = Field(
        description="while running: when the target is (or was, if breached) reached; null when paused or stopped"
    )
    breached: bool
    outcome: Literal["met", "missed"] | None
    as_of: datetime
    held_s: dict[str, float] | None = Field(
        default=None, description="for a customer SLA of a ticket that was ever assigned: its elapsed_s split by "
                                  'the assignment group holding the ticket meanwhile ("" for no group)',
    )


class EntityStatus(BaseModel):
    """Every SLA instance of one ticket or incident after a change: one record per change,
    keyed by the JSON array [kind, customer, entity_id] on the compacted instances topic (its last
    record holds them all)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    kind: Literal["ticket", "incident"]
    entity_id: str
    instances: list[InstanceStatus]


def entity_key(kind: str, customer: str, entity_id: str) -> bytes:
    """A ticket's or incident's key in worker state and on the instances topic. Ids are
    scoped by customer (service desks of different customers number tickets alike); a JSON
    array, so that no pair of ids can spell another's key."""
    return dumps_kept([kind, customer, entity_id])


Sli = Literal["availability", "latency"]


class ContractMinute(BaseModel):
    """How one closed minute counts for a contract covering the service."""

    model_config = ConfigDict(frozen=True)

    contract_id: str
    customer: str
    fast: int | None = Field(description="results within the contract's latency threshold; null without a latency SLO")
    excluded: bool = Field(description="the minute lies in a maintenance window of the contract")


class ProbeMinute(BaseModel):
    """A closed (service, minute) bucket of probe results; keyed by service on the minutes topic."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    service: str
    minute: datetime
    total: int
    good: int
    latency_sum_ms: float
    latency_max_ms: float
    fast_le_ms: list[float] = Field(description="latency thresholds of the covering contracts")
    fast: list[int] = Field(description="results at or under each threshold in fast_le_ms")
    contracts: list[ContractMinute]


class SloAlert(BaseModel):
    """A burn-rate or no-data alert changing state, as published on the breach topic."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Field(description="derived from contract, service, SLI, alert, state and time")
    kind: Literal["slo"] = "slo"
    type: Literal["firing", "resolved"]
    alert: str = Field(description='the burn-rate rule name, or "no_data"')
    severity: Literal["page", "ticket"]
    at: datetime = Field(description="event time: the end of the minute evaluated, or when the silence began/ended")
    contract_id: str
    customer: str
    service: str
    sli: Sli | None = Field(description="null for no_data")
    objective: float | None
    factor: float | None = None
    long_window_s: float | None = None
    short_window_s: float | None = None
    long_burn: float | None = None
    short_burn: float | None = None
    budget_remaining: float | None = Field(default=None, description="share of the SLO window's error budget left")


class SloStatus(BaseModel):
    """Rolling SLIs of one (contract, service, SLI) at the end of a closed minute (a row of slo_status)."""

    model_config = ConfigDict(frozen=True)

    contract_id: str
    customer: str
    service: str
    sli: Sli
    objective: float
    window: str = Field(description='the SLO window, e.g. "30d" or "month"')
    as_of: datetime
    error_rate_5m: float | None
    error_rate_30m: float | None
    error_rate_1h: float | None
    error_rate_6h: float | None
    error_rate_1d: float | None
    error_rate_3d: float | None
    error_rate_window: float | None
    burn_rate_1h: float
    budget_remaining: float
    firing: list[str]


def alert_id(*parts: object) -> str:
    """Deterministic id of an SLO alert change."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


ContactMeasure = Literal["service_level", "asa", "abandonment"]


class ChannelCounts(BaseModel):
    """One channel's contacts of a queue's interval."""

    model_config = ConfigDict(frozen=True)

    channel: Literal["voice", "chat", "email", "messaging"]
    offered: int
    answered: int
    abandoned: int
    wait_answered_s: float = Field(description="sum of the answered contacts' waits (ASA = this / answered)")
    handle_s: float = Field(description="sum of the answered contacts' handle times, answer to end (AHT = this / answered)")
    fcr_recorded: int = Field(description="answered contacts with first_contact_resolution recorded")
    fcr_resolved: int = Field(description="those of them resolved at first contact")
    short_le_s: list[float] = Field(description="short-abandon thresholds of the covering contracts")
    short_abandoned: list[int] = Field(description="abandons at or under each threshold in short_le_s")
    within_le_s: list[float] = Field(description="service-level thresholds of the covering objectives")
    answered_within: list[int] = Field(description="answered at or under each threshold in within_le_s")


class ObjectiveInterval(BaseModel):
    """How an interval measures against one measure of a contract's contact objective: the
    measure is num / den (a month's is the sum of its intervals' num over that of their den)."""

    model_config = ConfigDict(frozen=True)

    contract_id: str
    objective: str
    channel: str | None = Field(description="the objective's channel; null: all channels of the queue")
    measure: ContactMeasure
    num: float = Field(description="answered within the threshold; waits in seconds (ASA); abandons not short")
    den: float = Field(description="the formula's denominator; answered (ASA); offered less short abandons")
    value: float = Field(description="num / den: a share, or seconds for ASA")
    target: float = Field(description="a share for service level and abandonment, seconds for ASA")
    met: bool


class ContactInterval(BaseModel):
    """The contacts of one customer's queue queued in one 15-minute interval, keyed by queue on
    the intervals topic. Published once the interval is over; published again, with a higher
    version, whenever a contact of it comes later (a correction): the record with the largest
    version holds."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    customer: str
    queue: str
    interval_start: datetime
    version: int = Field(ge=1, description="1 when first published; one more for every correction")
    channels: list[ChannelCounts]
    objectives: list[ObjectiveInterval] = Field(description="every measure with something to judge (den > 0)")


class ContactAlert(BaseModel):
    """A contact objective missed in an interval, met again, or taken back, on the breach topic."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Field(description="derived from contract, objective, queue, measure, fact and interval")
    kind: Literal["contact"] = "contact"
    type: Literal["breached", "recovered", "correction"]
    contract_id: str
    customer: str
    objective: str
    queue: str
    channel: str | None = Field(description="the objective's channel; null: all channels of the queue")
    measure: ContactMeasure
    interval_start: datetime
    at: datetime = Field(description="the end of the interval")
    value: float | None = Field(description="the interval's service level (share), ASA (s) or abandonment rate "
                                            "when published; null for a correction")
    target: float = Field(description="the objective: a share for service level and abandonment, seconds for ASA")
    corrects: str | None = Field(default=None, description="for a correction: the event_id that no longer holds")
