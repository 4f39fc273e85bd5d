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

The state is slots (a customer's queue in one interval: its channels' counts and contact
ids) and series (one measure of one objective for one queue: its judgements and published
facts). What changed since the caller last saved them is listed by `unsaved`, so a live
caller writes only those (contact_tracking.py) and `restore` takes them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Iterable, Literal

from schemas.events import Channel, ContactEvent
from schemas.outputs import ChannelCounts, ContactAlert, ContactInterval, ContactMeasure, ObjectiveInterval, alert_id
from schemas.policy import ContactObjective, ContactPolicy, Policy
from streams.engine.instants import SECOND, instant, micros, span
from streams.engine.watermark import AgreedWatermark

INTERVAL = 15 * 60 * SECOND  # the industry's planning interval, in microseconds
CHANNELS = tuple(c.value for c in Channel)

Added = Literal["counted", "duplicate", "late"]
AlertType = Literal["breached", "recovered", "correction"]
SlotKey = tuple[str, str, int]  # customer, queue, interval start (µs)
SeriesKey = tuple[str, str, str, str, ContactMeasure]  # contract, objective label, customer, queue, measure


def interval_of(at: datetime) -> int:
    """The start (microseconds since the epoch) of the 15-minute interval `at` lies in."""
    us = micros(at)
    return us - us % INTERVAL


@dataclass(slots=True)
class Counts:
    """One channel's contacts of a slot. Waits and handle times are summed as integer
    microseconds: exact, whatever order the contacts come in."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    wait_us: int = 0  # answered contacts' waits
    handle_us: int = 0  # answered contacts' answer-to-end times
    fcr_recorded: int = 0
    fcr_resolved: int = 0
    short: dict[int, int] = field(default_factory=dict)  # short-abandon threshold (µs) -> abandons at or under it
    within: dict[int, int] = field(default_factory=dict)  # service-level threshold (µs) -> answered at or under it

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

    def merge(self, other: Counts) -> None:
        """Add what judging an objective needs of `other` (not handle times nor FCR)."""
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.wait_us += other.wait_us
        for t, n in other.short.items():
            self.short[t] = self.short.get(t, 0) + n
        for t, n in other.within.items():
            self.within[t] = self.within.get(t, 0) + n


@dataclass(slots=True)
class Slot:
    """A customer's queue in one interval."""

    channels: dict[str, Counts] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)  # the contacts counted
    version: int = 0  # publications so far
    dirty: bool = True  # changed since published


@dataclass(slots=True)
class Series:
    """One measure of one objective for one queue, judged interval by interval."""

    judged: dict[int, tuple[bool, float]] = field(default_factory=dict)  # interval start -> (met, value)
    before: bool | None = None  # whether the latest interval dropped from `judged` met
    published: dict[str, str] = field(default_factory=dict)  # fact key ("breached:<start>") -> event id
    retracted: set[str] = field(default_factory=set)  # ids corrections took back


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure of one objective of one contract, compiled (times in microseconds)."""

    contract_id: str
    objective: ContactObjective
    measure: ContactMeasure
    formula: str
    short_us: int
    within_us: int  # service level only
    limit: Fraction  # service level: the lowest share; abandonment: the highest rate; ASA: the highest wait (µs)
    target: float  # as outputs state it

    def ratio(self, c: Counts) -> tuple[int, int]:
        """The measure of `c` as numerator and denominator (waits in µs for ASA)."""
        short = c.short.get(self.short_us, 0)
        if self.measure == "service_level":
            den = {"offered": c.offered, "offered_minus_short_abandons": c.offered - short,
                   "answered": c.answered}[self.formula]
            return c.within.get(self.within_us, 0), den
        if self.measure == "asa":
            return c.wait_us, c.answered
        return c.abandoned - short, c.offered - short

    def met(self, num: int, den: int) -> bool:
        """Exact: 8 of 10 within the threshold meets 0.8."""
        if self.measure == "service_level":
            return num >= self.limit * den
        return num <= self.limit * den


def measures(contract_id: str, policy: ContactPolicy) -> list[Measure]:
    """The measures of a contract's contact objectives, in policy order."""
    out = []
    short = span(policy.short_abandon)
    formula = policy.service_level_formula
    for objective in policy.objectives:
        if objective.service_level is not None:
            sl = objective.service_level
            out.append(Measure(contract_id, objective, "service_level", formula, short, span(sl.within),
                               Fraction(str(sl.target)), sl.target))
        if objective.max_asa is not None:
            asa = span(objective.max_asa)
            out.append(Measure(contract_id, objective, "asa", formula, short, 0, Fraction(asa), asa / SECOND))
        if objective.max_abandonment is not None:
            out.append(Measure(contract_id, objective, "abandonment", formula, short, 0,
                               Fraction(str(objective.max_abandonment)), objective.max_abandonment))
    return out


