"""Acknowledge Kafka records in offset order, whatever order their processing finishes in.

Faust commits the first run of consecutive acknowledged offsets, and skips the check for
an unacknowledged head while nothing has been committed yet, so acknowledging a later
record first can commit past an earlier one still in progress (a probe result waiting
for its minute). This keeps acknowledgements
back until every earlier record of the partition is done.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Awaitable, Callable

from streams.worker.types import Ack

Start = Callable[[int], Awaitable[int]]  # partition -> the offset the group must read first


class OffsetGap(RuntimeError):
    """The first record of a partition is past the group's committed offset: acknowledging
    it (or anything after it) would commit past records nobody has processed."""


class InOrder:
    """Per partition, a queue of records in the order they were read.

    With `start`, the first record of each partition after an assignment is checked against
    the group's committed offset (or the log start when nothing is committed): Faust can
    hand out records from an old fetch position before it seeks, and skips its own head
    check while a partition has no commit, which once lost 7,417 probe results for good.
    """

    def __init__(self, start: Start | None = None) -> None:
        self._queues: dict[int, deque[list[Any]]] = {}
        self._start = start
        self._last: dict[int, int] = {}  # per partition, the offset of the last record read
        self.acked_upto: dict[int, int] = {}  # per partition, the offset of the last record acknowledged

    async def check(self, partition: int, offset: int) -> None:
        """Raise OffsetGap if `offset`, the next record read, skips records of the partition
        that the group has not committed.

        The first record after an assignment is compared with the committed offset (or the
        log start), every later one with the record read before it; a jump is harmless only
        when what it skips is committed already. Faust itself misses a jump after offset 0 (it
        takes read offset 0 for none) and, before a partition's first commit, commits past it:
        the chaos suite lost results of a partition's first minute that way when a second
        worker joined.
        """
        last = self._last.get(partition)
        if last is None or offset > last + 1:
            start = await self._start(partition) if self._start is not None else offset
            first = start if last is None else max(last + 1, start)
            if offset > first:
                raise OffsetGap(f"partition {partition}: the record read is offset {offset}, the group has committed "
                                f"up to {start}; records {first}..{offset - 1} would be skipped")
        self._last[partition] = offset if last is None else max(last, offset)

    def track(self, partition: int, ack: Ack, offset: int = -1) -> Callable[[], Awaitable[bool]]:
        """Register a record just read; returns the acknowledgement to call when it is done."""
        queue = self._queues.setdefault(partition, deque())
        entry: list[Any] = [False, ack, offset, time.monotonic()]
        queue.append(entry)

        async def done() -> bool:
            entry[0] = True
            while queue and queue[0][0]:
                first = queue.popleft()
                await first[1]()
                self.acked_upto[partition] = first[2]
            return True

        return done

    def oldest(self) -> dict[int, tuple[int, float]]:
        """Per partition, the oldest record not yet acknowledged: (offset, seconds since it was read)."""
        now = time.monotonic()
        return {p: (q[0][2], now - q[0][3]) for p, q in self._queues.items() if q}

    def forget(self) -> None:
        """Partitions were revoked: their records are read again, with new acknowledgements."""
        self._queues.clear()
        self._last.clear()
        self.acked_upto.clear()

    def pending(self, partition: int) -> int:
        """Records of the partition read and not yet acknowledged."""
        return len(self._queues.get(partition, ()))
