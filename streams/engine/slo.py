"""Error budgets and multi-window, multi-burn-rate alerts (Google SRE workbook), pure.

Counts arrive per closed minute. Recent minutes are kept as they are, older ones only
as hourly sums, so the state for a 30-day window stays bounded (6 h of minutes plus the
horizon in hours). Windows longer than the minute horizon are measured in whole hours.
Cells are keyed by whole minutes (or hours) since the epoch: compact and cheap to sum.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Sequence

import orjson

from schemas.compact import dumps_kept
from schemas.policy import BurnRateAlert

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_minute(at: datetime) -> int:
    """Whole minutes since the epoch (floored)."""
    return int((at - _EPOCH) // MINUTE)


def minute_start(minute: int) -> datetime:
    """The instant a minute since the epoch starts (inverse of epoch_minute)."""
    return _EPOCH + minute * MINUTE


class Ring:
    """Counts (total, bad) per consecutive key (minute or hour), for the newest `size` keys.

    Three flat arrays indexed by key modulo size: a key's slot is reused by the key `size`
    later, which is what drops old cells, at a few bytes per cell. Sums over a window are
    incremental: the ring keeps running totals of everything added, and each cell the
    running totals as they stood when its key was first added (all older keys), so the sum
    of the keys from k to the newest is a subtraction. Keys come in increasing order (closed
    minutes); an add to an older key than the newest recomputes those marks.
    """

    __slots__ = ("keys", "totals", "bads", "before_totals", "before_bads", "running", "newest", "oldest")

    def __init__(self, size: int) -> None:
        self.keys = array("q", [-1]) * size
        self.totals = array("q", [0]) * size
        self.bads = array("q", [0]) * size
        self.before_totals = array("q", [0]) * size
        self.before_bads = array("q", [0]) * size
        self.running = [0, 0]  # total, bad of every add since the ring was made
        self.newest = -1
        self.oldest = -1  # no key below it is held: sums start their search there

    @classmethod
    def of(cls, size: int, first: int, totals: Sequence[int], bads: Sequence[int]) -> "Ring":
        """The ring that adding the dense counts from key `first` (what `dense` gives) in order
        would leave; keys without a total are held empty. One pass: a takeover loads thousands."""
        ring = cls(size)
        held = [i for i, t in enumerate(totals) if t]
        if not held:
            return ring
        lo, hi = max(held[0], held[-1] - size + 1), held[-1]
        total = bad = 0
        for i in range(lo, hi + 1):
            t = totals[i]
            b = bads[i] if t else 0
            j = (first + i) % size
            ring.keys[j], ring.totals[j], ring.bads[j] = first + i, t, b
            ring.before_totals[j], ring.before_bads[j] = total, bad
            total, bad = total + t, bad + b
        ring.running = [total, bad]
        ring.newest, ring.oldest = first + hi, first + lo
        return ring

    def add(self, key: int, total: int, bad: int) -> None:
        size = len(self.keys)
        if self.newest >= 0:
            # Keys skipped since the newest are held empty, with their marks: a sum from any
            # key the ring covers is then one lookup, not a scan for the next key with data.
            for skipped in range(max(self.newest + 1, key - size + 1), key):
                j = skipped % size
                self.keys[j], self.totals[j], self.bads[j] = skipped, 0, 0
                self.before_totals[j], self.before_bads[j] = self.running
        i = key % size
        if self.keys[i] != key:
            if self.keys[i] > key:
                return  # older than anything the ring still holds
            self.keys[i], self.totals[i], self.bads[i] = key, 0, 0
            self.before_totals[i], self.before_bads[i] = self.running
        if self.oldest < 0 or key < self.oldest:
            self.oldest = key
        self.totals[i] += total
        self.bads[i] += bad
        self.running[0] += total
        self.running[1] += bad
        if key >= self.newest:
            self.newest = key
        else:
            self._remark()

    def _remark(self) -> None:
        """Recompute every cell's marks from the held cells, oldest first."""
        size = len(self.keys)
        total = bad = 0
        for key in range(self.newest - size + 1, self.newest + 1):
            i = key % size
            if self.keys[i] == key:
                self.before_totals[i], self.before_bads[i] = total, bad
                total += self.totals[i]
                bad += self.bads[i]
        self.running = [total, bad]

    def _from(self, first: int) -> tuple[int, int]:
        """(total, bad) over the held keys >= first."""
        size = len(self.keys)
        for key in range(max(first, self.newest - size + 1, self.oldest), self.newest + 1):
            i = key % size
            if self.keys[i] == key:
                return self.running[0] - self.before_totals[i], self.running[1] - self.before_bads[i]
        return 0, 0

    def sum(self, first: int, last: int) -> tuple[int, int]:
        """(total, bad) over the keys in [first, last), of the newest `size` keys (and never
        more than `size` keys before `last`)."""
        first = max(first, last - len(self.keys))
        if last <= first:
            return 0, 0
        total, bad = self._from(first)
        if last <= self.newest:
            later_total, later_bad = self._from(last)
            total, bad = total - later_total, bad - later_bad
        return total, bad

    def dense(self) -> tuple[int, list[int], list[int]]:
        """(first key, totals, bads) from the oldest held key with counts to the newest, zeros
        for keys between without any; (0, [], []) when none has counts. Written with every
        closed minute, so the common case (the held keys consecutive, as adds in order leave
        them) is array slicing, not a loop over a month of cells."""
        size = len(self.keys)
        lo = max(self.oldest, self.newest - size + 1)
        if self.newest < 0:
            return 0, [], []
        start, n = lo % size, self.newest - lo + 1

        def held(cells: array) -> array:  # the n slots from `start`, wrapping round (not a copy of the ring)
            return cells[start:start + n] if start + n <= size else cells[start:] + cells[:start + n - size]

        # Each slot holds the key expected there or an older one, never a newer: the keys add up
        # to the expected sum only when all are the expected ones.
        if sum(held(self.keys)) != n * lo + n * (n - 1) // 2:
            return _dense(self.cells())  # a gap left by an add out of order
        totals = held(self.totals).tolist()
        bads = held(self.bads).tolist()
        first = next((i for i in range(n) if totals[i] or bads[i]), n)
        last = next((i for i in range(n - 1, first - 1, -1) if totals[i] or bads[i]), first - 1)
        if first > last:
            return 0, [], []
        return lo + first, totals[first:last + 1], bads[first:last + 1]

    def cells(self) -> dict[int, tuple[int, int]]:
        """Key -> (total, bad) of every held key with counts."""
        return {k: (t, b) for k, t, b in zip(self.keys, self.totals, self.bads) if k >= 0 and (t or b)}

    def __len__(self) -> int:
        return len(self.cells())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ring) and self.cells() == other.cells()


