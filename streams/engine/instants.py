"""Instants as integer microseconds since the epoch (UTC): what the clock engine computes
with. Exact, unlike float timestamps, and several times cheaper to compare, add and store
than datetimes; datetimes only at the edges (events in, records out)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SECOND = 1_000_000


def micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = value - EPOCH
    return (delta.days * 86400 + delta.seconds) * SECOND + delta.microseconds


def instant(us: int) -> datetime:
    """The UTC datetime of `micros` (twice as fast as fromtimestamp(...).replace(...))."""
    return EPOCH + timedelta(microseconds=us)


def span(value: timedelta) -> int:
    """Microseconds of a duration."""
    return (value.days * 86400 + value.seconds) * SECOND + value.microseconds
