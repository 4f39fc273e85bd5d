"""The clock SLA deadlines fire by, per partition, in live mode.

While a partition has a backlog (after a restart, a rebalance, or a burst), deadlines
fire from its event-time watermark, as in replay, so events still waiting in the
partition can stop a clock before its breach is published; once the partition is
caught up the clock is the wall clock, so deadlines fire on time without new input.
Without this a restarted worker would page for breaches that its backlog disproves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable


class PartitionClock:
    """Event-time watermark and backlog per partition, shared by the input topics."""

    def __init__(self, wall: Callable[[], datetime]) -> None:
        self.wall = wall
        self._watermark: dict[int, datetime] = {}
        self._backlog: dict[tuple[str, int], int] = {}

    def observe(self, topic: str, partition: int, offset: int, highwater: int | None, occurred_at: datetime) -> None:
        """Note a record taken from `topic`/`partition` (highwater: the next offset to be written)."""
        if partition not in self._watermark or occurred_at > self._watermark[partition]:
            self._watermark[partition] = occurred_at
        self._backlog[(topic, partition)] = max((highwater or 0) - offset - 1, 0)

    def now(self, partition: int) -> datetime:
        """Wall time when `partition` is caught up; else its watermark (never ahead of wall time)."""
        wall = self.wall()
        behind = any(n for (_, p), n in self._backlog.items() if p == partition)
        if behind and partition in self._watermark:
            return min(self._watermark[partition], wall)
        return wall

    def forget(self) -> None:
        """Drop all knowledge (partitions were revoked)."""
        self._watermark.clear()
        self._backlog.clear()
