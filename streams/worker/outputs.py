"""The worker's outputs (lifecycle events, alerts, status records, closed minutes) and its
tables' changelogs, sent through librdkafka beside Faust's own producer.

Sending through a Faust topic, and writing a table's changelog through Faust's producer
buffer, cost about a quarter of the worker's time at a paced ticket load (Topic.send, the
buffer, aiokafka's sender, all in Python); librdkafka batches and sends on its own
threads. What Faust's producer still sends: ticks and dead letters, flushed by Faust
before it commits offsets.

A record is stored for sure only once `stored()` has returned: the feeds call it before
they commit, so no offset is committed past a record whose outputs or state could still
be lost; the trackers write state only once the outputs it says were published are stored.
`stored()` waits for the records sent before it was called, not for those sent while it
waits: under a steady load librdkafka's queue is seldom empty.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Sequence

import faust
from confluent_kafka import KafkaError, Message, Producer
from faust.types import TP

from streams.metrics import LIFECYCLE, PUBLISHED, SEND_FAILURES
from streams.worker.types import Record


class OutputLost(RuntimeError):
    """The broker did not store an output within librdkafka's delivery timeout."""


class _Generation:
    """Records sent between two `stored()` calls: how many the broker has not yet stored. Its
    `done` is their delivery callback (one bound method per generation, not a closure per record)."""

    __slots__ = ("number", "left", "_failed")

    def __init__(self, number: int, failed: Callable[[KafkaError, Message], None]) -> None:
        self.number = number
        self.left = 0
        self._failed = failed

    def done(self, error: KafkaError | None, msg: Message) -> None:
        self.left -= 1
        if error is not None:
            self._failed(error, msg)


class Outputs:
    """An idempotent librdkafka producer (acks=all, per key in order) with a wait for the broker."""

    def __init__(self, config: dict[str, Any], linger_ms: float) -> None:
        # At most 64 MiB waiting for the broker (librdkafka's default is 1 GiB): past it a send
        # waits, so a worker that reads faster than the broker stores holds its memory.
        self._producer = Producer({**config, "acks": "all", "enable.idempotence": True, "linger.ms": linger_ms,
                                   "queue.buffering.max.kbytes": 65536})
        self._lost: str | None = None
        self._types: dict[bytes, Any] = {}  # lifecycle type -> its labelled counter
        # Generations with records not yet stored, oldest first; the last takes new records
        # (a `stored()` call closes it).
        self._current = _Generation(0, self._failed)
        self._open: deque[_Generation] = deque([self._current])

    def send(self, topic: str, records: Sequence[tuple[bytes | None, bytes]], lifecycle: bool = False,
             headers: dict[str, str | bytes | None] | None = None) -> None:
        """Queue records for `topic` (counted by topic, and on the breach topic by type); returns at once."""
        types: dict[bytes, int] = {}
        generation = self._current
        done = generation.done
        for key, value in records:
            self._produce(topic, value, key, done, headers=headers)
            generation.left += 1  # after: a record produce() refused is not waited for
            if lifecycle:
                type_ = _type_of(value)
                types[type_] = types.get(type_, 0) + 1
        for type_, n in types.items():  # one increment per type and call: one per record was a lock each
            counter = self._types.get(type_)
            if counter is None:
                counter = self._types[type_] = LIFECYCLE.labels(type_.decode())
            counter.inc(n)
        PUBLISHED.labels(topic).inc(len(records))
        self._producer.poll(0)  # delivery reports of earlier sends

    def write(self, topic: str, partition: int, key: bytes, value: bytes | None, stored: Callable[[int], None]) -> None:
        """Queue one record (None: a tombstone) for a given partition; `stored(offset)` is called
        once the broker has it."""
        generation = self._current

        def delivered(error: KafkaError | None, msg: Message) -> None:
            generation.done(error, msg)
            if error is None:
                stored(msg.offset() or 0)

        self._produce(topic, value, key, delivered, partition=partition)
        generation.left += 1

    def _produce(self, topic: str, value: bytes | None, key: bytes | None, delivered: Callable[[KafkaError | None, Message], None],
                 **kwargs: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=delivered, **kwargs)
                return
            except BufferError:  # librdkafka's queue is full: let it send
                self._producer.poll(0.05)

    async def stored(self) -> None:
        """Return once the broker has stored every record sent before this call (not those sent
        while it waits); OutputLost if one was not. Waits without blocking the event loop."""
        upto = self._current.number
        self._current = _Generation(upto + 1, self._failed)
        self._open.append(self._current)
        while True:
            self._producer.flush(0)  # serves delivery reports and sends without waiting for linger.ms
            if self._settled() > upto:
                break
            await asyncio.sleep(0.002)
        if self._lost is not None:
            raise OutputLost(self._lost)

    def unstored(self) -> int:
        """Records sent and not yet stored (nor given up on)."""
        return sum(generation.left for generation in self._open)

    def _settled(self) -> int:
        """The number of the oldest generation with a record not stored yet (the current one at
        the least: it stays open)."""
        while len(self._open) > 1 and not self._open[0].left:
            self._open.popleft()
        return self._open[0].number

    def _failed(self, error: KafkaError, msg: Message) -> None:
        SEND_FAILURES.labels(msg.topic() or "").inc()
        self._lost = self._lost or f"{msg.topic()}: {error.str()}"


