"""Tick partitions a worker owns that handle no tick for a while.

faust-streaming (pinned below 0.16) sometimes never delivers some of a restarted worker's
partitions after its table recovery: no error, the partitions assigned, the worker idle,
the records waiting (seen in CI about one restart in thirty). Nothing is lost, since
offsets never pass records that were not processed, but the worker sits still. Ticks come
to every partition every TICK_INTERVAL_S and drive everything else (deadlines, minutes,
which input partitions the feeds read), so the worker watches the last tick each of its
tick partitions handled; one that has not moved for `STALL_S` seconds, outside a rebalance
or a recovery, stops the worker, and its supervisor starts it again from the tables and
the committed offsets (as for skipped records, faust_fixes.py).
"""

from __future__ import annotations

from typing import Generic, Hashable, Mapping, TypeVar

K = TypeVar("K", bound=Hashable)  # a partition


class StalledPartition(RuntimeError):
    """An owned partition delivered nothing for STALL_S seconds while records waited for it."""


class StallWatch(Generic[K]):
    """Since when each partition's read position has stood still (monotonic seconds)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._since: dict[K, tuple[int | None, float]] = {}

    def idle(self, now: float, read: Mapping[K, int | None]) -> list[K]:
        """Note each partition's read position (`read`: the last offset read, None before any);
        return those whose position has not moved for `limit` seconds, and count their time
        afresh, so that a partition that is merely quiet is asked about once per `limit`."""
        out = []
        since = {}
        for key, offset in read.items():
            before = self._since.get(key)
            if before is None or before[0] != offset:
                since[key] = (offset, now)
            elif now - before[1] >= self.limit:
                out.append(key)
                since[key] = (offset, now)
            else:
                since[key] = before
        self._since = since  # partitions no longer owned drop out
        return out

    def forget(self) -> None:
        """Count every partition afresh (a rebalance or recovery: nothing is delivered meanwhile)."""
        self._since.clear()

