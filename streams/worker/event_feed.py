"""Ticket and incident events read with librdkafka beside Faust (feed.py), applied by the router.

Each record gets the router's verdict (dead letter, or the SLA tracker) and an
acknowledgement: at once for a refused one, once the partition's next tick has written the
entity for an applied one (tracking.py: its outputs and status record are stored by then,
its table entry sent). Offsets are committed in a consumer group of their own
(`Settings.events_group`), per partition up to the first record not acknowledged, once the
broker has stored everything sent before (feed.py). A crash anywhere re-reads from there;
the engine ignores an event it holds already, and the outputs it publishes again carry the
same ids.

Reading waits while many records wait for their tick: a backlog read far ahead of the
ticks would sit in memory, not in Kafka. And a partition with FLUSH_AT events applied since
its last flush gets a tick of its own at once: a flush publishes its events' outputs before
it writes their entries, and a worker killed in between publishes them again after its
restart (same ids), so flushes are kept small (full chaos runs with flushes of thousands of
events after a restart saw 34-36 % copies in a SIGKILL stage).
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime
from typing import Awaitable, Callable

from confluent_kafka import Message

from schemas.deadletter import Reason
from streams.kafka_util import CommittedOffsets
from streams.settings import Settings
from streams.topics import ticks_topic
from streams.validate import Limits
from streams.verdict import Consumed
from streams.worker.feed import TP, Feed, Held
from streams.worker.outputs import Outputs
from streams.worker.partition_clock import PartitionClock
from streams.worker.router import Router
from streams.worker.tracking import SlaTracker

MAX_PENDING = 20_000  # records read and not yet acknowledged before reading waits
FLUSH_AT = 500  # events applied on a partition since its last flush that ask for a tick at once


class Pending(Held):
    """A partition's position and its records read and not yet acknowledged, in offset order."""

    def __init__(self, start: int | None) -> None:
        super().__init__(start)
        self.queue: deque[list[float | int | bool]] = deque()  # [done, offset, monotonic time read]

    def track(self, offset: int) -> Callable[[], Awaitable[bool]]:
        """Register the record at `offset`; returns its acknowledgement."""
        entry: list[float | int | bool] = [False, offset, time.monotonic()]
        self.queue.append(entry)

        async def done() -> bool:
            entry[0] = True
            return True

        return done

    def done_before(self) -> int | None:
        """The offset before which every record read is acknowledged (what a commit may name)."""
        first = self.first()
        return self.next_read if first is None else first[0]

    def first(self) -> tuple[int, float] | None:
        """The first record not acknowledged: offset and when it was read; None when all are."""
        return (int(self.queue[0][1]), float(self.queue[0][2])) if self.waiting() else None

    def waiting(self) -> int:
        """How many records from the first not acknowledged on were read."""
        queue = self.queue
        while queue and queue[0][0]:
            queue.popleft()
        return len(queue)


class EventFeed(Feed):
    """Reads the ticket and incident topics for this worker and routes every record."""

    def __init__(self, settings: Settings, limits: Limits, outputs: Outputs, clock: PartitionClock,
                 wall: Callable[[], datetime], tracker: SlaTracker | None = None,
                 before: CommittedOffsets | None = None) -> None:
        """`before`: the Faust group's offsets, where a partition starts that this group never committed."""
        topics = {kind: topic for kind, topic in settings.input_topics.items() if kind in ("ticket", "incident")}
        super().__init__(settings, settings.events_group, topics, outputs, clock, wall,
                         owned=tracker is not None, before=before)
        self.router = Router(limits, clock, self._rejected, tracker)
        self.tracker = tracker
        self.ticks = ticks_topic(settings)
        self._asked: dict[int, int] = {}  # partition -> events staged when a tick was last asked for

    def reading(self) -> bool:
        return super().reading() and sum(
            held.waiting() for held in self.held.values() if isinstance(held, Pending)) < MAX_PENDING

    async def take(self, messages: list[Message]) -> None:
        """Route each record in turn. Applying one may wait (a flush of the partition's
        changes), and a revocation may come meanwhile: the rest of the batch is then dropped."""
        ends: dict[TP, int | None] = {}
        generation = self._generation
        for msg in messages:
            if self._generation != generation:
                return  # revoked meanwhile: a partition owned again starts at its commit, not here
            record = self.consumed(msg)
            if record is None:
                continue
            tp = (record.topic, record.partition)
            held = self.held.get(tp)
            if not isinstance(held, Pending):
                continue  # from before a revocation
            if tp not in ends:
                ends[tp] = self.cached_end(*tp)
            held.next_read = record.offset + 1
            await self.router.route(self.kinds[record.topic], record, ends[tp], held.track(record.offset))
            self._ask_for_tick(record.partition)

    def _ask_for_tick(self, partition: int) -> None:
        """Send the partition a tick of its own once FLUSH_AT events wait for one (and again
        for every FLUSH_AT more while it has not come)."""
        if self.tracker is None:
            return
        staged = self.tracker.staged(partition)
        if staged < self._asked.get(partition, 0):
            self._asked[partition] = 0  # flushed since
        if staged >= self._asked.get(partition, 0) + FLUSH_AT:
            self._asked[partition] = staged
            self.outputs.write(self.ticks, partition, b"", b"", lambda offset: None)

    def done_before(self, tp: TP, held: Held) -> int | None:
        return held.done_before() if isinstance(held, Pending) else held.next_read

    def oldest(self) -> dict[TP, tuple[int, float]]:
        """Per partition, the first record not acknowledged: offset, seconds since it was read."""
        now = time.monotonic()
        out = {}
        for tp, held in list(self.held.items()):
            first = held.first() if isinstance(held, Pending) else None
            if first is not None:
                out[tp] = (first[0], now - first[1])
        return out

    async def _rejected(self, record: Consumed, reason: Reason, detail: str) -> None:
        self.send_dead_letter(record, reason, detail)  # the router counted it

    def _hold(self, start: int | None) -> Held:
        return Pending(start)
