"""Sink agents: output topics copied into ClickHouse tables, acknowledged once stored.

Each record becomes one or more rows (a minute record also feeds slo_minutes, the breach
topic carries both SLA lifecycle events and SLO alerts). Rows go through batch writers;
a record is acknowledged when all its rows are stored, in offset order.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, Awaitable, Callable, Sequence, cast

import faust
import orjson
from faust.types import StreamT
from pydantic import BaseModel

from schemas.outputs import InstanceStatus, ProbeMinute, SlaEvent, SloAlert, SloStatus
from sinks.clickhouse import AsyncInserter
from streams.acks import InOrder, Join, OffsetGap
from streams.ingest import BatchWriter
from streams.settings import Settings

log = logging.getLogger(__name__)

BREACH_COLUMNS = (
    "event_id", "instance_id", "version", "type", "at", "kind", "entity_id", "contract_id",
    "customer", "service", "metric", "level", "target_s", "elapsed_s", "threshold", "corrects",
)
INSTANCE_COLUMNS = tuple(InstanceStatus.model_fields)
ALERT_COLUMNS = tuple(f for f in SloAlert.model_fields if f not in ("schema_version", "kind"))
STATUS_COLUMNS = tuple(SloStatus.model_fields)
PROBE_MINUTE_COLUMNS = ("service", "minute", "total", "good", "latency_sum_ms", "latency_max_ms", "fast_le_ms", "fast")
SLO_MINUTE_COLUMNS = ("contract_id", "customer", "service", "minute", "total", "good", "fast", "excluded")
Row = tuple[BatchWriter, Any, tuple[Any, ...]]  # (writer, table key, row)
Rows = Callable[[bytes, tuple[int, int]], list[Row]]  # record value, (partition, offset) -> rows


def add_sinks(
    app: faust.App, settings: Settings, inserter: AsyncInserter, writers: list[BatchWriter],
    in_order: Callable[[str], InOrder],
) -> None:
    """One sink agent per output topic; their writers join `writers` (flushed by the app's timer)."""

    def writer(table: str, columns: Sequence[str]) -> BatchWriter:
        w = BatchWriter(inserter, table, columns, settings.batch_rows)
        writers.append(w)
        return w

    sla_events, slo_alerts = writer("breaches", BREACH_COLUMNS), writer("slo_alerts", ALERT_COLUMNS)
    sla_instances, slo_status = writer("sla_instance_status", INSTANCE_COLUMNS), writer("slo_status", STATUS_COLUMNS)
    probe_minutes, slo_minutes = writer("probe_minutes", PROBE_MINUTE_COLUMNS), writer("slo_minutes", SLO_MINUTE_COLUMNS)

    def breach_rows(value: bytes, where: tuple[int, int]) -> list[Row]:
        if orjson.loads(value).get("kind") == "slo":  # burn-rate and no-data alerts share the topic
            alert = SloAlert.model_validate_json(value)
            return [(slo_alerts, alert.event_id, _row(alert, ALERT_COLUMNS))]
        event = SlaEvent.model_validate_json(value)
        return [(sla_events, event.event_id, _row(event, BREACH_COLUMNS))]

    # Status rows have no natural key: every record is a row of its own (ReplacingMergeTree decides).
    def instance_rows(value: bytes, where: tuple[int, int]) -> list[Row]:
        return [(sla_instances, where, _row(InstanceStatus.model_validate_json(value), INSTANCE_COLUMNS))]

    def status_rows(value: bytes, where: tuple[int, int]) -> list[Row]:
        return [(slo_status, where, _row(SloStatus.model_validate_json(value), STATUS_COLUMNS))]

    def minute_rows(value: bytes, where: tuple[int, int]) -> list[Row]:
        m = ProbeMinute.model_validate_json(value)
        rows: list[Row] = [(probe_minutes, (m.service, m.minute), _row(m, PROBE_MINUTE_COLUMNS))]
        for c in m.contracts:
            row = (c.contract_id, c.customer, m.service, m.minute, m.total, m.good, c.fast, c.excluded)
            rows.append((slo_minutes, (c.contract_id, m.service, m.minute), row))
        return rows

    for topic, name, rows in (
        (settings.topic_breaches, "breaches", breach_rows), (settings.topic_instances, "sla_instances", instance_rows),
        (settings.topic_slo_status, "slo_status", status_rows), (settings.topic_minutes, "probe_minutes", minute_rows),
    ):
        app.agent(app.topic(topic, internal=False), name=f"sink-{name}", concurrency=1)(_sink(app, name, rows, in_order(topic)))


def _sink(app: faust.App, name: str, rows: Rows, order: InOrder) -> Callable[[StreamT], Any]:
    async def sink(stream: StreamT) -> None:
        manual = cast(faust.Stream, stream).noack()
        async for event in manual.events():
            msg = event.message
            if not await checked(app, order, msg):
                return
            found = rows(msg.value, (msg.partition, msg.offset))
            ack = Join(len(found), order.track(msg.partition, acker(manual, event), msg.offset))
            for writer, key, row in found:
                await writer.add(key, row, ack)

    sink.__name__ = sink.__qualname__ = f"sink_{name}"
    return sink


def _row(record: BaseModel, columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(v.value if isinstance(v, Enum) else v for v in (getattr(record, c) for c in columns))


async def checked(app: faust.App, order: InOrder, msg: Any) -> bool:
    """False (and the worker stopping) when the record would skip uncommitted records.

    The process ends so that a restart resumes from the committed offsets; nothing of the
    record was processed or acknowledged.
    """
    try:
        await order.check(msg.partition, msg.offset)
    except OffsetGap as exc:
        log.error("%s: %s; stopping the worker so that it resumes from the committed offset", msg.topic, exc)
        await app.crash(exc)
        return False
    return True


def acker(stream: StreamT, event: Any) -> Callable[[], Awaitable[bool]]:
    """The manual acknowledgement of one event of a `noack()` stream."""

    async def ack() -> bool:
        return await stream.ack(event)

    return ack
