"""What the worker does with one input record, without Faust: the verdict, the dead-letter
topic, the SLA tracker or the probe tracker, and when the record is acknowledged.

The Faust agent (app.py) only checks the record's offset, hands it here with its
acknowledgement, and sends what `reject` is given to the dead-letter topic.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from schemas.deadletter import Reason
from schemas.events import IncidentEvent, ProbeEvent, TicketEvent
from streams.verdict import Consumed, accepted
from streams.metrics import CONSUMED, PROBE_LATE, REJECTED
from streams.validate import Limits, Rejection
from streams.worker.partition_clock import PartitionClock
from streams.worker.probe_tracking import ProbeTracker
from streams.worker.tracking import SlaTracker
from streams.worker.types import Ack

log = logging.getLogger(__name__)

Reject = Callable[[Consumed, Reason, str], Awaitable[None]]  # record, reason, detail


class Router:
    """Routes input records; one per worker, shared by the ingest agents."""

    def __init__(self, limits: Limits, clock: PartitionClock, reject: Reject,
                 tracker: SlaTracker | None = None, probes: ProbeTracker | None = None) -> None:
        self.limits = limits
        self.clock = clock
        self.reject = reject
        self.tracker = tracker
        self.probes = probes
        self._consumed: dict[str, Any] = {}  # per topic, its labelled counter (a lookup per record cost 2 %)

    async def route(self, kind: str, record: Consumed, highwater: int, ack: Ack) -> None:
        """Process one record of `kind`'s input topic (`highwater`: its partition's end as the
        consumer knows it). `ack` is called once nothing of the record can be lost: at once,
        for a ticket or incident event once the partition's next tick has written its entity,
        for a counted probe result once its minute is closed and published."""
        consumed = self._consumed.get(record.topic)
        if consumed is None:
            consumed = self._consumed[record.topic] = CONSUMED.labels(record.topic)
        consumed.inc()
        # The same verdict `slastream sink` reaches when it stores the valid events.
        result = accepted(kind, record, self.limits)
        # An event time counts for the partition's clock no later than the broker appended the
        # record (input topics are stamped by the broker): a producer clock that runs ahead
        # cannot move the clock of the other entities in its partition.
        self.clock.observe(kind, record.partition, record.offset, highwater,
                           None if isinstance(result, Rejection) else min(result.occurred_at, record.timestamp))
        if isinstance(result, Rejection):
            if self.probes is not None and kind == "probe":
                self.probes.on_rejected(record.partition)
            await self._reject(record, result.reason, result.detail)
            await ack()
            return
        if self.tracker is not None and isinstance(result, (TicketEvent, IncidentEvent)):
            if await self._track(record, result, ack):
                return  # acknowledged by the SLA tracker at the partition's next tick
        if self.probes is not None and isinstance(result, ProbeEvent):
            outcome = self.probes.on_event(result, record.partition, record.offset, ack)
            if outcome == "counted":
                return  # acknowledged by the probe tracker once its minute is closed
            if outcome == "late":
                PROBE_LATE.inc()
                await self._reject(record, Reason.late, f"the minute of {result.occurred_at.isoformat()} for service "
                                                       f"{result.service} was already closed")
        await ack()

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
