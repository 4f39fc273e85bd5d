"""Which entities have a deadline due, per partition (in memory, rebuilt after a rebalance)."""

from __future__ import annotations

from streams.engine.schedule import Schedule

Key = tuple[str, bytes]  # (kind, entity key)


class DueIndex:
    """The instant (integer microseconds) each entity is next due, a schedule per partition
    and kind: each kind fires by the clock of its own input topic. The schedules are the
    engine's compiled ones (replay's too): a heap of (datetime, key) tuples here was 4 % of a
    paced worker's samples."""

    def __init__(self) -> None:
        self._schedules: dict[tuple[int, str], Schedule[Key]] = {}
        self._partition: dict[Key, int] = {}  # where each key is scheduled
        self.indexed: set[int] = set()

    def set(self, partition: int, key: Key, due: int | None) -> None:
        """Record when `key` (on `partition`) is next due; None removes it."""
        was = self._partition.pop(key, None)
        if was is not None and (due is None or was != partition):
            self._schedule(was, key[0]).set(key, None)
        if due is not None:
            self._partition[key] = partition
            self._schedule(partition, key[0]).set(key, due)

    def pop_due(self, partition: int, kind: str, now: int, most: int | None = None) -> list[Key]:
        """Keys of `kind` on `partition` due at or before `now`, earliest first, at most `most`,
        removed from the index."""
        schedule = self._schedules.get((partition, kind))
        if schedule is None:
            return []
        keys = schedule.pop_due(now, most)
        for key in keys:
            del self._partition[key]
        return keys

    def first_due(self, partition: int, kind: str) -> int | None:
        """The earliest instant a key of `kind` on `partition` is due (None: none is)."""
        schedule = self._schedules.get((partition, kind))
        return None if schedule is None else schedule.first()

    def clear(self) -> None:
        """Forget everything (partitions may have moved)."""
        self._schedules.clear()
        self._partition.clear()
        self.indexed.clear()

    def __len__(self) -> int:
        return len(self._partition)

    def _schedule(self, partition: int, kind: str) -> Schedule[Key]:
        schedule = self._schedules.get((partition, kind))
        if schedule is None:
            schedule = self._schedules[(partition, kind)] = Schedule()
        return schedule
