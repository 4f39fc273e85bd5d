"""An event-time watermark that one record cannot move (pure).

The watermark of a partition is the clock every entity in it fires deadlines and closes
minutes by while the partition has a backlog. Taken as the largest event time read, one
event from a producer whose clock runs ahead would move everyone's clock: deadlines of
other tickets fire early, and the corrections that follow page alerting systems for
nothing. So an event time counts only once the next record read reaches it too: the
watermark is the largest time two consecutive records agree on (the smaller of each
adjacent pair). Records in event-time order lose nothing by it (the watermark trails
by one record); a lone outlier never moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class AgreedWatermark:
    """The largest event time two consecutive records of one partition reached."""

    value: datetime | None = None
    last: datetime | None = None  # the event time of the record read last

    def observe(self, at: datetime) -> None:
        """Note the event time of the next record read."""
        if self.last is not None:
            agreed = min(self.last, at)
            if self.value is None or agreed > self.value:
                self.value = agreed
        self.last = at

    def after(self, times: list[datetime]) -> AgreedWatermark:
        """The watermark once `times` (in the order read) are observed, leaving this one as it is."""
        value, last = self.value, self.last
        firsts = times[:-1] if last is None else [last, *times[:-1]]
        seconds = times[1:] if last is None else times
        if firsts:
            agreed = max(map(min, firsts, seconds))
            value = agreed if value is None or agreed > value else value
        return AgreedWatermark(value, times[-1])
