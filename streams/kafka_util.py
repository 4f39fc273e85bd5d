"""Read-side Kafka helpers for the demo, tests and benchmarks: lag and topic contents."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, Iterable, Iterator, TypeVar

from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.errors import UserError
from streams.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
# Asynchronous commits are sent again this often, moved or not: one in flight when the broker
# stops is lost without a word, and a partition with nothing new would stay uncommitted (the
# worker's feeds and the sink both met it in the chaos suite's broker stop).
RECOMMIT_EVERY_S = 10.0


_TRANSIENT = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._UNKNOWN_PARTITION,  # the client's metadata after a broker restart, until it is refreshed
    KafkaError._ALL_BROKERS_DOWN,
}


def require_kafka(settings: Settings, timeout: float | None = None) -> dict[str, int]:
    """The cluster's topics and their partition counts, or a UserError naming the address
    if no broker answers in time."""
    timeout = settings.kafka_connect_timeout_s if timeout is None else timeout
    admin = AdminClient({**settings.kafka_client_config(), "log_level": 0})  # the one line below says it all
    try:
        return {name: len(t.partitions) for name, t in admin.list_topics(timeout=timeout).topics.items()}
    except KafkaException as exc:
        raise UserError(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers} within {timeout:g} s "
            f"({exc.args[0].str()}): start a broker (make kafka-start) or set KAFKA_BOOTSTRAP_SERVERS"
        ) from None


def _partitions(consumer: Consumer, topics: Iterable[str]) -> list[TopicPartition]:
    meta = consumer.list_topics(timeout=10).topics
    for t in topics:
        if t not in meta:  # a broker that just started may answer before it knows every topic
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"{t} not in the metadata yet",
                                            retriable=True))
    return [TopicPartition(t, p) for t in topics for p in meta[t].partitions]


def lag(settings: Settings, group: str, topics: Iterable[str], retry_for: float = 30.0) -> int:
    """Records in `topics` not yet committed by consumer group `group`.

    Retries retriable errors (e.g. NOT_COORDINATOR while a new broker loads its
    offsets topic) for up to `retry_for` seconds.
    """
    return _patiently(lambda: _lag(settings, group, list(topics)), give_up_after=retry_for)


def worker_lag(settings: Settings, topics: Iterable[str], retry_for: float = 30.0) -> int:
    """Records in `topics` the workers have not yet committed (each topic in its group)."""
    groups: dict[str, list[str]] = {}
    for topic in topics:
        groups.setdefault(settings.worker_group(topic), []).append(topic)
    return sum(lag(settings, group, named, retry_for) for group, named in groups.items())


def _lag(settings: Settings, group: str, topics: list[str]) -> int:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": group, "enable.auto.commit": False})
    try:
        total = 0
        for tp in consumer.committed(_partitions(consumer, topics), timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            committed = tp.offset if tp.offset >= 0 else low
            total += max(high - committed, 0)
        return total
    finally:
        consumer.close()


def topic_size(settings: Settings, topic: str, retry_for: float = 30.0) -> int:
    """Records currently held by `topic` (high minus low watermark, summed over partitions).
    Retries retriable errors (a partition whose leader is not settled yet) for up to
    `retry_for` seconds."""
    return _patiently(lambda: _topic_size(settings, topic), give_up_after=retry_for)


def _topic_size(settings: Settings, topic: str) -> int:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "slastream-size", "enable.auto.commit": False})
    try:
        return sum(high - low for low, high in (consumer.get_watermark_offsets(tp, timeout=10)
                                                 for tp in _partitions(consumer, [topic])))
    finally:
        consumer.close()


def read_all(settings: Settings, topic: str, timeout: float = 10.0, retry_for: float = 30.0) -> list[Message]:
    """Every record currently in `topic`, read without committing. Looking up where its
    partitions end retries retriable errors (a leader not settled yet) for up to `retry_for` s."""
    consumer = Consumer({
        **settings.kafka_client_config(),
        "group.id": f"slastream-reader-{uuid.uuid4()}",
        "enable.auto.commit": False,
    })
    try:
        parts = _patiently(lambda: _partitions(consumer, [topic]), give_up_after=retry_for)
        ends = {}
        for tp in parts:
            low, high = _patiently(partial(consumer.get_watermark_offsets, tp, timeout=timeout),
                                   give_up_after=retry_for)
            if high > low:
                ends[tp.partition] = high
                tp.offset = low
        consumer.assign([tp for tp in parts if tp.partition in ends])
        out: list[Message] = []
        remaining = dict(ends)
        while remaining:
            msg = consumer.poll(timeout)
            if msg is None:
                raise TimeoutError(f"{topic}: no record within {timeout} s; {remaining} left")
            if msg.error():
                raise RuntimeError(str(msg.error()))
            out.append(msg)
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if offset + 1 >= remaining.get(partition, 0):
                remaining.pop(partition, None)
        return out
    finally:
        consumer.close()


def read_since(settings: Settings, topic: str, since_ms: int, most: int, give_up_after: float) -> Iterator[bytes]:
    """The values of `topic`'s records from timestamp `since_ms` to the partitions' ends as
    they are when asked, at most the last `most` (split evenly over the partitions); stops
    early after `give_up_after` seconds (a broker away). Never commits."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"slastream-reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "log_level": 3})
    deadline = time.monotonic() + give_up_after
    try:
        parts = _patiently(lambda: _partitions(consumer, [topic]), give_up_after=give_up_after)
        for tp in parts:
            tp.offset = since_ms
        starts = _patiently(lambda: consumer.offsets_for_times(parts, timeout=10), give_up_after=give_up_after)
        share = most // max(len(parts), 1)
        ends: dict[int, int] = {}
        assign = []
        for tp in starts:
            low, high = _patiently(partial(consumer.get_watermark_offsets, tp, timeout=10), give_up_after=give_up_after)
            start = high if tp.offset < 0 else max(tp.offset, low, high - share)  # -1: no record that recent
            if start < high:
                ends[tp.partition] = high
                assign.append(TopicPartition(topic, tp.partition, start))
        if assign:
            consumer.assign(assign)
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error():
                    continue  # a transient fetch error: the record comes again
                value = msg.value()
                if value:
                    yield value
                if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                    ends.pop(msg.partition() or 0, None)
        if ends:
            log.warning("%s: gave up reading after %.0f s with partitions %s not read to their end",
                        topic, give_up_after, sorted(ends))
    finally:
        consumer.close()


