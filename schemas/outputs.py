"""Engine outputs: SLA lifecycle events (breach topic) and SLA instance status rows."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LifecycleType(str, Enum):
    warning = "warning"
    breached = "breached"
    met = "met"
    missed = "missed"
    correction = "correction"


class _InstanceRef(BaseModel):
    """What every SLA output says about the instance it belongs to."""

    model_config = ConfigDict(frozen=True)

    instance_id: str = Field(description="kind:entity:contract:metric; the Kafka key")
    kind: Literal["ticket", "incident"]
    entity_id: str
    contract_id: str
    customer: str
    service: str
    metric: Literal["response", "resolution", "acknowledge", "resolve"]


class SlaEvent(_InstanceRef):
    """One step in an SLA instance's life, as published on the breach topic.

    `event_id` is derived from the instance, the fact and the version, so replaying the
    same input yields the same ids and alerting systems can drop what they have seen.
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


class InstanceStatus(_InstanceRef):
    """Current state of one SLA instance (a row of sla_instances)."""

    version: int
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


def event_id(instance_id: str, fact: str, version: int) -> str:
    """Deterministic id of a lifecycle event."""
    return hashlib.sha256(f"{instance_id}|{fact}|{version}".encode()).hexdigest()[:32]
