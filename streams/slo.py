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
from typing import Any, Literal

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
    later, which is what drops old cells, at a few bytes per cell.
    """

    __slots__ = ("keys", "totals", "bads")

    def __init__(self, size: int) -> None:
        self.keys = array("q", [-1]) * size
        self.totals = array("q", [0]) * size
        self.bads = array("q", [0]) * size

    def add(self, key: int, total: int, bad: int) -> None:
        i = key % len(self.keys)
        if self.keys[i] != key:
            if self.keys[i] > key:
                return  # older than anything the ring still holds
            self.keys[i], self.totals[i], self.bads[i] = key, 0, 0
        self.totals[i] += total
        self.bads[i] += bad

    def sum(self, first: int, last: int) -> tuple[int, int]:
        """(total, bad) over the keys in [first, last)."""
        size = len(self.keys)
        total = bad = 0
        for key in range(max(first, last - size), last):
            i = key % size
            if self.keys[i] == key:
                total += self.totals[i]
                bad += self.bads[i]
        return total, bad

    def cells(self) -> dict[int, tuple[int, int]]:
        """Key -> (total, bad) of every held key."""
        return {k: (t, b) for k, t, b in zip(self.keys, self.totals, self.bads) if k >= 0}

    def __len__(self) -> int:
        return sum(1 for k in self.keys if k >= 0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ring) and self.cells() == other.cells()


@dataclass(slots=True)
class ErrorSeries:
    """(total, bad) per minute for the last `fine`, per hour for the last `horizon`."""

    fine: timedelta = timedelta(hours=6)
    horizon: timedelta = timedelta(days=30)
    minutes: Ring = field(init=False)
    hours: Ring = field(init=False)

    def __post_init__(self) -> None:
        self.minutes = Ring(self.fine // MINUTE)
        self.hours = Ring(self.horizon // HOUR + 1)  # the hour in progress, then the horizon

    def add(self, minute: datetime, total: int, bad: int) -> None:
        """Count one closed minute (added once per minute)."""
        m = epoch_minute(minute)
        self.minutes.add(m, total, bad)
        self.hours.add(m // 60, total, bad)

    def counts(self, end: datetime, window: timedelta) -> tuple[int, int]:
        """(total, bad) over [end - window, end); whole hours when the window exceeds `fine`."""
        stop = epoch_minute(end)
        start = epoch_minute(end - window)
        if window <= self.fine:
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

    def to_json(self) -> list[Any]:
        """Compact JSON-ready form: per granularity the first key and dense lists of totals and bads."""
        return [*_dense(self.minutes.cells()), *_dense(self.hours.cells())]

    @classmethod
    def from_json(cls, obj: list[Any], fine: timedelta, horizon: timedelta) -> "ErrorSeries":
        """Inverse of to_json."""
        m0, mt, mb, h0, ht, hb = obj
        series = cls(fine, horizon)
        for ring, first, totals, bads in ((series.minutes, m0, mt, mb), (series.hours, h0, ht, hb)):
            for i, (t, b) in enumerate(zip(totals, bads)):
                if t:
                    ring.add(first + i, t, b)
        return series


def _dense(cells: dict[int, tuple[int, int]]) -> tuple[int, list[int], list[int]]:
    if not cells:
        return 0, [], []
    first, last = min(cells), max(cells)
    found = [cells.get(k, (0, 0)) for k in range(first, last + 1)]
    return first, [t for t, _ in found], [b for _, b in found]


@dataclass(frozen=True, slots=True)
class AlertChange:
    rule: BurnRateAlert
    state: Literal["firing", "resolved"]
    at: datetime
    long_burn: float
    short_burn: float


def evaluate(
    series: ErrorSeries, objective: float, rules: tuple[BurnRateAlert, ...], end: datetime, firing: frozenset[str]
) -> tuple[frozenset[str], list[AlertChange]]:
    """Which rules fire at `end` (the end of the last closed minute), and what changed."""
    now_firing = set(firing)
    changes = []
    for rule in rules:
        long_burn = series.burn_rate(end, rule.long, objective)
        short_burn = series.burn_rate(end, rule.short, objective)
        on = long_burn >= rule.factor and short_burn >= rule.factor
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