SNAPSHOT_EVERY = 60  # minutes added to a series between two snapshots of its cells (to_json)


@dataclass(slots=True)
class ErrorSeries:
    """(total, bad) per minute for the last `fine`, per hour for the last `horizon`. Counts
    are added through `add` only (to_json writes the adds since its last snapshot)."""

    fine: timedelta = timedelta(hours=6)
    horizon: timedelta = timedelta(days=30)
    minutes: Ring = field(init=False)
    hours: Ring = field(init=False)
    _snapshot: bytes | None = field(default=None, init=False, repr=False, compare=False)  # dense cells, as JSON
    _since: list[int] = field(default_factory=list, init=False, repr=False, compare=False)  # minute, total, bad of each add since

    def __post_init__(self) -> None:
        self.minutes = Ring(self.fine // MINUTE)
        self.hours = Ring(self.horizon // HOUR + 1)  # the hour in progress, then the horizon

    def add(self, minute: datetime, total: int, bad: int) -> None:
        """Count one closed minute (added once per minute)."""
        self._count(epoch_minute(minute), total, bad)

    def _count(self, m: int, total: int, bad: int) -> None:
        self.minutes.add(m, total, bad)
        self.hours.add(m // 60, total, bad)
        if self._snapshot is not None:  # else to_json takes one first (a series never written keeps no adds)
            self._since += (m, total, bad)

    def counts(self, end: datetime, window: timedelta) -> tuple[int, int]:
        """(total, bad) over [end - window, end); whole hours when the window exceeds `fine`."""
        return self._counts(epoch_minute(end - window), epoch_minute(end), window <= self.fine)

    def _counts(self, start: int, stop: int, fine: bool) -> tuple[int, int]:
        if fine:
            return self.minutes.sum(start, stop)
        return self.hours.sum(-(-start // 60), -(-stop // 60))  # hours starting in [start, stop)

    def error_rate(self, end: datetime, window: timedelta) -> float | None:
        """Share of bad results over the window; None without results."""
        total, bad = self.counts(end, window)
        return None if total == 0 else bad / total

    def burn_rate(self, end: datetime, window: timedelta, objective: float) -> float:
        """Error rate over the window divided by the error budget (1 - objective); 0 without data."""
        rate = self.error_rate(end, window)
        return 0.0 if rate is None else rate / (1 - objective)

    def error_rate_before(self, stop: int, window: timedelta) -> float | None:
        """error_rate at the start of epoch minute `stop`, without datetime arithmetic (a status
        row asks seven windows)."""
        total, bad = self._counts(stop - _span(window), stop, window <= self.fine)
        return None if total == 0 else bad / total

    def burn_rate_before(self, stop: int, window: timedelta, objective: float) -> float:
        """burn_rate at the start of epoch minute `stop`, without datetime arithmetic (alerts
        are evaluated every minute a service has data or a rule firing)."""
        return self.burn_and_results_before(stop, window, objective)[0]

    def burn_and_results_before(self, stop: int, window: timedelta, objective: float) -> tuple[float, int]:
        """burn_rate_before and the number of results it stands on."""
        total, bad = self._counts(stop - _span(window), stop, window <= self.fine)
        return (0.0 if total == 0 else bad / total / (1 - objective)), total

    def to_json(self) -> list[Any]:
        """JSON-ready form for orjson: the dense cells (per granularity the first key and lists
        of totals and bads) as of the last snapshot, kept serialised, and the adds since. A
        month-old series is some 11 kB of cells written with every closed minute; re-serialised
        each time it cost 150 µs, a snapshot is taken every SNAPSHOT_EVERY adds instead."""
        if self._snapshot is None or len(self._since) >= 3 * SNAPSHOT_EVERY:
            self._snapshot = dumps_kept([*self.minutes.dense(), *self.hours.dense()])
            self._since = []
        return [orjson.Fragment(self._snapshot), self._since]

    @classmethod
    def from_json(cls, obj: list[Any], fine: timedelta, horizon: timedelta) -> "ErrorSeries":
        """Inverse of to_json, once parsed (also of the form before snapshots: the dense cells alone)."""
        snapshot, since = (obj, []) if len(obj) == 6 else obj
        m0, mt, mb, h0, ht, hb = snapshot
        series = cls(fine, horizon)
        series.minutes = Ring.of(len(series.minutes.keys), m0, mt, mb)
        series.hours = Ring.of(len(series.hours.keys), h0, ht, hb)
        series._snapshot = dumps_kept(snapshot)
        for i in range(0, len(since), 3):  # counted again, and kept as the adds since the snapshot
            series._count(*since[i:i + 3])
        return series


def _dense(cells: dict[int, tuple[int, int]]) -> tuple[int, list[int], list[int]]:
    if not cells:
        return 0, [], []
    first, last = min(cells), max(cells)
    found = [cells.get(k, (0, 0)) for k in range(first, last + 1)]
    return first, [t for t, _ in found], [b for _, b in found]


_SPANS: dict[timedelta, int] = {}


def _span(window: timedelta) -> int:
    """Whole minutes a window reaches back from a minute's start (partial minutes count whole)."""
    span = _SPANS.get(window)
    if span is None:
        span = _SPANS[window] = -(-window // MINUTE)
    return span


@dataclass(frozen=True, slots=True)
class AlertChange:
    rule: BurnRateAlert
    state: Literal["firing", "resolved"]
    at: datetime
    long_burn: float
    short_burn: float


def evaluate(
    series: ErrorSeries, objective: float, rules: tuple[BurnRateAlert, ...], end: datetime, firing: frozenset[str],
    min_results: int = 1,
) -> tuple[frozenset[str], list[AlertChange]]:
    """Which rules fire at `end` (the end of the last closed minute: a minute's start), and what
    changed. A rule starts to fire only when its long window holds `min_results` results or
    more (thin data never pages; the short window, inside it, only makes a rule resolve
    soon); once firing, it resolves by its burn rates alone."""
    stop = epoch_minute(end)
    if not firing and rules and series.burn_rate_before(stop, max(r.short for r in rules), objective) == 0:
        return firing, []  # no bad result in any short window: no rule can start (most minutes of most services)
    now_firing = set(firing)
    changes = []
    for rule in rules:
        short_burn = series.burn_rate_before(stop, rule.short, objective)
        if short_burn < rule.factor and rule.name not in firing:
            continue  # stays off whatever the long window says (the common case: half the sums)
        long_burn, long_n = series.burn_and_results_before(stop, rule.long, objective)
        on = long_burn >= rule.factor and short_burn >= rule.factor and (rule.name in firing or long_n >= min_results)
        if on and rule.name not in firing:
            now_firing.add(rule.name)
            changes.append(AlertChange(rule, "firing", end, long_burn, short_burn))
        elif not on and rule.name in firing:
            now_firing.discard(rule.name)
            changes.append(AlertChange(rule, "resolved", end, long_burn, short_burn))
    return frozenset(now_firing), changes


def budget_remaining(series: ErrorSeries, objective: float, end: datetime, window: timedelta) -> float:
    """Share of the window's error budget left (1 = untouched, negative = overspent)."""
    rate = series.error_rate(end, window)
    return 1.0 if rate is None else 1 - rate / (1 - objective)
