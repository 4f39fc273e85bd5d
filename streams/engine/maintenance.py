"""Planned maintenance: which minutes are excluded from error budgets and credits (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence
from zoneinfo import ZoneInfo

from schemas.policy import MaintenanceWindow


class Maintenance:
    """The maintenance windows of one contract."""

    def __init__(self, windows: Sequence[MaintenanceWindow]) -> None:
        self.one_off = [(w.start, w.end) for w in windows if w.weekly is None]
        self.weekly = [(ZoneInfo(w.timezone), *w.schedule()) for w in windows if w.weekly is not None]

    def covers(self, minute: datetime) -> bool:
        """True when the minute starting at `minute` lies in a window (by its start)."""
        if any(start <= minute < end for start, end in self.one_off):  # type: ignore[operator]
            return True
        for tz, days, ranges in self.weekly:
            local = minute.astimezone(tz)
            seconds = local.hour * 3600 + local.minute * 60
            if local.weekday() in days and any(a <= seconds < b for a, b in ranges):
                return True
        return False
