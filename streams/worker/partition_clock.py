"""Where each input partition stands, and the clock SLA deadlines fire by, in live mode.

While a topic's partition has a backlog (after a restart, a rebalance, or a burst),
deadlines of its entities fire from that partition's event-time watermark, as in replay,
so events still waiting in it can stop a clock before its breach is published; once it is
caught up the clock is the wall clock, so deadlines fire on time without new input.
The watermark is the largest event time two consecutive records agree on, each no later
than the broker appended its record (streams/engine/watermark.py): one event from a
producer whose clock runs ahead never fires the deadlines of the partition's other entities.
Records of different entities in one partition need not come in event-time order (a
producer that sends a batch entity by entity): the watermark then runs ahead of records
still unread, so a backlog's clock holds `lateness` (SLA_LATENESS_S) behind it, and an event
out of order by less than that never causes a fact that a correction takes back.
A partition that falls behind after it was caught up (live traffic arrives faster than a
tick comes round: at 1,000 events/s a tick almost always finds a fetch half read) keeps
the wall time it was last caught up at, when that is later: firing deadlines up to then
is what a tick at that moment would have done, so live deadlines wait for no backlog
older than that; the watermark rule alone held them back by the lateness at such ticks.
Probe minutes follow the same rule (`caught_up`): a quiet partition closes its minutes by
the wall clock only when nothing of it waits in Kafka.

Each source (ticket, incident, probe topic) has its own position: only the input that can
still change an entity moves its deadlines. Tickets and incidents share partition numbers
(the tick topic is co-partitioned with both), but one topic read ahead in event time must
never fire the other's deadlines early. Every record read counts for the position, a
rejected one too, so an invalid record at a partition's tail never holds its clock back.

A partition is caught up when the next offset to read is known and reaches its end. Both
come from the records read (the consumer's high watermark of the last fetch) or, when the
consumer cannot tell (just after an assignment, before any record, or a fetch whose end
is unknown), from the broker (`learn`, asked by the tick while a position is unsure). An
unknown end is never taken for caught up: a clock that is not caught up holds at its
watermark, and after a takeover, before anything is known, it holds altogether (`now` is
None), so a restarted worker does not fire from the wall clock what its backlog may
disprove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

from streams.engine.watermark import AgreedWatermark

Key = tuple[str, int]  # (source, partition)


@dataclass(slots=True)
class _Position:
    next_offset: int | None = None  # the next offset to read: after the last record, or where reading starts
    end: int | None = None  # the partition's high watermark as last known
    event_time: AgreedWatermark = field(default_factory=AgreedWatermark)  # of the records read
    last_read: datetime | None = None  # wall time of the last record read (or of the takeover)
    caught_up_at: datetime | None = None  # wall time the partition was last seen caught up

    def caught_up(self) -> bool:
        return self.next_offset is not None and self.end is not None and self.next_offset >= self.end


class PartitionClock:
    """Position, end and event-time watermark per (source, partition)."""

    def __init__(self, wall: Callable[[], datetime], settle: timedelta = timedelta(seconds=2),
                 lateness: timedelta = timedelta(0)) -> None:
        self.wall = wall
        self.settle = settle  # how long a partition reads nothing before the broker is asked where it ends
        self.lateness = lateness  # how far behind its watermark a partition with a backlog holds the clock
        self._at: dict[Key, _Position] = {}

    def observe(
        self, source: str, partition: int, offset: int, highwater: int | None, occurred_at: datetime | None
    ) -> None:
        """Note a record read from `source`/`partition` (highwater: the next offset to be written,
        None when the consumer does not know it). `occurred_at` is None for a rejected record;
        callers bound it by the broker's append time (a producer's clock cannot run ahead of it)."""
        at = self._at.get((source, partition))
        if at is None:  # not setdefault: called for every record read
            at = self._at[(source, partition)] = _Position()
        at.next_offset = offset + 1 if at.next_offset is None else max(at.next_offset, offset + 1)
        if highwater is not None:
            at.end = highwater if at.end is None else max(at.end, highwater)
        if occurred_at is not None:
            at.event_time.observe(occurred_at)
        at.last_read = self.wall()
        if at.caught_up():
            at.caught_up_at = at.last_read

    def unsure(self, partition: int, sources: Iterable[str]) -> list[str]:
        """Those of `sources` whose position on `partition` the broker should settle: nothing
        known yet, or not caught up while nothing was read for `settle` (the end may have been
        unknown or stale when the last record came)."""
        wall = self.wall()
        out = []
        for source in sources:
            at = self._at.get((source, partition))
            if at is None or at.next_offset is None or at.last_read is None:
                out.append(source)
            elif not at.caught_up() and wall - at.last_read >= self.settle:
                out.append(source)
        return out

    def learn(self, source: str, partition: int, start: int, end: int) -> None:
        """What the broker says: the group's committed offset (where reading starts) and the end.
        Records read meanwhile say more than `start`."""
        at = self._at.setdefault((source, partition), _Position())
        if at.next_offset is None:
            at.next_offset = start
            at.last_read = self.wall()
        at.end = end if at.end is None else max(at.end, end)
        if at.caught_up():
            at.caught_up_at = self.wall()

    def caught_up(self, source: str, partition: int) -> bool:
        """Nothing of `source`/`partition` waits in Kafka (as far as is known)."""
        at = self._at.get((source, partition))
        return at is not None and at.caught_up()

    def now(self, source: str, partition: int) -> datetime | None:
        """Wall time when the partition of `source` is caught up; else its watermark less the
        lateness or the wall time it was last caught up at, the later (never ahead of wall
        time); None while nothing is known or neither is."""
        wall = self.wall()
        at = self._at.get((source, partition))
        if at is None or at.next_offset is None:
            return None
        if at.caught_up():
            return wall
        watermark = at.event_time.value
        held = None if watermark is None else watermark - self.lateness
        if at.caught_up_at is not None and (held is None or at.caught_up_at > held):
            held = at.caught_up_at
        return None if held is None else min(held, wall)

    def forget(self) -> None:
        """Drop all knowledge (partitions were revoked)."""
        self._at.clear()
