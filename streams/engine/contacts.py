"""Contact-centre service levels (pure): finished contacts in, 15-minute interval records and
objective breaches out (docs/contacts.md).

A contact counts in the interval it was queued in. Its record's event time is when it
ended; the watermark is the largest such time two consecutive records agree on
(watermark.py) minus the lateness. An interval is published once the watermark passes its
end; a contact of an interval already published publishes it again, corrected (its version
one higher). Intervals are kept for corrections until the watermark is `keep` past their
start; a contact of an older one is refused as late (so memory holds `keep` of contacts).

Each contact objective covering a queue is judged per interval on each of its measures
(the objective's channels summed): a `breached` fact when the interval misses, a
`recovered` fact when it meets and the queue's previous judged interval missed. Facts are
derived again whenever an interval changes and reconciled with those published, as the SLA
engine does: one id per fact, a `correction` for a published fact that no longer holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Literal

from schemas.events import Channel, ContactEvent
from schemas.outputs import ContactAlert, ContactInterval, ContactMeasure, alert_id
from schemas.policy import ContactObjective, ContactPolicy, Policy
from streams.engine.instants import SECOND, instant, micros, span
from streams.engine.watermark import AgreedWatermark

INTERVAL = 15 * 60 * SECOND  # the industry's planning interval, in microseconds
CHANNELS = tuple(c.value for c in Channel)

Added = Literal["counted", "duplicate", "late"]


def interval_of(at: datetime) -> int:
    """The start (microseconds since the epoch) of the 15-minute interval `at` lies in."""
    us = micros(at)
    return us - us % INTERVAL


@dataclass(slots=True)
class Counts:
    """What one (customer, queue, channel) interval holds. Waits and handle times are summed
    as integer microseconds: exact, whatever order the contacts come in."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    wait_us: int = 0  # answered contacts' waits
    handle_us: int = 0  # answered contacts' answer-to-end times
    fcr_recorded: int = 0
    fcr_resolved: int = 0
    short: dict[int, int] = field(default_factory=dict)  # short-abandon threshold (µs) -> abandons at or under it
    within: dict[int, int] = field(default_factory=dict)  # service-level threshold (µs) -> answered at or under it
    version: int = 0  # publications so far
    dirty: bool = True  # changed since last published

    def add(self, contact: ContactEvent, shorts: tuple[int, ...], withins: tuple[int, ...]) -> None:
        self.offered += 1
        queued = micros(contact.queued_at)
        if contact.answered_at is not None:
            wait = micros(contact.answered_at) - queued
            self.answered += 1
            self.wait_us += wait
            self.handle_us += micros(contact.ended_at) - micros(contact.answered_at)
            if contact.first_contact_resolution is not None:
                self.fcr_recorded += 1
                self.fcr_resolved += contact.first_contact_resolution
            for t in withins:
                if wait <= t:
                    self.within[t] = self.within.get(t, 0) + 1
        else:
            assert contact.abandoned_at is not None  # the model has exactly one of them
            wait = micros(contact.abandoned_at) - queued
            self.abandoned += 1
            for t in shorts:
                if wait <= t:
                    self.short[t] = self.short.get(t, 0) + 1
        self.dirty = True


@dataclass(frozen=True, slots=True)
class _Measure:
    """One measure of one objective of one contract, compiled (times in microseconds)."""

    contract_id: str
    objective: ContactObjective
    measure: ContactMeasure
    formula: str
    short_us: int
    within_us: int  # service level only
    limit: Fraction  # service level: the lowest share; abandonment: the highest rate; ASA: the highest wait (µs)
    target: float  # as outputs state it


def _measures(contract_id: str, policy: ContactPolicy) -> list[_Measure]:
    out = []
    short = span(policy.short_abandon)
    formula = policy.service_level_formula
    for objective in policy.objectives:
        if objective.service_level is not None:
            sl = objective.service_level
            out.append(_Measure(contract_id, objective, "service_level", formula, short, span(sl.within),
                                Fraction(str(sl.target)), sl.target))
        if objective.max_asa is not None:
            asa = span(objective.max_asa)
            out.append(_Measure(contract_id, objective, "asa", formula, short, 0, Fraction(asa), asa / SECOND))
        if objective.max_abandonment is not None:
            out.append(_Measure(contract_id, objective, "abandonment", formula, short, 0,
                                Fraction(str(objective.max_abandonment)), objective.max_abandonment))
    return out


def judge(m: _Measure, c: Counts) -> tuple[bool, float] | None:
    """(met, value) of an interval's counts on a measure; None when there is nothing to
    judge (no contact in the measure's denominator)."""
    short = c.short.get(m.short_us, 0)
    if m.measure == "service_level":
        den = {"offered": c.offered, "offered_minus_short_abandons": c.offered - short, "answered": c.answered}[m.formula]
        if den <= 0:
            return None
        within = c.within.get(m.within_us, 0)
        return within >= m.limit * den, within / den
    if m.measure == "asa":
        if not c.answered:
            return None
        return c.wait_us <= m.limit * c.answered, c.wait_us / c.answered / SECOND
    den = c.offered - short
    if den <= 0:
        return None
    return c.abandoned - short <= m.limit * den, (c.abandoned - short) / den