class ContactIntervals:
    """The contact intervals and objective judgements of one partition."""

    def __init__(self, policy: Policy, lateness: timedelta, idle: timedelta, keep: timedelta = timedelta(days=3)) -> None:
        self.lateness, self.idle, self.keep = lateness, idle, span(keep)
        self._measures: dict[str, list[Measure]] = {}  # customer -> the measures of its contracts
        for contract in policy.contracts:
            if contract.contacts is not None:
                self._measures.setdefault(contract.customer, []).extend(measures(contract.id, contract.contacts))
        self.slots: dict[SlotKey, Slot] = {}
        self.series: dict[SeriesKey, Series] = {}
        self._ids: dict[tuple[str, str], SlotKey] = {}  # (customer, contact id) -> its slot: copies count once
        self._thresholds: dict[tuple[str, str, str], tuple[tuple[int, ...], tuple[int, ...]]] = {}  # of `thresholds`
        self._event_time = AgreedWatermark()
        self.closed_until: int | None = None  # every interval ending at or before this is published
        self._last_record_wall: datetime | None = None
        self._forgot: int | None = None  # `_kept_from` at the last `_forget`
        # What changed since the caller last saved (`unsaved`), and what was forgotten since.
        self._unsaved_slots: set[SlotKey] = set()
        self._unsaved_series: set[SeriesKey] = set()
        self._dropped_slots: set[SlotKey] = set()
        self._dropped_series: set[SeriesKey] = set()

    @property
    def watermark(self) -> int | None:
        """The agreed event time minus the lateness (microseconds), or None before two records."""
        agreed = self._event_time.value
        return None if agreed is None else micros(agreed - self.lateness)

    def kept_from(self) -> int | None:
        """The start of the oldest interval still kept: a contact of an earlier one is late.
        Judged against the watermark, not only the last close: whether a contact is late
        depends on the order of records alone, not on when closing runs."""
        marks = [m for m in (self.watermark, self.closed_until) if m is not None]
        if not marks:
            return None
        mark = max(marks) - self.keep
        return mark - mark % INTERVAL

    def thresholds(self, customer: str, queue: str, channel: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Short-abandon and service-level thresholds (µs) of the measures covering a queue's channel
        (asked for every contact: kept per queue and channel, as the policy does not change)."""
        found = self._thresholds.get((customer, queue, channel))
        if found is None:
            ms = [m for m in self._measures.get(customer, ()) if m.objective.covers(queue, channel)]
            found = self._thresholds[(customer, queue, channel)] = (
                tuple(sorted({m.short_us for m in ms})),
                tuple(sorted({m.within_us for m in ms if m.measure == "service_level"})))
        return found

    def add(self, contact: ContactEvent, wall: datetime, appended: datetime | None = None) -> Added:
        """Count a finished contact, unless its id was counted already for the customer
        (duplicate) or its interval is no longer kept (late). `appended`: when the broker
        appended its record; its time counts for the watermark no later than that."""
        self._last_record_wall = wall
        start = interval_of(contact.queued_at)
        kept_from = self.kept_from()
        if kept_from is not None and start < kept_from:
            return "late"
        ended = contact.ended_at
        self._event_time.observe(ended if appended is None else min(ended, appended))
        if (contact.customer, contact.contact_id) in self._ids:
            return "duplicate"
        key = (contact.customer, contact.queue, start)
        self._ids[(contact.customer, contact.contact_id)] = key
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = Slot()
        channel = contact.channel.value
        counts = slot.channels.get(channel)
        if counts is None:
            counts = slot.channels[channel] = Counts()
        counts.add(contact, *self.thresholds(contact.customer, contact.queue, channel))
        slot.ids.add(contact.contact_id)
        slot.dirty = True
        self._unsaved_slots.add(key)
        return "counted"

    def seen(self, wall: datetime) -> None:
        """Note a record read from the partition (a refused one too): the partition is idle
        only when no record at all was read for `idle`."""
        self._last_record_wall = wall

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
        until = watermark - watermark % INTERVAL  # intervals ending at or before it close
        if self.closed_until is None or until > self.closed_until:
            self.closed_until = until
        until = self.closed_until
        intervals = []
        changed: dict[SeriesKey, Measure] = {}
        for key in sorted(k for k, slot in self.slots.items() if slot.dirty and k[2] + INTERVAL <= until):
            slot = self.slots[key]
            slot.version += 1
            slot.dirty = False
            self._unsaved_slots.add(key)
            judgements = self._judge(key, slot, changed)
            intervals.append(self._record(key, slot, judgements))
        alerts: list[ContactAlert] = []
        for skey in sorted(changed):
            alerts += self._reconcile(skey, changed[skey], self.series[skey])
        self._forget()
        return intervals, alerts

    def _judge(self, key: SlotKey, slot: Slot, changed: dict[SeriesKey, Measure]) -> list[ObjectiveInterval]:
        """Judge a slot on every measure covering its queue; note the series that changed."""
        customer, queue, start = key
        out = []
        for m in self._measures.get(customer, ()):
            if m.objective.queue not in ("*", queue):
                continue
            total = Counts()
            for channel, counts in slot.channels.items():
                if m.objective.covers(queue, channel):
                    total.merge(counts)
            num, den = m.ratio(total)
            if den <= 0:
                continue  # nothing to judge; counts only grow, so it was never judged before
            met = m.met(num, den)
            scaled = num / SECOND if m.measure == "asa" else num  # ASA's waits in seconds
            skey = (m.contract_id, m.objective.label, customer, queue, m.measure)
            self.series.setdefault(skey, Series()).judged[start] = (met, scaled / den)
            self._unsaved_series.add(skey)
            changed[skey] = m
            out.append(ObjectiveInterval(
                contract_id=m.contract_id, objective=m.objective.label,
                channel=None if m.objective.channel is None else m.objective.channel.value, measure=m.measure,
                num=scaled, den=den, value=scaled / den, target=m.target, met=met))
        return out

    def _record(self, key: SlotKey, slot: Slot, judgements: list[ObjectiveInterval]) -> ContactInterval:
        customer, queue, start = key
        channels = []
        for channel in sorted(slot.channels):
            c = slot.channels[channel]
            shorts, withins = self.thresholds(customer, queue, channel)
            channels.append(ChannelCounts(
                channel=channel,  # type: ignore[arg-type]  # a Channel value
                offered=c.offered, answered=c.answered, abandoned=c.abandoned,
                wait_answered_s=c.wait_us / SECOND, handle_s=c.handle_us / SECOND, fcr_recorded=c.fcr_recorded,
                fcr_resolved=c.fcr_resolved, short_le_s=[t / SECOND for t in shorts],
                short_abandoned=[c.short.get(t, 0) for t in shorts], within_le_s=[t / SECOND for t in withins],
                answered_within=[c.within.get(t, 0) for t in withins]))
        return ContactInterval(customer=customer, queue=queue, interval_start=instant(start), version=slot.version,
                               channels=channels, objectives=judgements)

    def _reconcile(self, key: SeriesKey, m: Measure, series: Series) -> list[ContactAlert]:
        contract_id, label, customer, queue, measure = key
        holding: dict[str, tuple[AlertType, int, float]] = {}  # fact key -> (type, interval start, value)
        before = series.before
        for start in sorted(series.judged):
            met, value = series.judged[start]
            if not met:
                holding[f"breached:{start}"] = ("breached", start, value)
            elif before is False:
                holding[f"recovered:{start}"] = ("recovered", start, value)
            before = met
        channel = None if m.objective.channel is None else m.objective.channel.value

        def alert(type_: AlertType, start: int, value: float | None, eid: str, corrects: str | None = None) -> ContactAlert:
            return ContactAlert(
                event_id=eid, type=type_, contract_id=contract_id, customer=customer, objective=label, queue=queue,
                channel=channel, measure=measure, interval_start=instant(start), at=instant(start + INTERVAL),
                value=value, target=m.target, corrects=corrects)

        out = []
        for fact in sorted(set(series.published) - set(holding), key=_fact_order):
            corrects = series.published.pop(fact)
            series.retracted.add(corrects)
            out.append(alert("correction", _fact_order(fact)[0], None, alert_id(*key, "correction", corrects), corrects))
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
        kept_from = self.kept_from()
        if kept_from is None or kept_from == self._forgot:
            return
        self._forgot = kept_from
        for key in [k for k in self.slots if k[2] < kept_from]:
            slot = self.slots.pop(key)
            for cid in slot.ids:
                self._ids.pop((key[0], cid), None)
            self._unsaved_slots.discard(key)
            self._dropped_slots.add(key)
        for skey, series in list(self.series.items()):
            old = sorted(start for start in series.judged if start < kept_from)
            if not old:
                continue
            series.before = series.judged[old[-1]][0]
            for start in old:
                del series.judged[start]
            series.published = {f: e for f, e in series.published.items() if _fact_order(f)[0] >= kept_from}
            if series.judged or series.before is False:
                self._unsaved_series.add(skey)
            else:  # nothing left that a later interval's facts depend on
                del self.series[skey]
                self._unsaved_series.discard(skey)
                self._dropped_series.add(skey)

    # -- saving and restoring (contact_tracking.py) ----------------------------------------

    def unsaved(self) -> tuple[dict[SlotKey, Slot], dict[SeriesKey, Series], set[SlotKey], set[SeriesKey]]:
        """Slots and series changed since the last call, and those forgotten since; the next
        call lists only what changes after this one."""
        out = ({k: self.slots[k] for k in self._unsaved_slots}, {k: self.series[k] for k in self._unsaved_series},
               self._dropped_slots, self._dropped_series)
        self._unsaved_slots, self._unsaved_series, self._dropped_slots, self._dropped_series = set(), set(), set(), set()
        return out

    def restore(self, slots: Iterable[tuple[SlotKey, Slot]], series: Iterable[tuple[SeriesKey, Series]],
                closed_until: int | None, wall: datetime) -> None:
        """Take back saved slots and series (a takeover); idle time counts from `wall`."""
        for key, slot in slots:
            self.slots[key] = slot
            for cid in slot.ids:
                self._ids[(key[0], cid)] = key
        self.series.update(series)
        if closed_until is not None and (self.closed_until is None or closed_until > self.closed_until):
            self.closed_until = closed_until
        self._last_record_wall = self._last_record_wall or wall


def _fact_order(fact: str) -> tuple[int, str]:
    kind, start = fact.split(":")
    return int(start), kind


def dump_slot(slot: Slot) -> dict[str, Any]:
    """A slot as JSON-ready data (thresholds as text keys: JSON objects have no number keys)."""
    return {
        "channels": {ch: [c.offered, c.answered, c.abandoned, c.wait_us, c.handle_us, c.fcr_recorded, c.fcr_resolved,
                          {str(t): n for t, n in c.short.items()}, {str(t): n for t, n in c.within.items()}]
                     for ch, c in slot.channels.items()},
        "ids": sorted(slot.ids), "version": slot.version, "dirty": slot.dirty,
    }


def load_slot(data: dict[str, Any]) -> Slot:
    channels = {}
    for ch, (offered, answered, abandoned, wait, handle, fcr_rec, fcr_res, short, within) in data["channels"].items():
        channels[ch] = Counts(offered, answered, abandoned, wait, handle, fcr_rec, fcr_res,
                              {int(t): n for t, n in short.items()}, {int(t): n for t, n in within.items()})
    return Slot(channels, set(data["ids"]), data["version"], data["dirty"])


def dump_series(series: Series) -> dict[str, Any]:
    return {"judged": [[start, met, value] for start, (met, value) in sorted(series.judged.items())],
            "before": series.before, "published": series.published, "retracted": sorted(series.retracted)}


def load_series(data: dict[str, Any]) -> Series:
    return Series({start: (met, value) for start, met, value in data["judged"]}, data["before"],
                  dict(data["published"]), set(data["retracted"]))
