"""Error budgets and multi-window, multi-burn-rate alerts (Google SRE workbook), pure.

Counts arrive per closed minute. Recent minutes are kept as they are, older ones only
as hourly sums, so the state for a 30-day window stays bounded (6 h of minutes plus the
horizon in hours). Windows longer than the minute horizon are measured in whole hours.
Cells are keyed by whole minutes (or hours) since the epoch: compact and cheap to sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Sequence

from schemas.policy import BurnRateAlert, CreditTier

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_minute(at: datetime) -> int:
    """Whole minutes since the epoch (floored)."""
    return int((at - _EPOCH) // MINUTE)


@dataclass(slots=True)
class ErrorSeries:
    """(total, bad) per minute for the last `fine`, per hour for the last `horizon`."""

    fine: timedelta = timedelta(hours=6)
    horizon: timedelta = timedelta(days=30)
    minutes: dict[int, tuple[int, int]] = field(default_factory=dict)
    hours: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add(self, minute: datetime, total: int, bad: int) -> None:
        """Count one closed minute (added once per minute)."""
        m = epoch_minute(minute)
        t, b = self.minutes.get(m, (0, 0))
        self.minutes[m] = (t + total, b + bad)
        h = m // 60
        if h not in self.hours:
            self._prune(m + 1)  # a full sweep once an hour keeps adds cheap
        t, b = self.hours.get(h, (0, 0))
        self.hours[h] = (t + total, b + bad)
        self.minutes.pop(m - self.fine // MINUTE, None)

    def _prune(self, end: int) -> None:
        fine, horizon = self.fine // MINUTE, self.horizon // MINUTE
        for m in [m for m in self.minutes if m < end - fine]:
            del self.minutes[m]
        for h in [h for h in self.hours if (h + 1) * 60 <= end - horizon]:
            del self.hours[h]

    def counts(self, end: datetime, window: timedelta) -> tuple[int, int]:
        """(total, bad) over [end - window, end); whole hours when the window exceeds `fine`."""
        stop = epoch_minute(end)
        start = epoch_minute(end - window)
        if window <= self.fine:
            cells, first, last = self.minutes, start, stop
        else:
            cells, first, last = self.hours, -(-start // 60), -(-stop // 60)  # hours starting in [start, stop)
        total = bad = 0
        if last - first > len(cells):
            found = (v for k, v in cells.items() if first <= k < last)
        else:
            found = (cells[k] for k in range(first, last) if k in cells)
        for t, b in found:
            total += t
            bad += b
        return total, bad

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
        return [*_dense(self.minutes), *_dense(self.hours)]

    @classmethod
    def from_json(cls, obj: list[Any], fine: timedelta, horizon: timedelta) -> "ErrorSeries":
        """Inverse of to_json."""
        m0, mt, mb, h0, ht, hb = obj
        return cls(fine, horizon, _sparse(m0, mt, mb), _sparse(h0, ht, hb))


def _dense(cells: dict[int, tuple[int, int]]) -> tuple[int, list[int], list[int]]:
    if not cells:
        return 0, [], []
    first, last = min(cells), max(cells)
    found = [cells.get(k, (0, 0)) for k in range(first, last + 1)]
    return first, [t for t, _ in found], [b for _, b in found]


def _sparse(first: int, totals: list[int], bads: list[int]) -> dict[int, tuple[int, int]]:
    return {first + i: (t, b) for i, (t, b) in enumerate(zip(totals, bads)) if t}


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


def credit_for(attainment: float, tiers: Sequence[CreditTier]) -> float:
    """Service credit (% of the monthly fee) for a month's attainment: the largest tier it falls below."""
    return max((t.credit for t in tiers if attainment < t.below), default=0.0)
