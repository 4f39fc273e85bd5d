"""Input topics read with librdkafka beside Faust: the part every feed shares.

A Faust agent costs a tenth of a millisecond or more of CPU per record even when it does
nothing, many times a librdkafka consumer; so no input record becomes a Faust event. A
feed reads its topics in batches, hands each batch to its subclass (probe_feed.py counts
results in their minute, event_feed.py applies ticket and incident events), and commits,
in a consumer group of its own, per partition the offset before which every record is
done, once the broker has stored everything sent so far.

With a policy, a feed reads exactly the partitions whose ticks this worker handles (the
tick topic and the tables are co-partitioned with the inputs): a partition from its first
tick (Faust hands out ticks only once the tables' partition is recovered) until Faust
revokes the assignment, when every partition is dropped and read again, from the committed
offsets, by whichever worker owns it next. A partition's first read starts at the feed's
committed offset, or for a group that has none yet (state written by a version that read
the topic through Faust) where the Faust group was. Without a policy there is no state:
the feed is an ordinary member of its group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Callable, Iterable, Protocol

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.deadletter import Reason
from streams.kafka_util import RECOMMIT_EVERY_S, CommittedOffsets
from streams.metrics import ACKED, REJECTED
from streams.settings import Settings
from streams.verdict import Consumed, dead_letter, record_time
from streams.worker.outputs import Outputs
from streams.worker.partition_clock import PartitionClock

log = logging.getLogger(__name__)

BATCH = 250  # records per read, handled before the next read
COMMIT_EVERY_S = 1.0
PREFETCH_KB = 8192  # what librdkafka fetches ahead (its default, 64 MiB, was most of a worker's memory)
TP = tuple[str, int]  # topic, partition


class Held:
    """Where reading and committing one partition stand."""

    def __init__(self, start: int | None) -> None:
        self.next_read = start  # the offset after the last record read (None: not known yet)
        self.committed = start


class Holds(Protocol):
    """A tracker that holds a partition's records uncommitted until what they cause is stored."""

    def held(self, partition: int) -> tuple[int, float] | None: ...


def commit_position(held: Held, tracker: Holds | None, partition: int) -> int | None:
    """The offset a commit of `partition` may name: that of the first record the tracker still
    holds (a result in an open minute, a contact of an interval not yet published), or the next
    record to read."""
    first = tracker.held(partition) if tracker is not None else None
    if first is None or held.next_read is None:
        return held.next_read
    return min(first[0], held.next_read)


def oldest_held(partitions: Iterable[int], tracker: Holds | None) -> dict[int, tuple[int, float]]:
    """Per partition, the first record `tracker` holds: offset, seconds since it was read."""
    now = time.monotonic()
    out = {}
    for partition in partitions:
        first = tracker.held(partition) if tracker is not None else None
        if first is not None:
            out[partition] = (first[0], now - first[1])
    return out


