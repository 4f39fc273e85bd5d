"""Live probe SLOs: the thin layer between the probe feed, Faust (tables, ticks) and the pure cores.

Probe results are counted in memory, in the open minute buckets of their partition, and
a commit may pass a result only once its minute is closed and written (`held`: the first
offset still in an open minute). So a crash loses nothing: the results of open minutes
are read again and counted again. What closing a minute changed (error series, alert
states) is kept in one table entry per service, together with the partition's
closed-until minute and the highest input offset counted by then; a result read again
for a minute already closed is recognised by its offset and skipped, neither counted
twice nor called late.

Closing happens once per tick for all of a partition's services, so it can afford to wait:
outputs (closed minutes, alerts, statuses) are published and stored by the broker before
the entries are written; the probe feed commits released results only once the broker has
stored everything sent before (the entries too).
A crash in between leaves the old entries, and the results are read and counted
again, giving the same outputs; consumers keep one copy per key or event id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Literal, Sequence

from schemas import codec
from schemas.events import ProbeEvent
from streams.engine.probes import Bucket, MinuteBuckets
from streams.engine.service_slo import ServiceEntry, ServiceSlo
from streams.engine.slo import epoch_minute, minute_start
from streams.engine.slo_plan import SloPlan
from streams.metrics import MINUTES_CLOSED
from streams.worker.ownership import Ownership
from streams.worker.types import Record, Table

Publish = Callable[[Sequence[Record], Sequence[Record], Sequence[Record]], Awaitable[None]]  # minutes, alerts, statuses
Stored = Callable[[], Awaitable[None]]  # returns once the broker has stored everything published and written
Outcome = Literal["counted", "duplicate", "late"]


@dataclass
class _Partition:
    """In-memory state of one owned partition."""

    buckets: MinuteBuckets
    closed_until: int | None = None
    max_offset: int = -1
    recount_until: int = -1  # at takeover, the highest offset any entry of the partition had counted
    # Per open epoch minute: the first offset counted in it and when it was read. A commit may
    # pass a result only once its minute is closed, published and written.
    first: dict[int, tuple[int, float]] = field(default_factory=dict)
    entries: dict[str, ServiceEntry] = field(default_factory=dict)  # parsed table values, updated in place
    alerting: set[str] = field(default_factory=set)  # services with firing burn-rate alerts
    stale: set[str] = field(default_factory=set)  # services whose newest status is not published yet
    silence_due: dict[str, int] = field(default_factory=dict)  # service -> minute its first no_data would fire


class ProbeTracker:
    """Minute buckets, error series and alerts of the probe SLOs, per owned partition."""

    def __init__(
        self, plan: SloPlan, table: Table, publish: Publish, wall: Callable[[], datetime],
        lateness: timedelta = timedelta(seconds=60), idle: timedelta = timedelta(minutes=2),
        status_every: int = 1, *, stored: Stored,
    ) -> None:
        self.plan = plan
        self.table = table
        self.publish = publish
        self.stored = stored
        self.wall = wall
        self.lateness = lateness
        self.idle = idle
        self.status_every = status_every  # minutes of event time between statuses while catching up
        self.slo = ServiceSlo(plan)
        self._parts: dict[int, _Partition] = {}
        self._ownership = Ownership()

    def on_event(self, event: ProbeEvent, partition: int, offset: int, appended: datetime | None = None) -> Outcome:
        """Count a probe result; until its minute is closed and written, `held` names it (or an
        earlier one). `appended`: when the broker appended its record (the result's time
        counts for the watermark no later than that). A duplicate or late result changes no
        count (the caller dead-letters a late one)."""
        part = self._partition(partition)
        minute = epoch_minute(event.occurred_at)
        entry = part.entries.get(event.service)
        if entry is not None and minute < entry.closed_until and offset <= entry.offset:
            return "duplicate"  # counted before a restart or rebalance
        # Read before the partition's last write, yet not in its service's entry: a crash came
        # between the writes of two services' entries. Count it again, never call it late.
        recount = offset <= part.recount_until
        outcome = part.buckets.add(event, self.wall(), force=recount, appended=appended, minute=minute)
        if outcome == "counted":
            if minute not in part.first:
                part.first[minute] = (offset, time.monotonic())
            part.max_offset = max(part.max_offset, offset)
        return outcome

    def on_batch(self, service: str, events: list[ProbeEvent], partition: int, offset: int,
                 appended: datetime | None = None) -> list[ProbeEvent]:
        """Count the results of one record, all of `service` (its key), as `on_event` would one
        by one; returns the late ones (in their order). Counted as one group per minute unless
        the service's entry covers the record or a result is late."""
        part = self._partition(partition)
        entry = part.entries.get(service)
        counted = None
        if (entry is None or offset > entry.offset
                or epoch_minute(min(event.occurred_at for event in events)) >= entry.closed_until):
            counted = part.buckets.add_batch(service, events, self.wall(), offset <= part.recount_until, appended)
        if counted is None:  # one by one: some are covered by the entry, or late
            return [event for event in events if self.on_event(event, partition, offset, appended) == "late"]
        now = time.monotonic()
        for minute in counted:
            if minute not in part.first:
                part.first[minute] = (offset, now)
        if counted:
            part.max_offset = max(part.max_offset, offset)
        return []

    def held(self, partition: int) -> tuple[int, float] | None:
        """The first offset counted in a minute not yet closed and written, and the monotonic
        time it was read: a commit of the partition must stop there. None: nothing held."""
        part = self._parts.get(partition)
        return min(part.first.values()) if part is not None and part.first else None

    def on_rejected(self, partition: int) -> None:
        """A record of the partition was rejected before counting; it still moves the idle clock."""
        self._partition(partition).buckets.seen(self.wall())

    async def on_tick(self, partition: int, caught_up: bool) -> int:
        """Close the minutes the watermark has passed (`caught_up`: nothing of the partition
        waits in Kafka, so an idle one closes by the wall clock); returns how many outputs
        were published."""
        part = self._partition(partition)
        closed = part.buckets.close(self.wall(), caught_up)
        MINUTES_CLOSED.inc(len(closed))
        until = part.buckets.closed_until
        if until is None:
            return 0
        new = epoch_minute(until)
        old = new if part.closed_until is None else part.closed_until
        if new <= old and not closed and not (caught_up and part.stale):
            part.closed_until = new
            return 0
        by_service: dict[str, list[Bucket]] = {}
        for bucket in closed:
            by_service.setdefault(bucket.service, []).append(bucket)
        todo = set(by_service) | part.alerting | {s for s, due in part.silence_due.items() if due <= new}
        if caught_up:
            todo |= part.stale  # the newest statuses held back while catching up
        minutes: list[Record] = []
        alerts: list[Record] = []
        statuses: list[Record] = []
        entries = []
        for service in sorted(todo):
            entry, m, a, s = self._close(part, partition, service, by_service.get(service, []), old, new, caught_up)
            entries.append((service, entry))
            minutes += m
            alerts += a
            statuses += s
        if minutes or alerts or statuses:
            await self.publish(minutes, alerts, statuses)
            if not await self._ownership.kept_through(self.stored):
                return 0  # revoked meanwhile: the new owner counts the results again from the commits
        for service, entry in entries:  # only once the outputs are stored
            self.table[service.encode()] = entry.dump()
            part.entries[service] = entry
            self._remember(part, service, entry)
        part.closed_until = new
        for minute in [m for m in part.first if m < new]:  # closed, published and written: released
            del part.first[minute]
        return len(minutes) + len(alerts)

    def closable(self) -> int:
        """Results counted in minutes the next tick closes (without any further input)."""
        return sum(part.buckets.closable() for part in self._parts.values())

    def forget(self) -> None:
        """Partitions were revoked: drop open buckets (their results are delivered again)."""
        self._parts.clear()
        self._ownership.revoked()

    def open_minutes(self) -> int:
        """Minute buckets counting results in the owned partitions."""
        return sum(len(part.buckets) for part in self._parts.values())

    def state_bytes(self) -> int:
        """Size of every service entry in the table (what a restart recovers)."""
        return sum(len(v) for v in self.table.values())

    def _partition(self, partition: int) -> _Partition:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = self._take_over(partition)
        return part

    def _take_over(self, partition: int) -> _Partition:
        """Rebuild a partition's in-memory state from the table."""
        part = _Partition(MinuteBuckets(self.plan.thresholds, self.lateness, self.idle))
        for key, raw in self.table.items():
            entry = self._load(raw)
            if entry.partition == partition:
                part.entries[key.decode()] = entry
                self._remember(part, key.decode(), entry)
                part.closed_until = max(part.closed_until or entry.closed_until, entry.closed_until)
                part.recount_until = max(part.recount_until, entry.offset)
        part.buckets.resume(None if part.closed_until is None else minute_start(part.closed_until), self.wall())
        return part

    def _load(self, raw: bytes) -> ServiceEntry:
        return ServiceEntry.load(raw, self.slo.fine, self.plan.horizon)

    def _remember(self, part: _Partition, service: str, entry: ServiceEntry) -> None:
        if entry.alerting():
            part.alerting.add(service)
        else:
            part.alerting.discard(service)
        if entry.status_stale():
            part.stale.add(service)
        else:
            part.stale.discard(service)
        after = [c.no_data_after for c in self.plan.contracts(service) if c.contract_id not in entry.silent]
        if entry.last_data is not None and after:
            part.silence_due[service] = entry.last_data + int(min(after) // timedelta(minutes=1))
        else:
            part.silence_due.pop(service, None)

    def _close(
        self, part: _Partition, partition: int, service: str, buckets: list[Bucket], old: int, new: int,
        caught_up: bool,
    ) -> tuple[ServiceEntry, list[Record], list[Record], list[Record]]:
        """Apply a service's closed minutes before `new` in order; returns its entry (updated) and outputs.

        The cached entry is changed in place: if publishing then fails, the worker stops
        (see app.py) and the next one starts again from the table.
        """
        entry = part.entries.get(service) or ServiceEntry(partition, new, part.max_offset)
        old = max(old, entry.closed_until) if service in part.entries else old  # minutes it already closed
        objectives = self.plan.objectives(service)
        closed, alerts = self.slo.close(entry, service, buckets, old, new)
        key = service.encode()
        minutes = [(key, codec.dumps(m)) for m in closed]
        # As of the end of the service's last minute with results, not of `new`: how far one tick
        # closes depends on the wall clock, and the status must not. While the partition catches
        # up, at most one per `status_every` minutes (and whenever an alert changes): a status
        # row per minute and objective was most of what a backlog published.
        statuses = []
        if entry.last_data is not None and entry.status_stale() and (
                caught_up or alerts or entry.status_as_of is None
                or entry.last_data - entry.status_as_of >= self.status_every):
            end = minute_start(entry.last_data)
            statuses = [(f"{o.contract_id}:{service}:{o.sli}".encode(),
                         codec.dumps(self.slo.status(entry, service, o, end))) for o in objectives]
            entry.status_as_of = entry.last_data

        entry.partition, entry.closed_until, entry.offset = partition, new, part.max_offset
        records = [(f"slo:{a.contract_id}:{a.service}".encode(), codec.dumps(a)) for a in alerts]
        return entry, minutes, records, statuses
