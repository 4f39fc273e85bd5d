"""The Faust app: thin adapters from Kafka records to validation, sinks and dead-letter."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, cast

import faust
from faust.types import StreamT

from schemas import codec
from schemas.deadletter import DeadLetter, b64
from sinks.clickhouse import AsyncInserter
from streams.ingest import EVENTS_RAW_COLUMNS, BatchWriter, events_raw_row
from streams.settings import Settings
from streams.validate import Limits, Rejection, validate

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


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


def build_app(settings: Settings, inserter: AsyncInserter, clock: Clock = utcnow) -> faust.App:
    """Create the worker app: one ingest agent per input topic, a flush timer."""
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
    writer = BatchWriter(inserter, "events_raw", EVENTS_RAW_COLUMNS, settings.batch_rows)
    deadletter = app.topic(settings.topic_deadletter, internal=False)

    async def ingest(kind: str, stream: StreamT) -> None:
        manual = cast(faust.Stream, stream).noack()
        async for event in manual.events():
            msg = event.message
            result = validate(kind, msg.value, clock(), limits)
            if isinstance(result, Rejection):
                record = DeadLetter(
                    reason=result.reason, detail=result.detail,
                    topic=msg.topic, partition=msg.partition, offset=msg.offset,
                    key_b64=b64(msg.key), payload_b64=b64(msg.value) or "", rejected_at=clock(),
                )
                await deadletter.send(
                    key=msg.key, value=codec.dumps(record),
                    headers={"slastream.reason": result.reason.value.encode()},
                )
                await manual.ack(event)
                continue
            row = events_raw_row(result, msg.topic, msg.partition, msg.offset, clock())
            await writer.add((result.kind, result.event_id), row, _acker(manual, event))

    for kind, topic_name in settings.input_topics.items():
        topic = app.topic(topic_name, internal=False)
        agent_fun = _bind(ingest, kind)
        app.agent(topic, name=f"ingest-{kind}", concurrency=1)(agent_fun)

    @app.timer(interval=settings.flush_interval_s)
    async def flush_events() -> None:
        await writer.flush()

    app.slastream_writer = writer  # type: ignore[attr-defined]
    return app


def _acker(stream: StreamT, event: Any) -> Callable[[], Awaitable[bool]]:
    async def ack() -> bool:
        return await stream.ack(event)

    return ack


def _bind(ingest: Callable[[str, StreamT], Any], kind: str) -> Callable[[StreamT], Any]:
    async def agent(stream: StreamT) -> None:
        await ingest(kind, stream)

    agent.__name__ = agent.__qualname__ = f"ingest_{kind}"
    return agent