class Feed:
    """Reads `topics` for this worker and commits what its subclass says is done."""

    def __init__(self, settings: Settings, group: str, topics: dict[str, str], outputs: Outputs,
                 clock: PartitionClock, wall: Callable[[], datetime], owned: bool,
                 before: CommittedOffsets | None = None) -> None:
        """`topics`: kind -> topic. `owned`: partitions come by `own` (with a policy); else the
        feed subscribes. `before`: the Faust group's offsets, where a partition starts that this
        group never committed."""
        self.topics = topics
        self.kinds = {topic: kind for kind, topic in topics.items()}
        self.deadletter = settings.topic_deadletter
        self.outputs = outputs
        self.clock = clock
        self.wall = wall
        self.before = before
        self.owned = owned
        self.held: dict[TP, Held] = {}
        self._generation = 0  # moves at every revocation: a lookup begun before it is void
        self._committed = CommittedOffsets(settings, group)
        self._consumer = Consumer({
            **settings.kafka_client_config(), "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": int(settings.kafka_session_timeout_s * 1000),
            "queued.max.messages.kbytes": PREFETCH_KB,
        })
        self._acked = {topic: ACKED.labels(topic) for topic in topics.values()}
        if not owned:
            self._consumer.subscribe(list(topics.values()), on_assign=self._assigned, on_revoke=self._revoked)

    # -- what a subclass decides ------------------------------------------------------

    def reading(self) -> bool:
        """Whether to read now (a subclass waits while too much is in flight). A subscribed
        feed always reads: its partitions come while it does."""
        return bool(self.held) or not self.owned

    async def take(self, messages: list[Message]) -> None:
        """Handle a batch of records read."""
        raise NotImplementedError

    def done_before(self, tp: TP, held: Held) -> int | None:
        """The offset before which every record of `tp` is done (what a commit may name)."""
        return held.next_read

    def _hold(self, start: int | None) -> Held:
        """A newly owned partition's position."""
        return Held(start)

    # -- reading and committing -----------------------------------------------------------

    async def run(self) -> None:
        """Read, hand over and commit until cancelled."""
        last_commit = last_all = time.monotonic()
        try:
            while True:
                messages = self._consumer.consume(BATCH, timeout=0) if self.reading() else []
                if messages:
                    await self.take(messages)
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    again = time.monotonic() - last_all >= RECOMMIT_EVERY_S
                    await self.commit(again)
                    last_commit = time.monotonic()
                    if again:
                        last_all = last_commit
                await asyncio.sleep(0 if len(messages) == BATCH else 0.02)
        finally:
            self._consumer.close()

    async def own(self, partition: int) -> None:
        """Read `partition` of every topic from where the group left it (called by its ticks;
        a no-op once owned)."""
        for topic in self.topics.values():
            if (topic, partition) in self.held:
                continue
            generation = self._generation
            start, end = await self._committed.resume(topic, partition, self.before)
            if generation != self._generation or (topic, partition) in self.held:
                return  # revoked meanwhile
            self._consumer.incremental_assign([TopicPartition(topic, partition, start)])
            self.held[(topic, partition)] = self._hold(start)
            self.clock.learn(self.kinds[topic], partition, start, end)

    def release(self) -> None:
        """Faust revoked the assignment: stop reading; whatever is not committed is read again."""
        self._generation += 1
        if self.held:
            self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in self.held])
        self.held.clear()

    async def position(self, topic: str, partition: int) -> tuple[int, int] | None:
        """The next offset to read and the partition's end (asked of the broker); None if not owned."""
        held = self.held.get((topic, partition))
        if held is None or held.next_read is None:
            return None
        start = held.next_read
        try:
            _, end = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10))
        except KafkaException:
            return None  # the broker is away: the next tick asks again, the partition's clock holds meanwhile
        return start, end

    def cached_end(self, topic: str, partition: int) -> int | None:
        """The partition's end as of the last fetch; None when not known."""
        try:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        except KafkaException:
            return None
        return high if high >= 0 else None

    @staticmethod
    def consumed(msg: Message) -> Consumed | None:
        """The record of a message; None (logged) for an error message."""
        error = msg.error()
        if error is not None:
            log.warning("reading %s: %s", msg.topic(), error.str())
            return None
        _, timestamp = msg.timestamp()
        return Consumed(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value(),
                        record_time(timestamp))

    async def commit(self, again: bool = False) -> None:
        """Commit, per partition, the offset before which every record is done, once the broker
        has stored everything sent so far. `again`: also the partitions whose position has not
        moved since their last commit.

        A commit is asynchronous and its outcome is not awaited, so the run commits every
        position again every RECOMMIT_EVERY_S (kafka_util.py); committing an offset twice
        changes nothing."""
        positions = {}
        for tp, held in self.held.items():
            position = self.done_before(tp, held)
            if position is not None and (held.committed is None or position > held.committed
                                         or (again and position == held.committed)):
                positions[tp] = position
        if not positions:
            return
        generation = self._generation
        await self.outputs.stored()
        if generation != self._generation:
            return  # revoked meanwhile: the next owner reads from the last commit
        try:
            self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()],
                                  asynchronous=True)
        except KafkaException as exc:  # read again after a restart, which skips what was done
            log.warning("commit of %s failed: %s", ", ".join(sorted({t for t, _ in positions})), exc.args[0].str())
            return
        for (topic, partition), offset in positions.items():
            held = self.held[(topic, partition)]
            self._acked[topic].inc(offset - held.committed if held.committed is not None else 0)
            held.committed = offset

    def reject(self, record: Consumed, reason: Reason, detail: str) -> None:
        """Count `record` refused and send it to the dead-letter topic."""
        REJECTED.labels(record.topic, reason.value).inc()
        self.send_dead_letter(record, reason, detail)

    def send_dead_letter(self, record: Consumed, reason: Reason, detail: str) -> None:
        """Send `record` to the dead-letter topic (stored before the commit that passes it)."""
        key, value, headers = dead_letter(record, reason, detail, self.wall())
        self.outputs.send(self.deadletter, [(key, value)], headers=dict(headers))

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # librdkafka reads from the group's offset
            self.held[(tp.topic, tp.partition)] = self._hold(None)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.held.pop((tp.topic, tp.partition), None)

