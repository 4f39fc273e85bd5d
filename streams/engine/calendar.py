"""Business calendars: how much SLA time passes between two instants, and when a budget runs out.

Both operations are exact to the microsecond and follow wall-clock opening hours through
DST changes: opening hours are local times, converted to UTC per date, so a day whose
clocks change simply has a shorter or longer UTC span.

A business calendar is compiled into a table of its open UTC intervals with the open time
before each (whole years at a time, built when an instant first needs them), so both
operations are two binary searches, whatever the span: `elapsed` is the difference of the
open time up to each end, `add` finds the interval in which the open time reaches the
budget. (Walking the span day by day cost a timezone conversion per end and a lookup per
day: the engine asks on every event of a running clock.)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Container
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from schemas.policy import ALWAYS, CalendarSpec
from streams.engine.instants import instant, micros, span

_MAX_DAYS = 3700  # how far `add` searches before declaring a calendar closed for good
_DAY = 86_400_000_000

Interval = tuple[datetime, datetime]


class Calendar:
    """Open time between instants. The engine asks in integer microseconds since the epoch
    (`elapsed_us`, `add_us`, see instants.py); `elapsed` and `add` say the same in datetimes."""

    name: str

    def elapsed_us(self, start: int, end: int) -> int:
        """Open microseconds in [start, end); zero when end <= start."""
        raise NotImplementedError

    def add_us(self, start: int, duration: int) -> int:
        """The earliest instant t with elapsed_us(start, t) == duration."""
        raise NotImplementedError

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time in [start, end); zero when end <= start."""
        return timedelta(microseconds=self.elapsed_us(micros(start), micros(end)))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant t with elapsed(start, t) == duration."""
        return instant(self.add_us(micros(start), span(duration)))


class AlwaysOpen(Calendar):
    """The 24x7 calendar."""

    name = ALWAYS

    def elapsed_us(self, start: int, end: int) -> int:
        return end - start if end > start else 0

    def add_us(self, start: int, duration: int) -> int:
        return start + duration


class BusinessCalendar(Calendar):
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
        # The compiled table, in microseconds: open intervals in order, the open time before
        # each and up to its end (from the table's first instant), and the span it covers.
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._before: list[int] = []
        self._upto: list[int] = []
        # Per day of the table (24 h from its first instant): the index of its first interval
        # starting in or after that day. Searching the table was a twentieth of replay's
        # instructions; from here an instant's interval is a step or two away.
        self._days: list[int] = []
        self._first_year = self._last_year = 0
        self._lo = self._hi = 0

    @classmethod
    def from_spec(cls, name: str, spec: CalendarSpec) -> "BusinessCalendar":
        """Build from a validated policy calendar."""
        extra = frozenset(spec.holidays.extra)
        closed: Container[date] = extra
        if spec.holidays.country:
            public = holidays_lib.country_holidays(spec.holidays.country, subdiv=spec.holidays.subdiv)
            closed = _Closed(public, extra)
        return cls(name, ZoneInfo(spec.timezone), spec.weekly(), closed)

    def intervals(self, day: date) -> tuple[Interval, ...]:
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

    def elapsed_us(self, start: int, end: int) -> int:
        if end <= start:
            return 0
        if start < self._lo or end >= self._hi:
            self._cover(start, end)
        return self._open_until(end) - self._open_until(start)

    def add_us(self, start: int, duration: int) -> int:
        if duration <= 0:
            return start
        if start < self._lo or start >= self._hi:
            self._cover(start, start)
        goal = self._open_until(start) + duration
        while not self._upto or goal > self._upto[-1]:
            if self._hi - start > _MAX_DAYS * _DAY:
                raise ValueError(
                    f"calendar {self.name!r} has no open time within {_MAX_DAYS} days of {instant(start)}")
            self._compile(self._first_year, self._last_year + 1)  # later years: the open time before stays
        i = _first_at_least(self._upto, goal)  # the first interval by whose end the budget is used
        return self._starts[i] + (goal - self._before[i])

    def _open_until(self, at: int) -> int:
        """Open time from the table's first instant to `at` (which the table covers)."""
        starts = self._starts
        i, n = self._days[(at - self._lo) // _DAY], len(starts)
        while i < n and starts[i] <= at:
            i += 1
        i -= 1  # the last interval starting at or before `at`
        if i < 0:
            return 0
        end = self._ends[i]
        return self._before[i] + (at if at < end else end) - self._starts[i]

    def _cover(self, start: int, end: int) -> None:
        """Compile whole years so that the table covers [start, end] (and what it covered)."""
        # A year of margin on each side for the zone's offset.
        first, last = instant(start).astimezone(self.tz).year - 1, instant(end).astimezone(self.tz).year + 1
        if self._first_year:
            first, last = min(first, self._first_year), max(last, self._last_year)
        self._compile(first, last)

    def _compile(self, first_year: int, last_year: int) -> None:
        starts, ends, before, upto = [], [], [], []
        total = 0
        day, stop = date(first_year, 1, 1), date(last_year + 1, 1, 1)
        while day < stop:
            for a, b in self.intervals(day):
                starts.append(micros(a))
                ends.append(micros(b))
                before.append(total)
                total += micros(b) - micros(a)
                upto.append(total)
            day += timedelta(days=1)
        self._starts, self._ends, self._before, self._upto = starts, ends, before, upto
        self._first_year, self._last_year = first_year, last_year
        self._lo = micros(datetime(first_year, 1, 1, tzinfo=self.tz))
        self._hi = micros(datetime(last_year + 1, 1, 1, tzinfo=self.tz))
        self._days, i = [], 0
        for midnight in range(self._lo, self._hi + _DAY, _DAY):  # UTC: 24 h apart
            while i < len(starts) and starts[i] < midnight:
                i += 1
            self._days.append(i)


def _first_at_least(values: list[int], x: int) -> int:
    """The index of the first of the rising `values` at or above `x` (`bisect_left`). Searched
    here rather than by `bisect`, which compares through Python's generic comparison: compiled,
    this compares machine integers."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


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
