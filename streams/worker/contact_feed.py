"""Finished contacts read with librdkafka beside Faust (feed.py), counted in their interval.

The feed judges each record (the verdict `slastream sink` repeats to store the accepted
ones as `input_events` rows), dead-letters what it refuses and contacts of intervals no
longer kept (`late`), and counts the rest in the ContactTracker; Faust's tick agent then
publishes intervals and writes the tracker's entries. Offsets are committed in a consumer
group of their own (`Settings.contact_group`), up to the first contact no written entry
holds yet (contact_tracking.py), once the broker has stored everything sent before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from confluent_kafka import Message

from schemas.deadletter import Reason
from schemas.events import ContactEvent
from streams.kafka_util import CommittedOffsets
from streams.metrics import CONSUMED, CONTACT_LATE
from streams.settings import Settings
from streams.validate import Limits, Rejection
from streams.verdict import Consumed, accepted
from streams.worker.contact_tracking import ContactTracker
from streams.worker.feed import TP, Feed, Held, commit_position, oldest_held
from streams.worker.outputs import Outputs
from streams.worker.partition_clock import PartitionClock


class ContactFeed(Feed):
    """Reads the contact topic for this worker, counts contacts in `contacts`, commits what is done."""

    def __init__(self, settings: Settings, limits: Limits, outputs: Outputs, clock: PartitionClock,
                 wall: Callable[[], datetime], contacts: ContactTracker | None = None,
                 before: CommittedOffsets | None = None) -> None:
        super().__init__(settings, settings.contact_group, {"contact": settings.topic_contacts}, outputs, clock, wall,
                         owned=contacts is not None, before=before)
        self.topic = settings.topic_contacts
        self.limits = limits
        self.contacts = contacts
        self._consumed = CONSUMED.labels(self.topic)

    async def take(self, messages: list[Message]) -> None:
        """Judge and count a batch of records (without yielding: a revocation cannot come in between)."""
        last: dict[int, int] = {}
        for msg in messages:
            record = self.consumed(msg)
            if record is None:
                continue
            held = self.held.get((self.topic, record.partition))
            if held is None:
                continue  # from before a revocation
            self.count(record)
            held.next_read = record.offset + 1
            last[record.partition] = record.offset
        for partition, offset in last.items():
            self.clock.observe("contact", partition, offset, self.cached_end(self.topic, partition), None)
        self._consumed.inc(sum(1 for msg in messages if msg.error() is None))

    def count(self, record: Consumed) -> None:
        """Judge one record and count its contact, or dead-letter it (refused, or late)."""
        result = accepted("contact", record, self.limits)
        if isinstance(result, Rejection):
            if self.contacts is not None:
                self.contacts.on_rejected(record.partition)
            self.reject(record, result.reason, result.detail)
            return
        assert isinstance(result, ContactEvent)  # the contact topic's model
        if self.contacts is not None and self.contacts.on_contact(
                result, record.partition, record.offset, record.timestamp) == "late":
            CONTACT_LATE.inc()
            self.reject(record, Reason.late, f"the interval of {result.queued_at.isoformat()} for queue "
                                             f"{result.queue} is no longer kept for corrections (CONTACT_KEEP_DAYS)")

    def done_before(self, tp: TP, held: Held) -> int | None:
        return commit_position(held, self.contacts, tp[1])

    def oldest(self) -> dict[int, tuple[int, float]]:
        """Per partition, the first contact whose interval is not yet published: offset, seconds since it was read."""
        return oldest_held({p for _, p in self.held}, self.contacts)
