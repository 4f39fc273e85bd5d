"""Business calendars: how much SLA time passes between two instants, and when a budget runs out.

Both operations are exact to the microsecond and follow wall-clock opening hours through
DST changes: opening hours are local times, converted to UTC per date, so a day whose
clocks change simply has a shorter or longer UTC span.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Container, Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from schemas.policy import ALWAYS, CalendarSpec

ZERO = timedelta(0)
_MAX_DAYS = 3700  # how far `add` searches before declaring a calendar closed for good

Interval = tuple[datetime, datetime]


class Calendar(Protocol):
    name: str

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time in [start, end); zero when end <= start."""
        ...

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant t with elapsed(start, t) == duration."""
        ...


class AlwaysOpen:
    """The 24x7 calendar."""

    name = ALWAYS

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, ZERO)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration


class BusinessCalendar:
    """Weekly opening hours in a timezone, closed on public holidays and extra dates."""

    def __init__(
        self,
        name: str,
        tz: ZoneInfo,
        weekly: tuple[tuple[tuple[int, int], ...], ...],
        closed: Container[date],
    ) -> None:
        self.name = name
        self.tz = tz
        self.weekly = weekly
        self.closed = closed
        self.intervals = lru_cache(maxsize=8192)(self._intervals)

    @classmethod
    def from_spec(cls, name: str, spec: CalendarSpec) -> "BusinessCalendar":
        """Build from a validated policy calendar."""
        extra = frozenset(spec.holidays.extra)
        closed: Container[date] = extra
        if spec.holidays.country:
            public = holidays_lib.country_holidays(spec.holidays.country, subdiv=spec.holidays.subdiv)
            closed = _Closed(public, extra)
        return cls(name, ZoneInfo(spec.timezone), spec.weekly(), closed)

    def _intervals(self, day: date) -> tuple[Interval, ...]:
        """Open UTC intervals of one local date."""
        if day in self.closed:
            return ()
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        return tuple(
            (
                (midnight + timedelta(seconds=s)).astimezone(timezone.utc),
                (midnight + timedelta(seconds=e)).astimezone(timezone.utc),
            )
            for s, e in self.weekly[day.weekday()]
        )

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return ZERO
        total = ZERO
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            for a, b in self.intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        if duration <= ZERO:
            return start
        remaining = duration
        day = self._local_date(start)
        for _ in range(_MAX_DAYS):
            for a, b in self.intervals(day):
                if b <= start:
                    continue
                begin = max(a, start)
                if remaining <= b - begin:
                    return begin + remaining
                remaining -= b - begin
            day += timedelta(days=1)
        raise ValueError(f"calendar {self.name!r} has no open time within {_MAX_DAYS} days of {start}")


class _Closed:
    """Public holidays plus extra closed dates."""

    def __init__(self, public: Container[date], extra: frozenset[date]) -> None:
        self.public = public
        self.extra = extra

    def __contains__(self, day: object) -> bool:
        return day in self.extra or day in self.public


def build_calendars(specs: dict[str, CalendarSpec]) -> dict[str, Calendar]:
    """All calendars of a policy by name, including the built-in 24x7."""
    calendars: dict[str, Calendar] = {ALWAYS: AlwaysOpen()}
    for name, spec in specs.items():
        calendars[name] = BusinessCalendar.from_spec(name, spec)
    return calendars
