"""Probe results read with librdkafka beside Faust, counted in their minute before any Faust event.

A Faust agent costs a tenth of a millisecond or more of CPU per record even when it does
nothing, many times a librdkafka consumer, and probe results are the high-volume input. So
no probe result becomes a Faust event: this stage reads the probe topic in batches (up to
`BATCH` records; a record may hold a batch of results), judges each result, writes the
`input_events` row of every valid one for the sink (`slo.probe_events`: the sink stores
them without judging again), and counts it in its open (service, minute) bucket of the
ProbeTracker, or dead-letters it. Faust's tick agent then closes the minutes as before,
touching one table entry per service and tick.

Offsets are committed in a consumer group of their own (`Settings.probe_group`): up to
the first result whose minute is still open, once the broker has stored the outputs and
table entries of the closed minutes (the tracker acknowledges a result only then), the
rows and the dead letters. A crash anywhere re-reads from there, and the tracker's
entries (per service, the minutes closed and the offset counted up to) skip what was
counted before: a result counts once in its minute.

With a policy, the feed reads exactly the partitions whose ticks this worker handles
(the tick topic and the probe table are co-partitioned with the input): a partition from
the first tick of it (Faust hands out ticks only once the table's partition is recovered)
until Faust revokes the assignment, when every partition and open minute is dropped and
read again, from the committed offsets, by whichever worker owns it next. A partition's
first read starts at the feed's committed offset, or for a group that has none yet
(state written by a version that read probes through Faust) where the Faust group was.
Without a policy there is no state: the feed is an ordinary member of its group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Callable

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.deadletter import Reason
from schemas.events import ProbeEvent
from streams.kafka_util import CommittedOffsets
from streams.metrics import ACKED, CONSUMED, PROBE_LATE, REJECTED
from streams.settings import Settings
from streams.validate import Limits, Rejection
from streams.verdict import Consumed, accepted_many, dead_letter, probe_row, record_time
from streams.worker.outputs import Outputs
from streams.worker.partition_clock import PartitionClock
from streams.worker.probe_tracking import ProbeTracker

log = logging.getLogger(__name__)

BATCH = 250  # records per read: judged and counted without yielding the event loop (a batch record holds many)
COMMIT_EVERY_S = 1.0
PREFETCH_KB = 8192  # what librdkafka fetches ahead (its default, 64 MiB, was most of a worker's memory)
MAX_CLOSABLE = 50_000  # results waiting for a tick to close their minute before reading waits
ROWS_PER_RECORD = 1000  # input_events rows per record of the probe events topic (about 400 kB)
Reject = Callable[[Consumed, Reason, str], None]  # record, reason, detail


class Held:
    """Where reading and committing one partition stand."""

    def __init__(self, start: int | None) -> None:
        self.next_read = start  # the offset after the last record read (None: not known yet)
        self.committed = start


def commit_position(held: Held, probes: ProbeTracker | None, partition: int) -> int | None:
    """The offset a commit of `partition` may name: that of the first result still in an open
    minute, or the next record to read."""
    first = probes.held(partition) if probes is not None else None
    if first is None or held.next_read is None:
        return held.next_read
    return min(first[0], held.next_read)


class ProbeCounting:
    """What happens to one probe record, without Kafka: counted in its minute (and held until
    the minute is closed), or done at once (refused or late: dead-lettered; a copy)."""

    def __init__(self, limits: Limits, probes: ProbeTracker | None, reject: Reject,
                 accepted: Callable[[bytes], None]) -> None:
        """`accepted` takes the input_events row of every valid result (streams/verdict.py)."""
        self.limits = limits
        self.probes = probes
        self.reject = reject
        self.accepted = accepted

    def count(self, record: Consumed, held: Held) -> None:
        """Judge and count `record`, one result or a batch (the verdict `slastream sink` would reach)."""
        for result in accepted_many("probe", record, self.limits):
            if isinstance(result, Rejection):
                if self.probes is not None:
                    self.probes.on_rejected(record.partition)
                self.reject(record, result.reason, result.detail)
                continue
            if not isinstance(result, ProbeEvent):
                continue
            self.accepted(probe_row(result, record))  # stored whether it counts or not (late, a copy)
            if self.probes is not None and self.probes.on_event(
                    result, record.partition, record.offset, record.timestamp) == "late":
                PROBE_LATE.inc()
                self.reject(record, Reason.late, f"the minute of {result.occurred_at.isoformat()} for service "
                                                 f"{result.service} was already closed")
        held.next_read = record.offset + 1


class ProbeFeed:
    """Reads the probe topic for this worker, counts results in `probes`, commits what is done."""

    def __init__(self, settings: Settings, limits: Limits, outputs: Outputs, clock: PartitionClock,
                 wall: Callable[[], datetime], probes: ProbeTracker | None = None,
                 before: CommittedOffsets | None = None) -> None:
        """`before`: the Faust group's offsets, where a partition starts that this group never committed."""
        self.topic = settings.topic_probes
        self.deadletter = settings.topic_deadletter
        self.rows_topic = settings.topic_probe_events
        self.outputs = outputs
        self.clock = clock
        self.wall = wall
        self.probes = probes
        self.before = before
        self.held: dict[int, Held] = {}
        self._rows: list[bytes] = []  # input_events rows of the batch being read
        self.counting = ProbeCounting(limits, probes, self._reject, self._rows.append)
        self._generation = 0  # moves at every revocation: a lookup begun before it is void
        self._committed = CommittedOffsets(settings, settings.probe_group)
        self._consumer = Consumer({
            **settings.kafka_client_config(), "group.id": settings.probe_group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": int(settings.kafka_session_timeout_s * 1000),
            "queued.max.messages.kbytes": PREFETCH_KB,
        })
        self._acked = ACKED.labels(self.topic)
        self._consumed = CONSUMED.labels(self.topic)
        if probes is None:
            self._consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked)

    async def run(self) -> None:
        """Read, count and commit until cancelled."""
        last_commit = time.monotonic()
        try:
            while True:
                # Reading waits while the ticks have many results to close (they close without new
                # input): a backlog read far ahead of them would sit in memory, not in Kafka.
                ahead = self.probes is not None and self.probes.closable() > MAX_CLOSABLE
                reading = (self.held or self.probes is None) and not ahead
                messages = self._consumer.consume(BATCH, timeout=0) if reading else []
                if messages:
                    self.take(messages)
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    await self.commit()
                    last_commit = time.monotonic()
                await asyncio.sleep(0 if len(messages) == BATCH else 0.02)
        finally:
            self._consumer.close()

    async def own(self, partition: int) -> None:
        """Read `partition` from where the group left it (called by its ticks; a no-op once owned)."""
        if partition in self.held:
            return
        generation = self._generation
        start, end = await self._committed.resume(self.topic, partition, self.before)
        if generation != self._generation or partition in self.held:
            return  # revoked meanwhile
        self._consumer.incremental_assign([TopicPartition(self.topic, partition, start)])
        self.held[partition] = Held(start)
        self.clock.learn("probe", partition, start, end)

    def release(self) -> None:
        """Faust revoked the assignment: stop reading; whatever is not committed is read again."""
        self._generation += 1
        if self.held:
            self._consumer.incremental_unassign([TopicPartition(self.topic, p) for p in self.held])
        self.held.clear()

    async def position(self, partition: int) -> tuple[int, int] | None:
        """The next offset to read and the partition's end (asked of the broker); None if not owned."""
        held = self.held.get(partition)
        if held is None or held.next_read is None:
            return None
        start = held.next_read
        try:
            _, end = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self._consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10))
        except KafkaException:
            return None  # the broker is away: the next tick asks again, the partition's clock holds meanwhile
        return start, end

    def take(self, messages: list[Message]) -> None:
        """Judge and count a batch of records (without yielding: a revocation cannot come in
        between), then move each partition's position once: the records of one batch are read
        at one time, and no probe deadline runs by the partition's event time (its minutes
        close by the watermark of their own buckets)."""
        last: dict[int, int] = {}  # per partition, the offset of its last record judged
        read = 0
        for msg in messages:
            error = msg.error()
            if error is not None:
                log.warning("reading %s: %s", self.topic, error.str())
                continue
            partition = msg.partition() or 0
            held = self.held.get(partition)
            if held is None:
                continue  # from before a revocation
            _, timestamp = msg.timestamp()
            record = Consumed(self.topic, partition, msg.offset() or 0, msg.key(), msg.value(), record_time(timestamp))
            self.counting.count(record, held)
            last[partition] = record.offset
            read += 1
        for partition, offset in last.items():
            self.clock.observe("probe", partition, offset, self._cached_end(partition), None)
        self._consumed.inc(read)
        self._send_rows()

    def _cached_end(self, partition: int) -> int | None:
        """The partition's end as of the last fetch; None when not known."""
        try:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, partition), cached=True)
        except KafkaException:
            return None
        return high if high >= 0 else None

    def _send_rows(self) -> None:
        """The accepted results' rows, many to a record (stored before the commit that passes them)."""
        rows = list(self._rows)
        self._rows.clear()
        for start in range(0, len(rows), ROWS_PER_RECORD):
            self.outputs.send(self.rows_topic, [(None, b"\n".join(rows[start:start + ROWS_PER_RECORD]))])

    def oldest(self) -> dict[int, tuple[int, float]]:
        """Per partition, the first result still in an open minute: offset, seconds since it was read."""
        now = time.monotonic()
        out = {}
        for partition in list(self.held):
            first = self.probes.held(partition) if self.probes is not None else None
            if first is not None:
                out[partition] = (first[0], now - first[1])
        return out

    async def commit(self) -> None:
        """Commit, per partition, the offset before which every record is done, once the broker
        has stored every row and dead letter sent so far (outputs and entries are stored
        before the tracker releases a result)."""
        positions = {}
        for p, held in self.held.items():
            position = commit_position(held, self.probes, p)
            if position is not None and (held.committed is None or position > held.committed):
                positions[p] = position
        if not positions:
            return
        generation = self._generation
        await self.outputs.stored()
        if generation != self._generation:
            return  # revoked meanwhile: the next owner reads from the last commit
        try:
            self._consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in positions.items()],
                                  asynchronous=True)
        except KafkaException as exc:  # read again after a restart; the entries skip what was counted
            log.warning("commit of %s failed: %s", self.topic, exc.args[0].str())
            return
        for p, offset in positions.items():
            held = self.held[p]
            self._acked.inc(offset - held.committed if held.committed is not None else 0)
            held.committed = offset

    def _reject(self, record: Consumed, reason: Reason, detail: str) -> None:
        REJECTED.labels(record.topic, reason.value).inc()
        key, value, headers = dead_letter(record, reason, detail, self.wall())
        self.outputs.send(self.deadletter, [(key, value)], headers=dict(headers))

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # librdkafka reads from the group's offset
            self.held[tp.partition] = Held(None)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.held.pop(tp.partition, None)
