"""Which entities have a deadline due, per partition (in memory, rebuilt after a rebalance)."""

from __future__ import annotations

import heapq
from datetime import datetime

Key = tuple[str, bytes]  # (kind, entity key)


class DueIndex:
    """A heap of next-due instants per partition and kind, with lazy deletion of stale entries.

    Kinds are kept apart because each fires by the clock of its own input topic.
    """

    def __init__(self) -> None:
        self._heaps: dict[tuple[int, str], list[tuple[datetime, Key]]] = {}
        self._due: dict[Key, tuple[int, datetime]] = {}
        self.indexed: set[int] = set()

    def set(self, partition: int, key: Key, due: datetime | None) -> None:
        """Record when `key` (on `partition`) is next due; None removes it."""
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == (partition, due):
            return
        self._due[key] = (partition, due)
        heapq.heappush(self._heaps.setdefault((partition, key[0]), []), (due, key))

    def pop_due(self, partition: int, kind: str, now: datetime, most: int | None = None) -> list[Key]:
        """Keys of `kind` on `partition` due at or before `now`, earliest first, at most `most`,
        removed from the index."""
        heap = self._heaps.get((partition, kind), [])
        out: list[Key] = []
        while heap and heap[0][0] <= now and (most is None or len(out) < most):
            due, key = heapq.heappop(heap)
            if self._due.get(key) == (partition, due):
                del self._due[key]
                out.append(key)
        return out

    def first_due(self, partition: int, kind: str) -> datetime | None:
        """The earliest instant a key of `kind` on `partition` is due (None: none is)."""
        heap = self._heaps.get((partition, kind), [])
        while heap and self._due.get(heap[0][1]) != (partition, heap[0][0]):
            heapq.heappop(heap)  # stale: rescheduled or removed since
        return heap[0][0] if heap else None

    def clear(self) -> None:
        """Forget everything (partitions may have moved)."""
        self._heaps.clear()
        self._due.clear()
        self.indexed.clear()

    def __len__(self) -> int:
        return len(self._due)
