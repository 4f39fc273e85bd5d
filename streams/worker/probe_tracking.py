"""Live probe SLOs: the thin layer between Faust (tables, ticks, acks) and the pure cores.

Probe results are counted in memory, in the open minute buckets of their partition, and
their Kafka offsets are acknowledged only once their minute is closed and written. So a
crash loses nothing: the results of open minutes are delivered again and counted again.
What closing a minute changed (error series, alert states) is kept in one table entry
per service, together with the partition's closed-until minute and the highest input
offset counted by then; a result delivered again for a minute already closed is
recognised by its offset and skipped, neither counted twice nor called late.

Closing happens once per tick for all of a partition's services, so it can afford to wait:
outputs (closed minutes, alerts, statuses) are published and stored by the broker before
the entries are written. A crash in between leaves the old entries, and the results are
delivered and counted again, giving the same outputs; consumers keep one copy per key or
event id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Literal, Sequence

import orjson

from schemas import codec
from schemas.events import ProbeEvent
from schemas.outputs import ContractMinute, ProbeMinute, SloAlert, SloStatus, alert_id
from streams.engine.probes import Bucket, MinuteBuckets
from streams.engine.slo import ErrorSeries, budget_remaining, epoch_minute, evaluate, minute_start
from streams.engine.slo_plan import ContractProbes, Objective, SloPlan
from streams.worker.types import Ack, Record, Table

# (minutes, alerts, statuses); returns once the broker has stored them all.
Publish = Callable[[Sequence[Record], Sequence[Record], Sequence[Record]], Awaitable[None]]
Outcome = Literal["counted", "duplicate", "late"]

_RATES = {"5m": timedelta(minutes=5), "30m": timedelta(minutes=30), "1h": timedelta(hours=1),
          "6h": timedelta(hours=6), "1d": timedelta(days=1), "3d": timedelta(days=3)}


@dataclass
class ServiceEntry:
    """A table value: what closed minutes left behind for one service."""

    partition: int
    closed_until: int  # epoch minute: the partition's minutes before it were closed at the last write
    offset: int  # highest input offset of the partition counted at the last write
    last_data: int | None = None  # epoch minute ending the last closed minute with results
    series: dict[str, ErrorSeries] = field(default_factory=dict)  # per objective key
    firing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # objective key -> rules firing
    silent: tuple[str, ...] = ()  # contracts whose no_data alert fires
    status_as_of: int | None = None  # epoch minute of the last status published (its as_of)
    # Rules firing at `last_data`, what a status shows: later minutes without data may still
    # turn rules (alerts), but a status is as of its last data whichever tick publishes it.
    data_firing: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def dump(self) -> bytes:
        return orjson.dumps([
            self.partition, self.closed_until, self.offset, self.last_data,
            {k: s.to_json() for k, s in self.series.items()}, self.firing, self.silent, self.status_as_of,
            self.data_firing,
        ])

    @classmethod
    def load(cls, data: bytes, fine: timedelta, horizon: timedelta) -> "ServiceEntry":
        p, until, offset, last, series, firing, silent, *rest = orjson.loads(data)  # rest: absent in older entries
        return cls(
            p, until, offset, last, {k: ErrorSeries.from_json(v, fine, horizon) for k, v in series.items()},
            {k: tuple(v) for k, v in firing.items()}, tuple(silent), rest[0] if rest else None,
            {k: tuple(v) for k, v in (rest[1] if len(rest) > 1 else firing).items()},
        )

    def alerting(self) -> bool:
        return any(self.firing.values())

    def status_stale(self) -> bool:
        """A minute with results closed since the last status was published."""
        return self.last_data is not None and self.status_as_of != self.last_data


@dataclass
class _Partition:
    """In-memory state of one owned partition."""

    buckets: MinuteBuckets
    closed_until: int | None = None
    max_offset: int = -1
    recount_until: int = -1  # at takeover, the highest offset any entry of the partition had counted
    acks: dict[datetime, list[Ack]] = field(default_factory=dict)  # per minute: acks waiting for it to close
    entries: dict[str, ServiceEntry] = field(default_factory=dict)  # parsed table values, updated in place
    alerting: set[str] = field(default_factory=set)  # services with firing burn-rate alerts
    stale: set[str] = field(default_factory=set)  # services whose newest status is not published yet
    silence_due: dict[str, int] = field(default_factory=dict)  # service -> minute its first no_data would fire


class ProbeTracker:
    """Minute buckets, error series and alerts of the probe SLOs, per owned partition."""

    def __init__(
        self, plan: SloPlan, table: Table, publish: Publish, wall: Callable[[], datetime],
        lateness: timedelta = timedelta(seconds=60), idle: timedelta = timedelta(minutes=2),
        status_every: int = 1,
    ) -> None:
        self.plan = plan
        self.table = table
        self.publish = publish
        self.wall = wall
        self.lateness = lateness
        self.idle = idle
        self.status_every = status_every  # minutes of event time between statuses while catching up
        self.fine = timedelta(hours=6)
        self._parts: dict[int, _Partition] = {}

    def on_event(self, event: ProbeEvent, partition: int, offset: int, ack: Ack) -> Outcome:
        """Count a probe result; `ack` is kept until its minute is closed and written.

        For a duplicate or late result the caller acknowledges it (a late one after
        dead-lettering it); neither changes any count.
        """
        part = self._partition(partition)
        minute = epoch_minute(event.occurred_at)
        entry = part.entries.get(event.service)
        if entry is not None and minute < entry.closed_until and offset <= entry.offset:
            return "duplicate"  # counted before a restart or rebalance
        # Read before the partition's last write, yet not in its service's entry: a crash came
        # between the writes of two services' entries. Count it again, never call it late.
        recount = offset <= part.recount_until
        outcome = part.buckets.add(event, self.wall(), force=recount)
        if outcome == "counted":
            part.acks.setdefault(minute_start(minute), []).append(ack)
            part.max_offset = max(part.max_offset, offset)
        return outcome

    def on_rejected(self, partition: int) -> None:
        """A record of the partition was rejected before counting; it still moves the idle clock."""
        self._partition(partition).buckets.seen(self.wall())

    async def on_tick(self, partition: int, caught_up: bool) -> int:
        """Close the minutes the watermark has passed (`caught_up`: nothing of the partition
        waits in Kafka, so an idle one closes by the wall clock); returns how many outputs
        were published."""
        part = self._partition(partition)
        closed = part.buckets.close(self.wall(), caught_up)
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
        for service, entry in entries:  # only once the outputs are stored
            self.table[service.encode()] = entry.dump()
            part.entries[service] = entry
            self._remember(part, service, entry)
        part.closed_until = new
        for minute in sorted(m for m in part.acks if m < until):
            for ack in part.acks.pop(minute):
                await ack()
        return len(minutes) + len(alerts)

    def forget(self) -> None:
        """Partitions were revoked: drop open buckets (their results are delivered again)."""
        self._parts.clear()

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
        return ServiceEntry.load(raw, self.fine, self.plan.horizon)

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
        contracts = self.plan.contracts(service)
        by_minute = {epoch_minute(b.minute): b for b in buckets}
        minutes: list[Record] = []
        alerts: list[SloAlert] = []
        start = min(by_minute) if by_minute else new
        if entry.alerting():
            start = min(start, old)
        for m in range(start, new):
            bucket = by_minute.get(m)
            if bucket is not None:
                alerts += self._silence(entry, service, contracts, until=m, returned=True)
                fast = dict(bucket.fast)
                for o in objectives:
                    if not o.maintenance.covers(bucket.minute):
                        series = entry.series.setdefault(o.key, ErrorSeries(self.fine, self.plan.horizon))
                        series.add(bucket.minute, *o.counts(bucket.total, bucket.good, fast))
                entry.last_data = m + 1
                minutes.append(self._minute_record(bucket, contracts))
            if bucket is not None or entry.alerting():
                alerts += self._evaluate(entry, service, objectives, minute_start(m + 1))
            if bucket is not None:
                entry.data_firing = dict(entry.firing)
        alerts += self._silence(entry, service, contracts, until=new, returned=False)
        # As of the end of the service's last minute with results, not of `new`: how far one tick
        # closes depends on the wall clock, and the status must not. While the partition catches
        # up, at most one per `status_every` minutes (and whenever an alert changes): a status
        # row per minute and objective was most of what a backlog published.
        statuses = []
        if entry.last_data is not None and entry.status_stale() and (
                caught_up or alerts or entry.status_as_of is None
                or entry.last_data - entry.status_as_of >= self.status_every):
            statuses = [self._status(entry, service, o, minute_start(entry.last_data)) for o in objectives]
            entry.status_as_of = entry.last_data

        entry.partition, entry.closed_until, entry.offset = partition, new, part.max_offset
        records = [(f"slo:{a.contract_id}:{a.service}".encode(), codec.dumps(a)) for a in alerts]
        return entry, minutes, records, statuses

    def _silence(
        self, entry: ServiceEntry, service: str, contracts: Sequence[ContractProbes], until: int, returned: bool
    ) -> list[SloAlert]:
        """no_data alerts: fire for silences of `no_data_after` before `until`; resolve when data returns."""
        out = []
        silent = set(entry.silent)
        for c in contracts:
            after = int(c.no_data_after // timedelta(minutes=1))
            if c.contract_id not in silent and entry.last_data is not None and entry.last_data + after <= until:
                silent.add(c.contract_id)
                out.append(self._no_data(c, service, "firing", minute_start(entry.last_data + after)))
            if returned and c.contract_id in silent:
                silent.discard(c.contract_id)
                out.append(self._no_data(c, service, "resolved", minute_start(until)))
        entry.silent = tuple(sorted(silent))
        return out

    @staticmethod
    def _no_data(o: ContractProbes, service: str, state: Literal["firing", "resolved"], at: datetime) -> SloAlert:
        return SloAlert(
            event_id=alert_id(o.contract_id, service, "", "no_data", state, at.isoformat()), type=state,
            alert="no_data", severity="page", at=at, contract_id=o.contract_id, customer=o.customer,
            service=service, sli=None, objective=None,
        )

    def _evaluate(
        self, entry: ServiceEntry, service: str, objectives: Sequence[Objective], end: datetime
    ) -> list[SloAlert]:
        out = []
        for o in objectives:
            series = entry.series.get(o.key)
            if series is None:
                continue
            firing, changes = evaluate(series, o.objective, o.rules, end, frozenset(entry.firing.get(o.key, ())))
            if firing:
                entry.firing[o.key] = tuple(sorted(firing))
            else:
                entry.firing.pop(o.key, None)
            for c in changes:
                out.append(SloAlert(
                    event_id=alert_id(o.contract_id, service, o.sli, c.rule.name, c.state, end.isoformat()),
                    type=c.state, alert=c.rule.name, severity=c.rule.severity, at=end,
                    contract_id=o.contract_id, customer=o.customer, service=service, sli=o.sli,
                    objective=o.objective, factor=c.rule.factor, long_window_s=c.rule.long.total_seconds(),
                    short_window_s=c.rule.short.total_seconds(), long_burn=c.long_burn, short_burn=c.short_burn,
                    budget_remaining=budget_remaining(series, o.objective, end, end - o.window_start(end)),
                ))
        return out

    @staticmethod
    def _minute_record(bucket: Bucket, contracts: Sequence[ContractProbes]) -> Record:
        fast = dict(bucket.fast)
        rows = [
            ContractMinute(
                contract_id=c.contract_id, customer=c.customer,
                fast=None if c.threshold_ms is None else fast.get(c.threshold_ms, 0),
                excluded=c.maintenance.covers(bucket.minute),
            )
            for c in contracts
        ]
        record = ProbeMinute(
            service=bucket.service, minute=bucket.minute, total=bucket.total, good=bucket.good,
            latency_sum_ms=bucket.latency_sum_ms, latency_max_ms=bucket.latency_max_ms,
            fast_le_ms=[t for t, _ in bucket.fast], fast=[n for _, n in bucket.fast], contracts=rows,
        )
        return bucket.service.encode(), codec.dumps(record)

    def _status(self, entry: ServiceEntry, service: str, o: Objective, end: datetime) -> Record:
        series = entry.series.get(o.key) or ErrorSeries(self.fine, self.plan.horizon)
        rates = {name: series.error_rate(end, w) for name, w in _RATES.items()}
        in_window = series.error_rate(end, end - o.window_start(end))
        status = SloStatus(
            contract_id=o.contract_id, customer=o.customer, service=service, sli=o.sli, objective=o.objective,
            window=o.window_name, as_of=end, **{f"error_rate_{k}": v for k, v in rates.items()},
            error_rate_window=in_window, burn_rate_1h=(rates["1h"] or 0.0) / (1 - o.objective),
            budget_remaining=1 - (in_window or 0.0) / (1 - o.objective), firing=list(entry.data_firing.get(o.key, ())),
        )
        return f"{o.contract_id}:{service}:{o.sli}".encode(), codec.dumps(status)