def _type_of(record: bytes) -> bytes:
    """The `type` of a record on the breach topic, read from its JSON without parsing it: the
    records are flat objects, and a quote inside a string value is escaped, so the first
    `"type":"` is the key's (a parse per record was a per cent of a paced worker's time)."""
    start = record.find(b'"type":"') + 8
    return record[start:record.find(b'"', start)] if start >= 8 else b"unknown"


class DirectTable(faust.Table):
    """A Faust table (bytes to bytes) whose changelog is written through `Outputs`.

    Faust still owns the table: its store, its changelog topic and recovery from it. Only
    the write of each change takes the librdkafka producer, so it is stored once
    `Outputs.stored()` returns (the trackers wait for that before acknowledging)."""

    def __init__(self, app: faust.App, *, outputs: Outputs, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._outputs = outputs
        self._tps: dict[int, TP] = {}  # changelog partitions (a NamedTuple built per write was 1 % of a paced worker)

    def get(self, key: bytes, default: Any = None) -> Any:
        """One store lookup: Faust's own asks the store twice (whether the key is there, then its value)."""
        return self.data.get(key, default)

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        """The value of `key` in the store of `partition` alone, where the entity's records (and
        so its entry) are. Outside a stream event Faust's own lookup of a key it has not seen
        asks every partition's store (with 6 partitions 7 % of a paced worker's active time,
        most events being new tickets)."""
        db = self._db(partition)
        if db is None:
            return self.get(key)
        value = db.get(key)
        return None if value is None else bytes(value)

    def put_in(self, partition: int, key: bytes, value: bytes) -> None:
        """Set `key` in the store of `partition` and write it to that changelog partition: what
        setting it inside a stream event of `partition` does, without Faust's serializers, its
        key index (a locked LRU that only spares reads outside a stream event a search of every
        partition's store) and two lookups of the current event. Needs no stream event: the SLA
        tracker writes once the broker has stored a tick's outputs, after the tick."""
        self._changelog(partition, key, value)
        self._sensor_on_set(self, key, value)
        db = self._db(partition)
        if db is None:
            self.data[key] = value
        else:
            db.put(key, value)

    def pop_in(self, partition: int, key: bytes) -> None:
        """Remove `key` from the store of `partition` and write its tombstone to that changelog
        partition (as `put_in` writes a value, outside a stream event too)."""
        self._changelog(partition, key, None)
        self._sensor_on_del(self, key)
        db = self._db(partition)
        if db is None:
            self.data.pop(key, None)
        else:
            db.delete(key)

    def _db(self, partition: int) -> Any:
        """The store's database of `partition`; None for a store with one for every partition (memory://)."""
        db_for = getattr(self.data, "_db_for_partition", None)
        return None if db_for is None else db_for(partition)

    def on_key_set(self, key: bytes, value: bytes) -> None:
        partition = self.partition_for_key(key)
        assert partition is not None  # tables are co-partitioned with their input (no partitioner)
        self._changelog(partition, key, value)
        self._sensor_on_set(self, key, value)

    def _changelog(self, partition: int, key: bytes, value: bytes | None) -> None:
        tp = self._tps.get(partition)
        if tp is None:
            tp = self._tps[partition] = TP(self.changelog_topic.get_topic_name(), partition)
        # As Faust's own write does: the store remembers the changelog offset it holds data up
        # to, so that a restart on the same disk recovers only what came after.
        self._outputs.write(tp.topic, partition, key, value, lambda offset: self.data.set_persisted_offset(tp, offset))
