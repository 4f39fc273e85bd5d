"""What the worker does with one ticket or incident record, without Faust: the verdict, the
dead-letter topic, the SLA tracker, and when the record is acknowledged.

The event feed (event_feed.py) hands each record here with its acknowledgement and sends
what `reject` is given to the dead-letter topic. Probe results get the same verdict
(`streams/verdict.py`) in the probe feed (probe_feed.py).
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from schemas.deadletter import Reason
from schemas.events import IncidentEvent, TicketEvent
from streams.metrics import CONSUMED, REJECTED
from streams.validate import AnyEvent, Limits, Rejection
from streams.verdict import Consumed, accepted
from streams.worker.partition_clock import PartitionClock
from streams.worker.tracking import SlaTracker
from streams.worker.types import Ack

log = logging.getLogger(__name__)

Reject = Callable[[Consumed, Reason, str], Awaitable[None]]  # record, reason, detail


class Router:
    """Routes ticket and incident records (the event feed's, for both topics)."""

    def __init__(self, limits: Limits, clock: PartitionClock, reject: Reject,
                 tracker: SlaTracker | None = None) -> None:
        self.limits = limits
        self.clock = clock
        self.reject = reject
        self.tracker = tracker
        self._consumed: dict[str, Any] = {}  # per topic, its labelled counter (a lookup per record cost 2 %)

    async def route(self, kind: str, record: Consumed, highwater: int | None, ack: Ack) -> None:
        """Process one record of `kind`'s input topic (`highwater`: its partition's end as the
        consumer knows it). `ack` is called once nothing of the record can be lost: at once,
        for a ticket or incident event once the partition's next tick has written its entity."""
        result = self.verdict(kind, record, highwater)
        if isinstance(result, Rejection):
            await self._reject(record, result.reason, result.detail)
            await ack()
            return
        if self.tracker is not None and isinstance(result, (TicketEvent, IncidentEvent)):
            if await self._track(record, result, ack):
                return  # acknowledged by the SLA tracker at the partition's next tick
        await ack()

    def verdict(self, kind: str, record: Consumed, highwater: int | None) -> AnyEvent | Rejection:
        """Count the record read, judge it as `slastream sink` does when it stores the valid
        events, and move its partition's clock."""
        result = accepted(kind, record, self.limits)
        self._read(kind, record, highwater, result)
        return result

    def _read(self, kind: str, record: Consumed, highwater: int | None, result: AnyEvent | Rejection) -> None:
        consumed = self._consumed.get(record.topic)
        if consumed is None:
            consumed = self._consumed[record.topic] = CONSUMED.labels(record.topic)
        consumed.inc()
        # An event time counts for the partition's clock no later than the broker appended the
        # record (input topics are stamped by the broker): a producer clock that runs ahead
        # cannot move the clock of the other entities in its partition.
        self.clock.observe(kind, record.partition, record.offset, highwater,
                           None if isinstance(result, Rejection) else min(result.occurred_at, record.timestamp))

    async def _track(self, record: Consumed, event: TicketEvent | IncidentEvent, ack: Ack) -> bool:
        """Apply the event; False when it failed (then it is dead-lettered, `ack` not kept)."""
        assert self.tracker is not None
        try:
            now = self.clock.now(event.kind, record.partition)
            if now is None:  # no two records agree on a time yet: as of this event, held by the lateness
                now = min(event.occurred_at, record.timestamp) - self.clock.lateness
            await self.tracker.on_event(event, record.partition, record.offset, now, ack)
            return True
        except Exception as exc:  # the worker must survive any input; keep the record
            log.exception("SLA processing failed for %s %s", event.kind, event.event_id, extra={
                "topic": record.topic, "partition": record.partition, "offset": record.offset,
                "reason": Reason.processing_error.value})
            await self._reject(record, Reason.processing_error, f"{type(exc).__name__}: {exc}")
            return False

    async def _reject(self, record: Consumed, reason: Reason, detail: str) -> None:
        REJECTED.labels(record.topic, reason.value).inc()
        await self.reject(record, reason, detail)