def group_assignments(settings: Settings, group: str) -> list[set[tuple[str, int]]]:
    """Per member of a stable consumer group, the partitions it owns; [] while rebalancing
    or while the broker cannot answer yet (a fresh broker is still loading its coordinator).
    """
    admin = AdminClient(settings.kafka_client_config())
    try:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except (KafkaException, TimeoutError):
        return []
    if description.state != ConsumerGroupState.STABLE:
        return []
    return [
        {(tp.topic, tp.partition) for tp in member.assignment.topic_partitions}
        for member in description.members
    ]


class CommittedOffsets:
    """Where a consumer group resumes a partition: its committed offset, or the log start.

    One librdkafka consumer that never subscribes (it only asks), on a thread of its own so
    the event loop never waits on the broker.
    """

    def __init__(self, settings: Settings, group: str) -> None:
        self._consumer = Consumer({**settings.kafka_client_config(), "group.id": group,
                                   "enable.auto.commit": False, "log_level": 3})
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="committed")

    async def start(self, topic: str, partition: int) -> int:
        """The offset the group must read first on `topic`/`partition`."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._start, topic, partition)

    async def position(self, topic: str, partition: int) -> tuple[int, int]:
        """Where the group starts on `topic`/`partition` and where the partition ends (its
        high watermark: the next offset to be written)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._position, topic, partition)

    async def resume(self, topic: str, partition: int, before: "CommittedOffsets | None") -> tuple[int, int]:
        """Like `position`, but where `before`'s group starts when this group never committed
        the partition (a group that took over from another)."""
        def ask() -> tuple[int, int]:
            committed = self._committed(topic, partition)
            if committed is None and before is not None:
                committed = before._committed(topic, partition)
            low, high = self._ends(topic, partition)
            return max(committed or 0, low), high

        return await asyncio.get_running_loop().run_in_executor(self._executor, ask)

    def _committed(self, topic: str, partition: int) -> int | None:
        (tp,) = _patiently(lambda: self._consumer.committed([TopicPartition(topic, partition)], timeout=10))
        return tp.offset if tp.offset >= 0 else None

    def _ends(self, topic: str, partition: int) -> tuple[int, int]:
        low, high = _patiently(lambda: self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10))
        return low, high

    def _start(self, topic: str, partition: int) -> int:
        return self._position(topic, partition)[0]  # no commit, or records removed by retention: the log start

    def _position(self, topic: str, partition: int) -> tuple[int, int]:
        committed = self._committed(topic, partition)
        low, high = self._ends(topic, partition)
        return max(committed or 0, low), high


def _patiently(ask: Callable[[], T], give_up_after: float | None = None) -> T:
    """Ask the broker until it answers (or `give_up_after` seconds have passed): while it is
    away (a restart, a coordinator moving) the worker cannot go on anyway, and giving up
    would stop an agent."""
    deadline = None if give_up_after is None else time.monotonic() + give_up_after
    while True:
        try:
            return ask()
        except KafkaException as exc:
            error = exc.args[0]
            if not (error.retriable() or error.code() in _TRANSIENT):
                raise
            if deadline is not None and time.monotonic() > deadline:
                raise
            if deadline is None:  # a bounded ask is a caller's poll: it says nothing until it gives up
                log.warning("broker not answering (%s); asking again", error.str())
            time.sleep(0.5)
