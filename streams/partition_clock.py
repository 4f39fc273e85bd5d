"""The clock SLA deadlines fire by, per input source and partition, in live mode.

While a topic's partition has a backlog (after a restart, a rebalance, or a burst),
deadlines of its entities fire from that partition's event-time watermark, as in replay,
so events still waiting in it can stop a clock before its breach is published; once it is
caught up the clock is the wall clock, so deadlines fire on time without new input.

Each source (ticket topic, incident topic) has its own clock: only the input that can
still change an entity moves its deadlines. Tickets and incidents share partition numbers
(the tick topic is co-partitioned with both), but one topic read ahead in event time must
never fire the other's deadlines early. Every record read counts for the backlog, a
rejected one too, so an invalid record at a partition's tail never holds its clock back.

After an assignment nothing is known of a partition until its first record is read or its
backlog is looked up (`learn`): until then its clock holds (`now` is None), so a worker
that restarts does not fire from the wall clock the deadlines its backlog may disprove.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable


class PartitionClock:
    """Event-time watermark and backlog per (source, partition)."""

    def __init__(self, wall: Callable[[], datetime]) -> None:
        self.wall = wall
        self._watermark: dict[tuple[str, int], datetime] = {}
        self._backlog: dict[tuple[str, int], int] = {}

    def observe(
        self, source: str, partition: int, offset: int, highwater: int | None, occurred_at: datetime | None
    ) -> None:
        """Note a record read from `source`/`partition` (highwater: the next offset to be written).

        `occurred_at` is None for a record that was rejected: it moves the backlog only.
        """
        key = (source, partition)
        if occurred_at is not None and (key not in self._watermark or occurred_at > self._watermark[key]):
            self._watermark[key] = occurred_at
        self._backlog[key] = max((highwater or 0) - offset - 1, 0)

    def learn(self, source: str, partition: int, backlog: int) -> None:
        """The partition's backlog as looked up (records the group has not committed yet)."""
        self._backlog.setdefault((source, partition), backlog)

    def known(self, source: str, partition: int) -> bool:
        return (source, partition) in self._backlog

    def now(self, source: str, partition: int) -> datetime | None:
        """Wall time when the partition of `source` is caught up; else its watermark (never
        ahead of wall time); None while nothing is known or a backlog has no watermark yet."""
        wall = self.wall()
        key = (source, partition)
        if key not in self._backlog:
            return None
        if self._backlog[key]:
            return min(self._watermark[key], wall) if key in self._watermark else None
        return wall

    def forget(self) -> None:
        """Drop all knowledge (partitions were revoked)."""
        self._watermark.clear()
        self._backlog.clear()
