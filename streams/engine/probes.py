"""Per (service, minute) probe buckets, closed by an event-time watermark (pure).

A bucket closes once the watermark (the largest event time two consecutive results agree
on, streams/engine/watermark.py, minus the allowed lateness) passes its end; a record for
a closed bucket is late. A partition that goes quiet does not hold its buckets open
forever: after `idle` of wall time without records, the watermark follows the wall clock
(minus the lateness) — but only if the last record read was the partition's newest, so a
worker slowed down by a backlog never closes minutes whose records are still waiting in
Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Literal

from schemas.events import ProbeEvent
from streams.engine.slo import epoch_minute, minute_start
from streams.engine.watermark import AgreedWatermark


@dataclass(frozen=True, slots=True)
class Bucket:
    """One closed minute of probe results for a service."""

    service: str
    minute: datetime
    total: int
    good: int
    latency_sum_ms: float
    latency_max_ms: float
    fast: tuple[tuple[float, int], ...]  # (latency threshold in ms, results at or under it)


@dataclass(slots=True)
class _Open:
    total: int = 0
    good: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    fast: dict[float, int] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)  # a repeated event id is not counted twice


class MinuteBuckets:
    """Open buckets of one partition and its watermark."""

    def __init__(
        self, thresholds: Callable[[str], tuple[float, ...]], lateness: timedelta, idle: timedelta
    ) -> None:
        self.thresholds = thresholds  # service -> latency thresholds of the contracts covering it
        self.lateness = lateness
        self.idle = idle
        self._open: dict[tuple[str, int], _Open] = {}  # per (service, epoch minute)
        self._event_time = AgreedWatermark()  # one result from a clock that runs ahead does not move it
        self._closed_until: datetime | None = None  # every minute ending at or before this is closed
        self._last_record_wall: datetime | None = None
        self._per_minute: dict[int, int] = {}  # results counted per open epoch minute
        self._limit_of: tuple[datetime | None, datetime | None] = (None, None)  # what _limit_value was computed from
        self._limit_value: int | None = None

    def __len__(self) -> int:
        """Open buckets: (service, minute) pairs counting results."""
        return len(self._open)

    @property
    def watermark(self) -> datetime | None:
        agreed = self._event_time.value
        return None if agreed is None else agreed - self.lateness

    @property
    def closed_until(self) -> datetime | None:
        """Every minute ending at or before this instant is closed."""
        return self._closed_until

    def resume(self, closed_until: datetime | None, wall: datetime) -> None:
        """Continue after a takeover: minutes before `closed_until` stay closed, idle time counts from `wall`."""
        if closed_until is not None and (self._closed_until is None or closed_until > self._closed_until):
            self._closed_until = closed_until
        self._last_record_wall = self._last_record_wall or wall

    def _closed(self, minute: int, agreed: datetime | None = None) -> bool:
        """True when the epoch minute is closed, or the watermark has passed its end. Judged
        against the watermark, not only the last close, the outcome depends on the order of
        records alone, not on when the closing runs. `agreed`: judged as if the agreed event
        time were that."""
        limit = self._limit(agreed)
        return limit is not None and minute < limit

    def _limit(self, agreed: datetime | None = None) -> int | None:
        """The epoch minute starting where every earlier one is closed, or passed by the
        watermark (kept until either moves: asked for every result)."""
        agreed, until = agreed or self._event_time.value, self._closed_until
        if self._limit_of != (agreed, until):
            limit = None if until is None else epoch_minute(until)
            if agreed is not None and (limit is None or epoch_minute(agreed - self.lateness) > limit):
                limit = epoch_minute(agreed - self.lateness)
            self._limit_of, self._limit_value = (agreed, until), limit
        return self._limit_value

    def closable(self) -> int:
        """Results counted in minutes the watermark has passed: the next close takes them out."""
        limit = self._limit()
        return 0 if limit is None else sum(n for minute, n in self._per_minute.items() if minute < limit)

    def seen(self, wall: datetime) -> None:
        """Note a record read from the partition, counted or not (a rejected one too): the
        partition is idle only when no record at all was read for `idle`."""
        self._last_record_wall = wall

    def add(
        self, event: ProbeEvent, wall: datetime, force: bool = False, appended: datetime | None = None,
        minute: int | None = None,
    ) -> Literal["counted", "duplicate", "late"]:
        """Count a probe result, unless its bucket is closed (late) or already holds its event id.

        `force`: count it even in a closed minute (a result counted before a crash whose
        minute must be closed again). `appended`: when the broker appended the result's
        record; its time counts for the watermark no later than that, so a batch from a
        clock that runs ahead (many results agreeing with each other) cannot move it.
        `minute`: the result's epoch minute, when the caller has it already.
        """
        self.seen(wall)
        if minute is None:
            minute = epoch_minute(event.occurred_at)
        if not force and self._closed(minute):
            return "late"
        self._event_time.observe(event.occurred_at if appended is None else min(event.occurred_at, appended))
        acc = self._open.get((event.service, minute))
        if acc is None:
            acc = self._open[(event.service, minute)] = _Open()
        if event.event_id in acc.ids:
            return "duplicate"
        acc.ids.add(event.event_id)
        acc.total += 1
        self._per_minute[minute] = self._per_minute.get(minute, 0) + 1
        acc.good += event.ok
        acc.latency_sum_ms += event.latency_ms
        acc.latency_max_ms = max(acc.latency_max_ms, event.latency_ms)
        for threshold in self.thresholds(event.service):
            if event.latency_ms <= threshold:
                acc.fast[threshold] = acc.fast.get(threshold, 0) + 1
        return "counted"

    def add_batch(
        self, service: str, events: list[ProbeEvent], wall: datetime, force: bool = False,
        appended: datetime | None = None,
    ) -> dict[int, int] | None:
        """Count the results of one record, all of `service`, as `add` would one by one in
        their order; returns the results counted per epoch minute. None, counting nothing,
        when one of them may be late (the caller judges them one by one then).

        No result is late when the earliest one's minute is open now and either the results
        are in time order (each one's own minute is then still open however far the earlier
        ones moved the watermark, since it trails them by the lateness) or that minute stays
        open under the watermark after the last one (it only grows meanwhile).
        """
        times = [event.occurred_at for event in events]
        first, last = min(times), max(times)
        if appended is not None and last > appended:
            times = [min(at, appended) for at in times]
        watermark = self._event_time.after(times)
        low = epoch_minute(first)
        if not force and (self._closed(low) or (
                self._closed(low, watermark.value) and times != sorted(times))):
            return None
        self.seen(wall)
        self._event_time = watermark
        if low == epoch_minute(last):
            groups = {low: events}
        else:
            groups = {}
            for event in events:
                groups.setdefault(epoch_minute(event.occurred_at), []).append(event)
        counted = {}
        for minute, group in groups.items():
            acc = self._open.get((service, minute))
            if acc is None:
                acc = self._open[(service, minute)] = _Open()
            ids = [event.event_id for event in group]
            fresh = set(ids)
            if len(fresh) < len(ids) or not acc.ids.isdisjoint(fresh):  # a repeated id: the first one counts
                kept: dict[str, ProbeEvent] = {}
                for event in group:
                    if event.event_id not in acc.ids:
                        kept.setdefault(event.event_id, event)
                group = list(kept.values())
                fresh = set(kept)
            if group:
                acc.ids |= fresh
                self._count(acc, minute, service, group)
                counted[minute] = len(group)
        return counted

    def _count(self, acc: _Open, minute: int, service: str, events: list[ProbeEvent]) -> None:
        """Add results new to `acc` to it, as `add` does one by one (latencies summed in the same
        order, so the sums are the same to the last bit)."""
        acc.total += len(events)
        self._per_minute[minute] = self._per_minute.get(minute, 0) + len(events)
        latencies = [event.latency_ms for event in events]
        acc.good += sum(event.ok for event in events)
        total = acc.latency_sum_ms
        for latency in latencies:
            total += latency
        acc.latency_sum_ms = total
        acc.latency_max_ms = max(acc.latency_max_ms, *latencies)
        for threshold in self.thresholds(service):
            fast = sum(1 for latency in latencies if latency <= threshold)
            if fast:
                acc.fast[threshold] = acc.fast.get(threshold, 0) + fast

    def close(self, wall: datetime, caught_up: bool) -> list[Bucket]:
        """Buckets whose end the watermark has passed, oldest first; they leave the state.

        `caught_up`: nothing of the partition waits in Kafka; only then may a partition idle
        for `idle` close its minutes by the wall clock (their results may still wait).
        """
        watermark = self.watermark
        if caught_up and self._last_record_wall is not None and wall - self._last_record_wall >= self.idle:
            idle_mark = wall - self.lateness
            watermark = idle_mark if watermark is None else max(watermark, idle_mark)
        if watermark is None:
            return []
        watermark = minute_start(epoch_minute(watermark))  # only whole minutes close
        if self._closed_until is None or watermark > self._closed_until:
            self._closed_until = watermark
        until = epoch_minute(self._closed_until)
        done = sorted(k for k in self._open if k[1] < until)
        out = []
        for service, minute in done:
            acc = self._open.pop((service, minute))
            self._per_minute.pop(minute, None)
            fast = tuple((t, acc.fast.get(t, 0)) for t in self.thresholds(service))
            out.append(Bucket(service, minute_start(minute), acc.total, acc.good, acc.latency_sum_ms,
                              acc.latency_max_ms, fast))
        return sorted(out, key=lambda b: (b.minute, b.service))
