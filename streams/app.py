"""The Faust app: thin adapters from Kafka records to validation, the SLA engine and sinks."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Awaitable, Callable, Sequence, cast

import faust
from faust.types import StreamT
from pydantic import BaseModel

from schemas import codec
from schemas.deadletter import DeadLetter, Reason, b64
from schemas.outputs import InstanceStatus, SlaEvent
from schemas.policy import Policy
from sinks.clickhouse import AsyncInserter
from streams.clocks import ClockEngine
from streams.ingest import EVENTS_RAW_COLUMNS, BatchWriter, events_raw_row
from streams.partition_clock import PartitionClock
from streams.settings import Settings
from streams.tracking import Record, SlaTracker
from streams.validate import Limits, Rejection, validate

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

BREACH_COLUMNS = (
    "event_id", "instance_id", "version", "type", "at", "kind", "entity_id", "contract_id",
    "customer", "service", "metric", "level", "target_s", "elapsed_s", "threshold", "corrects",
)
INSTANCE_COLUMNS = tuple(InstanceStatus.model_fields)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def broker_credentials(settings: Settings) -> Any:
    """Faust (aiokafka) credentials matching the librdkafka settings."""
    ctx = settings.ssl_context()
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ctx,
        )
    return faust.SSLCredentials(ctx) if ctx else None


def build_app(
    settings: Settings, inserter: AsyncInserter, policy: Policy | None = None, clock: Clock = utcnow
) -> faust.App:
    """Create the worker app.

    One ingest agent per input topic (validation, events_raw, dead-letter); with a policy,
    ticket and incident events also drive the SLA engine, a tick agent fires deadlines,
    and sink agents copy the breach and instance topics into ClickHouse.
    """
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        store=settings.store,
        datadir=str(settings.data_dir),
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind="127.0.0.1",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        producer_acks=-1,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=settings.kafka_session_timeout_s / 4,
    )
    limits = Limits(
        max_bytes=settings.max_event_bytes,
        max_future=timedelta(seconds=settings.max_future_s),
        max_past=timedelta(days=settings.max_past_days),
    )
    writers = [BatchWriter(inserter, "events_raw", EVENTS_RAW_COLUMNS, settings.batch_rows)]
    raw_writer = writers[0]
    deadletter = app.topic(settings.topic_deadletter, internal=False)
    sla_clock = PartitionClock(clock)
    tracker = _sla_tracking(app, settings, policy, inserter, writers, sla_clock) if policy else None

    async def reject(msg: Any, reason: Reason, detail: str) -> None:
        record = DeadLetter(
            reason=reason, detail=detail, topic=msg.topic, partition=msg.partition, offset=msg.offset,
            key_b64=b64(msg.key), payload_b64=b64(msg.value) or "", rejected_at=clock(),
        )
        await deadletter.send(key=msg.key, value=codec.dumps(record), headers={"slastream.reason": reason.value.encode()})

    async def ingest(kind: str, stream: StreamT) -> None:
        manual = cast(faust.Stream, stream).noack()
        async for event in manual.events():
            msg = event.message
            result = validate(kind, msg.value, clock(), limits)
            if isinstance(result, Rejection):
                await reject(msg, result.reason, result.detail)
                await manual.ack(event)
                continue
            if tracker is not None and kind in ("ticket", "incident"):
                sla_clock.observe(msg.topic, msg.partition, msg.offset, app.consumer.highwater(msg.tp), result.occurred_at)
                try:
                    await tracker.on_event(result, msg.partition, sla_clock.now(msg.partition))  # type: ignore[arg-type]
                except Exception as exc:  # the worker must survive any input; keep the record
                    log.exception("SLA processing failed for %s %s", kind, result.event_id)
                    await reject(msg, Reason.processing_error, f"{type(exc).__name__}: {exc}")
            row = events_raw_row(result, msg.topic, msg.partition, msg.offset, clock())
            await raw_writer.add((result.kind, result.event_id), row, _acker(manual, event))

    for kind, topic_name in settings.input_topics.items():
        app.agent(app.topic(topic_name, internal=False), name=f"ingest-{kind}", concurrency=1)(_bind(ingest, kind))

    @app.timer(interval=settings.flush_interval_s)
    async def flush_writers() -> None:
        for writer in writers:
            await writer.flush()

    return app


def _sla_tracking(
    app: faust.App, settings: Settings, policy: Policy, inserter: AsyncInserter,
    writers: list[BatchWriter], clock: PartitionClock,
) -> SlaTracker:
    """Tables, tick topic and agents for live SLA tracking; returns the tracker."""
    breaches = app.topic(settings.topic_breaches, internal=False)
    instances = app.topic(settings.topic_instances, internal=False)
    rocksdb = {
        "block_cache_size": settings.rocksdb_block_cache_mb * 2**20,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * 2**20 // 4,
        "write_buffer_size": settings.rocksdb_write_buffer_mb * 2**20,
    }
    tables = {
        kind: app.Table(f"sla-{kind}", default=None, partitions=settings.topic_partitions,
                        key_type=bytes, value_type=bytes,
                        options=rocksdb if settings.store.startswith("rocksdb") else None)
        for kind in ("ticket", "incident")
    }

    async def publish(events: Sequence[Record], statuses: Sequence[Record]) -> None:
        for key, value in events:
            await breaches.send(key=key, value=value)
        for key, value in statuses:
            await instances.send(key=key, value=value)

    tracker = SlaTracker(
        ClockEngine(policy), tables, publish, clock.wall,  # type: ignore[arg-type]
        window=timedelta(seconds=settings.reannounce_window_s),
    )

    # Tables can only be written inside stream iteration, so a timer cannot fire deadlines
    # itself: the leader sends a tick to every partition of a topic co-partitioned with the
    # inputs, and the owner of each partition advances its entities.
    ticks = app.topic(f"{settings.app_id}-ticks", internal=True, partitions=settings.topic_partitions,
                      retention=timedelta(hours=1))

    @app.timer(interval=settings.tick_interval_s, on_leader=True)
    async def send_ticks() -> None:
        for partition in range(settings.topic_partitions):
            await ticks.send(value=b"", partition=partition)

    @app.agent(ticks, name="sla-ticks", concurrency=1)
    async def on_ticks(stream: StreamT) -> None:
        async for event in stream.events():
            await tracker.on_tick(event.message.partition, clock.now(event.message.partition))

    def forget_dues(sender: Any, *args: Any, **kwargs: Any) -> None:
        tracker.forget()  # partitions may move; each is re-indexed (and recovered) on its next tick
        clock.forget()

    app.on_partitions_revoked.connect(forget_dues)  # type: ignore[arg-type]  # mode's stub is too narrow

    for topic, model, table, columns, key in (
        (breaches, SlaEvent, "breaches", BREACH_COLUMNS, "event_id"),
        (instances, InstanceStatus, "sla_instances", INSTANCE_COLUMNS, None),
    ):
        writer = BatchWriter(inserter, table, columns, settings.batch_rows)
        writers.append(writer)
        app.agent(topic, name=f"sink-{table}", concurrency=1)(_sink(writer, model, columns, key))
    return tracker


def _sink(
    writer: BatchWriter, model: type[BaseModel], columns: Sequence[str], key_field: str | None
) -> Callable[[StreamT], Any]:
    """An agent copying a topic of `model` JSON records into a ClickHouse table."""

    async def sink(stream: StreamT) -> None:
        manual = cast(faust.Stream, stream).noack()
        async for event in manual.events():
            record = model.model_validate_json(event.message.value)
            row = tuple(_cell(getattr(record, c)) for c in columns)
            # Without a natural key every record is a row of its own (ReplacingMergeTree decides).
            key = getattr(record, key_field) if key_field else (event.message.partition, event.message.offset)
            await writer.add(key, row, _acker(manual, event))

    sink.__name__ = sink.__qualname__ = f"sink_{writer.table}"
    return sink


def _cell(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _acker(stream: StreamT, event: Any) -> Callable[[], Awaitable[bool]]:
    async def ack() -> bool:
        return await stream.ack(event)

    return ack


def _bind(ingest: Callable[[str, StreamT], Any], kind: str) -> Callable[[StreamT], Any]:
    async def agent(stream: StreamT) -> None:
        await ingest(kind, stream)

    agent.__name__ = agent.__qualname__ = f"ingest_{kind}"
    return agent
