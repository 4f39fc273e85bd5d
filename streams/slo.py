"""Error budgets and multi-window, multi-burn-rate alerts (Google SRE workbook), pure.

Counts arrive per closed minute. Recent minutes are kept as they are, older ones only
as hourly sums, so the state for a 30-day window stays bounded (6 h of minutes plus 30 d
of hours). Windows longer than the minute horizon are therefore measured in whole hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Sequence

from schemas.policy import BurnRateAlert, CreditTier

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)



@dataclass(slots=True)
class ErrorSeries:
    """(total, bad) per minute for the last `fine`, per hour for the last `horizon`."""

    fine: timedelta = timedelta(hours=6)
    horizon: timedelta = timedelta(days=30)
    minutes: dict[datetime, tuple[int, int]] = field(default_factory=dict)
    hours: dict[datetime, tuple[int, int]] = field(default_factory=dict)

    def add(self, minute: datetime, total: int, bad: int) -> None:
        """Count one closed minute (added once per minute)."""
        t, b = self.minutes.get(minute, (0, 0))
        self.minutes[minute] = (t + total, b + bad)
        hour = minute.replace(minute=0)
        if hour not in self.hours:
            self._prune(minute + MINUTE)  # a full sweep once an hour keeps adds cheap
        t, b = self.hours.get(hour, (0, 0))
        self.hours[hour] = (t + total, b + bad)
        self.minutes.pop(minute - self.fine, None)

    def _prune(self, end: datetime) -> None:
        for m in [m for m in self.minutes if m < end - self.fine]:
            del self.minutes[m]
        for h in [h for h in self.hours if h + HOUR <= end - self.horizon]:
            del self.hours[h]

    def counts(self, end: datetime, window: timedelta) -> tuple[int, int]:
        """(total, bad) over [end - window, end); whole hours when the window exceeds `fine`."""
        start = end - window
        if window <= self.fine:
            cells = (v for m, v in self.minutes.items() if start <= m < end)
        else:
            cells = (v for h, v in self.hours.items() if start <= h < end)
        total = bad = 0
        for t, b in cells:
            total += t
            bad += b
        return total, bad

    def burn_rate(self, end: datetime, window: timedelta, objective: float) -> float:
        """Error rate over the window divided by the error budget (1 - objective); 0 without data."""
        total, bad = self.counts(end, window)
        return 0.0 if total == 0 else (bad / total) / (1 - objective)


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
    total, bad = series.counts(end, window)
    if total == 0:
        return 1.0
    return 1 - (bad / total) / (1 - objective)


def credit_for(attainment: float, tiers: Sequence[CreditTier]) -> float:
    """Service credit (% of the monthly fee) for a month's attainment: the largest tier it falls below."""
    return max((t.credit for t in tiers if attainment < t.below), default=0.0)


@dataclass(slots=True)
class NoDataGuard:
    """Raises `no_data` for a service whose probe results stop arriving, clears it when they return."""

    after: timedelta
    last_seen: dict[str, datetime] = field(default_factory=dict)
    alerting: set[str] = field(default_factory=set)

    def seen(self, service: str, wall: datetime) -> list[tuple[str, str, datetime]]:
        """A result for `service` arrived at `wall`; returns a `resolved` change if it was alerting."""
        self.last_seen[service] = wall
        if service in self.alerting:
            self.alerting.discard(service)
            return [(service, "resolved", wall)]
        return []

    def check(self, wall: datetime) -> list[tuple[str, str, datetime]]:
        """`firing` changes for services silent for `after` (at the instant they went over)."""
        out = []
        for service, last in sorted(self.last_seen.items()):
            if service not in self.alerting and wall - last >= self.after:
                self.alerting.add(service)
                out.append((service, "firing", last + self.after))
        return out
