"""Probe results read with librdkafka beside Faust (feed.py), counted in their minute before any Faust event.

Probe results are the high-volume input. This feed reads the probe topic in batches (a
record may hold a batch of results), judges each result, writes the valid ones for the
sink (`slo.probe_events`, lines of many results that ClickHouse splits into `input_events`
rows: the sink stores them without judging again), and counts them in their
open (service, minute) buckets of the ProbeTracker (a valid batch as one group per minute),
or dead-letters them. Faust's tick agent then closes the minutes, touching one table entry
per service and tick.

Offsets are committed in a consumer group of their own (`Settings.probe_group`): up to
the first result whose minute is still open, once the broker has stored the outputs and
table entries of the closed minutes (the tracker acknowledges a result only then), the
rows and the dead letters. A crash anywhere re-reads from there, and the tracker's
entries (per service, the minutes closed and the offset counted up to) skip what was
counted before: a result counts once in its minute. A revocation drops every open minute
with the partitions (feed.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from confluent_kafka import Message

from schemas.deadletter import Reason
from schemas.events import ProbeEvent
from streams.kafka_util import CommittedOffsets
from streams.metrics import CONSUMED, PROBE_LATE
from streams.settings import Settings
from streams.validate import Limits, Rejection
from streams.verdict import Consumed, accepted_many, probe_rows
from streams.worker.feed import TP, Feed, Held, commit_position, oldest_held
from streams.worker.outputs import Outputs
from streams.worker.partition_clock import PartitionClock
from streams.worker.probe_tracking import ProbeTracker

MAX_CLOSABLE = 50_000  # results waiting for a tick to close their minute before reading waits
# A line of the probe events topic holds at most RESULTS_PER_LINE results (about 25 kB; at most
# 800 kB, with every id 256 characters that JSON must escape), a record lines up to about
# RECORD_BYTES: under Kafka's 1 MB message limit whatever the results hold.
RESULTS_PER_LINE = 100
RECORD_BYTES = 512 * 1024
Reject = Callable[[Consumed, Reason, str], None]  # record, reason, detail


class ProbeCounting:
    """What happens to one probe record, without Kafka: counted in its minute (and held until
    the minute is closed), or done at once (refused or late: dead-lettered; a copy)."""

    def __init__(self, limits: Limits, probes: ProbeTracker | None, reject: Reject,
                 accepted: Callable[[Consumed, list[ProbeEvent]], None]) -> None:
        """`accepted` takes the valid results of each record, to be stored (streams/verdict.py)."""
        self.limits = limits
        self.probes = probes
        self.reject = reject
        self.accepted = accepted

    def count(self, record: Consumed, held: Held) -> None:
        """Judge and count `record`, one result or a batch (the verdict `slastream sink` would reach)."""
        results = accepted_many("probe", record, self.limits)
        events = [result for result in results if isinstance(result, ProbeEvent)]
        if events:
            self.accepted(record, events)  # stored whether they count or not (late, copies)
        if 1 < len(events) == len(results) and self.probes is not None:  # a valid batch: counted together
            for event in self.probes.on_batch(events[0].service, events, record.partition, record.offset,
                                              record.timestamp):
                self._late(record, event)
        else:
            for result in results:
                if isinstance(result, Rejection):
                    if self.probes is not None:
                        self.probes.on_rejected(record.partition)
                    self.reject(record, result.reason, result.detail)
                elif isinstance(result, ProbeEvent) and self.probes is not None and self.probes.on_event(
                        result, record.partition, record.offset, record.timestamp) == "late":
                    self._late(record, result)
        held.next_read = record.offset + 1

    def _late(self, record: Consumed, event: ProbeEvent) -> None:
        PROBE_LATE.inc()
        self.reject(record, Reason.late, f"the minute of {event.occurred_at.isoformat()} for service "
                                         f"{event.service} was already closed")


class ProbeFeed(Feed):
    """Reads the probe topic for this worker, counts results in `probes`, commits what is done."""

    def __init__(self, settings: Settings, limits: Limits, outputs: Outputs, clock: PartitionClock,
                 wall: Callable[[], datetime], probes: ProbeTracker | None = None,
                 before: CommittedOffsets | None = None) -> None:
        """`before`: the Faust group's offsets, where a partition starts that this group never committed."""
        super().__init__(settings, settings.probe_group, {"probe": settings.topic_probes}, outputs, clock, wall,
                         owned=probes is not None, before=before)
        self.topic = settings.topic_probes
        self.rows_topic = settings.topic_probe_events
        self.probes = probes
        self._accepted: dict[int, tuple[list[int], list[ProbeEvent]]] = {}  # per partition: offsets, valid results
        self.counting = ProbeCounting(limits, probes, self.reject, self._accept)
        self._consumed = CONSUMED.labels(self.topic)

    def reading(self) -> bool:
        # Reading waits while the ticks have many results to close (they close without new
        # input): a backlog read far ahead of them would sit in memory, not in Kafka.
        ahead = self.probes is not None and self.probes.closable() > MAX_CLOSABLE
        return super().reading() and not ahead

    async def take(self, messages: list[Message]) -> None:
        """Judge and count a batch of records (without yielding: a revocation cannot come in
        between), then move each partition's position once: the records of one batch are read
        at one time, and no probe deadline runs by the partition's event time (its minutes
        close by the watermark of their own buckets)."""
        last: dict[int, int] = {}  # per partition, the offset of its last record judged
        read = 0
        for msg in messages:
            record = self.consumed(msg)
            if record is None:
                continue
            held = self.held.get((self.topic, record.partition))
            if held is None:
                continue  # from before a revocation
            self.counting.count(record, held)
            last[record.partition] = record.offset
            read += 1
        for partition, offset in last.items():
            self.clock.observe("probe", partition, offset, self.cached_end(self.topic, partition), None)
        self._consumed.inc(read)
        self._send_rows()

    def done_before(self, tp: TP, held: Held) -> int | None:
        return commit_position(held, self.probes, tp[1])

    def _accept(self, record: Consumed, events: list[ProbeEvent]) -> None:
        offsets, results = self._accepted.setdefault(record.partition, ([], []))
        offsets += [record.offset] * len(events)
        results += events

    def _send_rows(self) -> None:
        """The valid results of the batch read, a line per partition and RESULTS_PER_LINE results,
        lines up to about RECORD_BYTES to a record (stored before the commit that passes them)."""
        lines = [probe_rows(self.topic, partition, offsets[start:start + RESULTS_PER_LINE],
                            results[start:start + RESULTS_PER_LINE])
                 for partition, (offsets, results) in self._accepted.items()
                 for start in range(0, len(results), RESULTS_PER_LINE)]
        self._accepted.clear()
        record: list[bytes] = []
        size = 0
        for line in lines:
            if record and size + len(line) > RECORD_BYTES:
                self.outputs.send(self.rows_topic, [(None, b"\n".join(record))])
                record, size = [], 0
            record.append(line)
            size += len(line) + 1
        if record:
            self.outputs.send(self.rows_topic, [(None, b"\n".join(record))])

    def oldest(self) -> dict[int, tuple[int, float]]:
        """Per partition, the first result still in an open minute: offset, seconds since it was read."""
        return oldest_held({p for _, p in self.held}, self.probes)
