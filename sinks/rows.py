"""Kafka records to ClickHouse rows: one pure function per topic role, no I/O.

Each record becomes zero or more `(table, key, row)`: the key is what the table
deduplicates on (ReplacingMergeTree), so a row stored twice, by a re-read after a crash
or inside one batch, is one row to every reader.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Callable, Hashable, Sequence

import orjson
from pydantic import BaseModel

from schemas.events import ProbeEvent
from schemas.outputs import ContactAlert, ContactInterval, EntityStatus, InstanceStatus, ProbeMinute, SlaEvent, SloAlert, SloStatus
from streams.validate import Limits, Rejection
from streams.verdict import Consumed, accepted_many

INPUT_EVENT_COLUMNS = (
    "kind", "event_id", "entity_id", "customer", "occurred_at", "source",
    "topic", "partition", "offset", "ingested_at", "payload",
)
BREACH_COLUMNS = (
    "event_id", "instance_id", "version", "type", "at", "kind", "entity_id", "contract_id",
    "customer", "service", "metric", "level", "target_s", "elapsed_s", "threshold", "corrects",
)
OLA_BREACH_COLUMNS = tuple(c for c in BREACH_COLUMNS if c not in ("kind", "contract_id")) + ("ola",)
INSTANCE_COLUMNS = tuple(f for f in InstanceStatus.model_fields if f not in ("ola", "held_s"))
OLA_INSTANCE_COLUMNS = tuple(c for c in INSTANCE_COLUMNS if c not in ("kind", "contract_id")) + ("ola",)
HELD_COLUMNS = ("instance_id", "version", "assignment_group", "held_s")
ALERT_COLUMNS = tuple(f for f in SloAlert.model_fields if f not in ("schema_version", "kind"))
STATUS_COLUMNS = tuple(SloStatus.model_fields)
MINUTE_RECORD_COLUMNS = tuple(f for f in ProbeMinute.model_fields if f != "schema_version")
CONTACT_INTERVAL_COLUMNS = tuple(f for f in ContactInterval.model_fields if f != "schema_version")
CONTACT_ALERT_COLUMNS = tuple(f for f in ContactAlert.model_fields if f not in ("schema_version", "kind"))

COLUMNS = {
    "input_events": INPUT_EVENT_COLUMNS, "breaches": BREACH_COLUMNS, "slo_alerts": ALERT_COLUMNS,
    "sla_instance_status": INSTANCE_COLUMNS, "slo_status": STATUS_COLUMNS,
    "probe_minutes_in": MINUTE_RECORD_COLUMNS, "ola_breaches": OLA_BREACH_COLUMNS,
    "ola_instance_status": OLA_INSTANCE_COLUMNS, "sla_held_time": HELD_COLUMNS,
    "probe_events_in": ("topic", "partition", "offsets", "results"),
    "contact_intervals_in": CONTACT_INTERVAL_COLUMNS, "contact_alerts": CONTACT_ALERT_COLUMNS,
}
# Tables whose rows are output records stored as they are (JSONEachRow): the model that
# says which record of a block ClickHouse could not read, if it refuses one.
RECORD_TABLES: dict[str, type[BaseModel]] = {"slo_status": SloStatus, "probe_minutes_in": ProbeMinute,
                                             "contact_intervals_in": ContactInterval}

# table, dedup key, values in COLUMNS[table] order; or table, None, a JSONEachRow block to store as it is
Row = tuple[str, Hashable, tuple[Any, ...]] | tuple[str, None, bytes]
Rows = Callable[["Consumed", datetime], list[Row]]  # a record and the time it is stored -> its rows


def input_rows(kind: str, limits: Limits) -> Rows:
    """Rows of an input topic: the input_events row of each event the worker accepts (every
    result of a probe batch on its own), keyed as the worker tells events apart (a probe has
    no customer)."""

    def rows(record: Consumed, now: datetime) -> list[Row]:
        out: list[Row] = []
        for event in accepted_many(kind, record, limits):
            if isinstance(event, Rejection):
                continue  # dead-lettered by the worker
            customer = "" if isinstance(event, ProbeEvent) else event.customer
            row = (event.kind, event.event_id, event.entity_id, customer, event.occurred_at, event.source,
                   record.topic, record.partition, record.offset, now, event.model_dump_json())
            out.append(("input_events", (event.kind, customer, event.entity_id, event.event_id), row))
        return out

    return rows


def probe_event_rows(record: Consumed, now: datetime) -> list[Row]:
    """The probe results a worker accepted, JSONEachRow lines of many results each
    (streams/verdict.py) that ClickHouse splits into input_events rows: stored as they are,
    without judging each result again. Records of workers before that hold input_events
    rows themselves."""
    if not record.value:
        return []
    return [("probe_events_in" if record.value.startswith(b'{"topic":') else "input_events", None, record.value)]


def block_rows(table: str, block: bytes) -> int:
    """Rows a JSONEachRow block makes: one a line; a line of `probe_events_in`, one per result
    (each written as its event's JSON, which starts with its event_id: a string holding that
    text has its quotes escaped)."""
    return block.count(b'{"event_id":') if table == "probe_events_in" else block.count(b"\n") + 1


def breach_rows(record: Consumed, now: datetime) -> list[Row]:
    """The breach topic carries SLA lifecycle events, SLO alerts (burn-rate, no-data) and
    contact objective alerts."""
    value = record.value or b"{}"
    kind = orjson.loads(value).get("kind")
    if kind == "slo":
        alert = SloAlert.model_validate_json(value)
        return [("slo_alerts", alert.event_id, _values(alert, ALERT_COLUMNS))]
    if kind == "contact":
        contact = ContactAlert.model_validate_json(value)
        return [("contact_alerts", contact.event_id, _values(contact, CONTACT_ALERT_COLUMNS))]
    event = SlaEvent.model_validate_json(value)
    if event.ola is not None:  # an internal team's: never in a table customers see
        return [("ola_breaches", event.event_id, _values(event, OLA_BREACH_COLUMNS))]
    return [("breaches", event.event_id, _values(event, BREACH_COLUMNS))]


# Status rows have no natural key: every record is a row of its own (ReplacingMergeTree
# keeps the newest version), so the key is the record's position (and the instance's place in it).
def instance_rows(record: Consumed, now: datetime) -> list[Row]:
    """An entity's status record: one sla_instance_status row per SLA instance (with its
    sla_held_time rows), one ola_instance_status row per OLA instance."""
    status = EntityStatus.model_validate_json(record.value or b"{}")
    out: list[Row] = []
    for n, i in enumerate(status.instances):
        key = (record.partition, record.offset, n)
        if i.ola is not None:
            out.append(("ola_instance_status", key, _values(i, OLA_INSTANCE_COLUMNS)))
            continue
        out.append(("sla_instance_status", key, _values(i, INSTANCE_COLUMNS)))
        out += [("sla_held_time", (*key, group), (i.instance_id, i.version, group, held))
                for group, held in (i.held_s or {}).items()]
    return out


def status_rows(record: Consumed, now: datetime) -> list[Row]:
    """An SLO status record is an slo_status row as it is (its fields are the columns)."""
    return [] if not record.value else [("slo_status", None, record.value)]


def minute_rows(record: Consumed, now: datetime) -> list[Row]:
    """A closed probe minute, stored as it is into probe_minutes_in, whose views make one
    probe_minutes row and one slo_minutes row per covering contract (migration 0009)."""
    return [] if not record.value else [("probe_minutes_in", None, record.value)]


def contact_interval_rows(record: Consumed, now: datetime) -> list[Row]:
    """A contact interval record, stored as it is into contact_intervals_in, whose views make a
    contact_intervals row per channel and a contact_objective_intervals row per measure (0012)."""
    return [] if not record.value else [("contact_intervals_in", None, record.value)]


def _values(record: BaseModel, columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(v.value if isinstance(v, Enum) else v for v in (getattr(record, c) for c in columns))