@dataclass(slots=True)
class _Series:
    """One measure judged interval by interval for one queue: the judgements kept, and the
    facts published about them."""

    judged: dict[int, tuple[bool, float]] = field(default_factory=dict)  # interval start -> (met, value)
    before: bool | None = None  # whether the latest interval dropped from `judged` met
    published: dict[str, str] = field(default_factory=dict)  # fact key ("breached:<start>") -> event id
    retracted: set[str] = field(default_factory=set)  # ids corrections took back


SeriesKey = tuple[str, str, str, str, ContactMeasure]  # contract, objective label, customer, queue, measure
AlertType = Literal["breached", "recovered", "correction"]


class ContactIntervals:
    """The contact intervals and objective judgements of one partition (queues keyed alike)."""

    def __init__(self, policy: Policy, lateness: timedelta, idle: timedelta, keep: timedelta = timedelta(days=3)) -> None:
        self.lateness, self.idle, self.keep = lateness, idle, span(keep)
        self._measures: dict[str, list[_Measure]] = {}  # customer -> the measures of its contracts
        for contract in policy.contracts:
            if contract.contacts is not None:
                self._measures.setdefault(contract.customer, []).extend(_measures(contract.id, contract.contacts))
        self._counts: dict[tuple[str, str, str, int], Counts] = {}  # (customer, queue, channel, interval start)
        self._ids: dict[tuple[str, str], int] = {}  # (customer, contact id) -> interval start: copies count once
        self._series: dict[SeriesKey, _Series] = {}
        self._event_time = AgreedWatermark()
        self._closed_until: int | None = None  # every interval ending at or before this is published
        self._last_record_wall: datetime | None = None
        self._forgot: int | None = None  # `_kept_from` at the last `_forget`

    @property
    def watermark(self) -> int | None:
        """The agreed event time minus the lateness (microseconds), or None before two records."""
        agreed = self._event_time.value
        return None if agreed is None else micros(agreed - self.lateness)

    def _kept_from(self) -> int | None:
        """The start of the oldest interval still kept: a contact of an earlier one is late.
        Judged against the watermark, not only the last close: whether a contact is late
        depends on the order of records alone, not on when closing runs."""
        marks = [m for m in (self.watermark, self._closed_until) if m is not None]
        if not marks:
            return None
        return interval_of(instant(max(marks) - self.keep))

    def thresholds(self, customer: str, queue: str, channel: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Short-abandon and service-level thresholds (µs) of the measures covering a queue's channel."""
        ms = [m for m in self._measures.get(customer, ()) if m.objective.covers(queue, channel)]
        return (tuple(sorted({m.short_us for m in ms})),
                tuple(sorted({m.within_us for m in ms if m.measure == "service_level"})))

    def add(self, contact: ContactEvent, wall: datetime, appended: datetime | None = None) -> Added:
        """Count a finished contact, unless its id was counted already (duplicate) or its
        interval is no longer kept (late). `appended`: when the broker appended its record;
        its time counts for the watermark no later than that (a clock that runs ahead)."""
        self._last_record_wall = wall
        start = interval_of(contact.queued_at)
        kept_from = self._kept_from()
        if kept_from is not None and start < kept_from:
            return "late"
        ended = contact.ended_at
        self._event_time.observe(ended if appended is None else min(ended, appended))
        if (contact.customer, contact.contact_id) in self._ids:
            return "duplicate"
        self._ids[(contact.customer, contact.contact_id)] = start
        key = (contact.customer, contact.queue, contact.channel.value, start)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = Counts()
        counts.add(contact, *self.thresholds(*key[:3]))
        return "counted"

    def close(self, wall: datetime, caught_up: bool) -> tuple[list[ContactInterval], list[ContactAlert]]:
        """Publish the intervals the watermark has passed that changed since published (their
        first publication, or a correction), the objective facts that changed with them, and
        forget intervals older than `keep`. `caught_up`: nothing of the partition waits in
        Kafka; only then may a partition idle for `idle` close by the wall clock."""
        watermark = self.watermark
        if caught_up and self._last_record_wall is not None and wall - self._last_record_wall >= self.idle:
            idle_mark = micros(wall - self.lateness)
            watermark = idle_mark if watermark is None else max(watermark, idle_mark)
        if watermark is None:
            return [], []
        until = interval_of(instant(watermark))  # intervals ending at or before it close
        if self._closed_until is None or until > self._closed_until:
            self._closed_until = until
        until = self._closed_until
        intervals = []
        touched: set[tuple[str, str, int]] = set()
        for key in sorted(k for k, c in self._counts.items() if c.dirty and k[3] + INTERVAL <= until):
            counts = self._counts[key]
            counts.version += 1
            counts.dirty = False
            intervals.append(_interval_record(key, counts, *self.thresholds(*key[:3])))
            touched.add((key[0], key[1], key[3]))
        alerts = self._judge(touched)
        self._forget()
        return intervals, alerts

    def _judge(self, touched: set[tuple[str, str, int]]) -> list[ContactAlert]:
        """Judge the touched (customer, queue, interval)s on every measure covering them and
        reconcile each changed series' facts with those published."""
        changed: set[SeriesKey] = set()
        for customer, queue, start in sorted(touched):
            for m in self._measures.get(customer, ()):
                if m.objective.queue not in ("*", queue):
                    continue
                total = Counts()
                for channel in CHANNELS:
                    counts = self._counts.get((customer, queue, channel, start))
                    if counts is not None and m.objective.covers(queue, channel):
                        _merge(total, counts)
                verdict = judge(m, total)
                if verdict is None:  # counts only grow: an interval never judged before
                    continue
                key = (m.contract_id, m.objective.label, customer, queue, m.measure)
                self._series.setdefault(key, _Series()).judged[start] = verdict
                changed.add(key)
        out: list[ContactAlert] = []
        for key in sorted(changed):
            out += self._reconcile(key, self._series[key])
        return out

    def _reconcile(self, key: SeriesKey, series: _Series) -> list[ContactAlert]:
        contract_id, label, customer, queue, measure = key
        m = next(m for m in self._measures[customer]
                 if m.contract_id == contract_id and m.objective.label == label and m.measure == measure)
        holding: dict[str, tuple[AlertType, int, float]] = {}  # fact key -> (type, interval start, value)
        before = series.before
        for start in sorted(series.judged):
            met, value = series.judged[start]
            if not met:
                holding[f"breached:{start}"] = ("breached", start, value)
            elif before is False:
                holding[f"recovered:{start}"] = ("recovered", start, value)
            before = met
        out = []

        def alert(type_: AlertType, start: int, value: float | None, eid: str, corrects: str | None = None) -> ContactAlert:
            return ContactAlert(
                event_id=eid, type=type_, contract_id=contract_id, customer=customer, objective=label, queue=queue,
                channel=None if m.objective.channel is None else m.objective.channel.value, measure=measure,
                interval_start=instant(start), at=instant(start + INTERVAL), value=value, target=m.target,
                corrects=corrects)

        for fact in sorted(set(series.published) - set(holding), key=_fact_order):
            corrects = series.published.pop(fact)
            series.retracted.add(corrects)
            out.append(alert("correction", int(fact.split(":")[1]), None,
                             alert_id(*key, "correction", corrects), corrects))
        for fact in sorted(set(holding) - set(series.published), key=_fact_order):
            type_, start, value = holding[fact]
            n = 0  # a fact published, taken back and holding again gets a new id
            while (eid := alert_id(*key, fact, n)) in series.retracted:
                n += 1
            series.published[fact] = eid
            out.append(alert(type_, start, value, eid))
        return out

    def _forget(self) -> None:
        """Drop intervals (and their contacts' ids, judgements and facts) no longer kept."""
        kept_from = self._kept_from()
        if kept_from is None or kept_from == self._forgot:
            return
        self._forgot = kept_from
        for key in [k for k in self._counts if k[3] < kept_from]:
            del self._counts[key]
        for cid in [k for k, start in self._ids.items() if start < kept_from]:
            del self._ids[cid]
        for series in self._series.values():
            old = sorted(start for start in series.judged if start < kept_from)
            if old:
                series.before = series.judged[old[-1]][0]
                for start in old:
                    del series.judged[start]
                series.published = {f: e for f, e in series.published.items() if int(f.split(":")[1]) >= kept_from}


def _fact_order(fact: str) -> tuple[int, str]:
    kind, start = fact.split(":")
    return int(start), kind


def _merge(total: Counts, c: Counts) -> None:
    total.offered += c.offered
    total.answered += c.answered
    total.abandoned += c.abandoned
    total.wait_us += c.wait_us
    for t, n in c.short.items():
        total.short[t] = total.short.get(t, 0) + n
    for t, n in c.within.items():
        total.within[t] = total.within.get(t, 0) + n


def _interval_record(key: tuple[str, str, str, int], c: Counts, shorts: tuple[int, ...],
                     withins: tuple[int, ...]) -> ContactInterval:
    customer, queue, channel, start = key
    return ContactInterval(
        customer=customer, queue=queue, channel=channel, interval_start=instant(start),  # type: ignore[arg-type]
        version=c.version, offered=c.offered, answered=c.answered, abandoned=c.abandoned,
        wait_answered_s=c.wait_us / SECOND, handle_s=c.handle_us / SECOND, fcr_recorded=c.fcr_recorded,
        fcr_resolved=c.fcr_resolved, short_le_s=[t / SECOND for t in shorts], short_abandoned=[c.short.get(t, 0) for t in shorts],
        within_le_s=[t / SECOND for t in withins], answered_within=[c.within.get(t, 0) for t in withins],
    )
