"""The worker's outputs (lifecycle events, alerts, status records, closed minutes) sent
through librdkafka, beside Faust's own producer.

Sending through a Faust topic cost about a fifth of the worker's time at a paced ticket
load (Topic.send, its producer buffer, aiokafka's sender, all in Python); librdkafka
batches and sends on its own threads. What Faust's producer still sends: table
changelogs, ticks and dead letters, all flushed by Faust before it commits offsets.

An output is stored for sure only once `stored()` has returned: the trackers call it
before they acknowledge the records the outputs came from, so no offset is committed
past a record whose outputs could still be lost (an output whose state was written but
that was lost is published again from the entity's outbox at the next takeover).
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import orjson
from confluent_kafka import KafkaError, Message, Producer

from streams.metrics import LIFECYCLE, PUBLISHED, SEND_FAILURES
from streams.worker.types import Record


class OutputLost(RuntimeError):
    """The broker did not store an output within librdkafka's delivery timeout."""


class Outputs:
    """An idempotent librdkafka producer (acks=all, per key in order) with a wait for the broker."""

    def __init__(self, config: dict[str, Any], linger_ms: float) -> None:
        self._producer = Producer({**config, "acks": "all", "enable.idempotence": True, "linger.ms": linger_ms})
        self._lost: str | None = None

    def send(self, topic: str, records: Sequence[Record], lifecycle: bool = False) -> None:
        """Queue records for `topic` (counted by topic, and on the breach topic by type); returns at once."""
        for key, value in records:
            while True:
                try:
                    self._producer.produce(topic, value, key, on_delivery=self._delivered)
                    break
                except BufferError:  # librdkafka's queue is full: let it send (rare, it holds 100,000)
                    self._producer.poll(0.05)
            if lifecycle:
                LIFECYCLE.labels(orjson.loads(value)["type"]).inc()
        PUBLISHED.labels(topic).inc(len(records))
        self._producer.poll(0)  # delivery reports of earlier sends

    async def stored(self) -> None:
        """Return once the broker has stored every record sent so far; OutputLost if one was not.

        Waits without blocking the event loop (other partitions and agents go on)."""
        while self._producer.flush(0):
            await asyncio.sleep(0.002)
        if self._lost is not None:
            raise OutputLost(self._lost)

    def _delivered(self, error: KafkaError | None, msg: Message) -> None:
        if error is not None:
            SEND_FAILURES.labels(msg.topic() or "").inc()
            self._lost = self._lost or f"{msg.topic()}: {error.str()}"
