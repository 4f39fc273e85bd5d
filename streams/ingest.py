"""Batching rows into ClickHouse tables, acknowledging only records whose rows are stored.

Kept free of Faust: the app passes an `ack` callable per record, called once the row
(or a row with the same key) is safely in ClickHouse. A crash before that leaves the
offset uncommitted, so the record is redelivered; ReplacingMergeTree absorbs the copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Hashable, Protocol, Sequence

from schemas import codec
from streams.validate import AnyEvent

log = logging.getLogger(__name__)

Ack = Callable[[], Awaitable[Any]]

EVENTS_RAW_COLUMNS = (
    "kind", "event_id", "entity_id", "occurred_at", "source",
    "topic", "partition", "offset", "ingested_at", "payload",
)


class Inserter(Protocol):
    async def insert(self, table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]]) -> None: ...


def events_raw_row(event: AnyEvent, topic: str, partition: int, offset: int, ingested_at: datetime) -> tuple[Any, ...]:
    """The events_raw row of a valid event (columns as EVENTS_RAW_COLUMNS)."""
    return (
        event.kind, event.event_id, event.entity_id, event.occurred_at, event.source,
        topic, partition, offset, ingested_at, codec.dumps(event).decode(),
    )


@dataclass
class _Batch:
    width: int
    columns: list[list[Any]] = field(init=False)
    keys: set[Hashable] = field(default_factory=set)
    acks: list[Ack] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.columns = [[] for _ in range(self.width)]


class BatchWriter:
    """Buffers rows for one table and flushes them in column-oriented batches.

    A full batch is flushed in the background while the next one fills (double
    buffering); input is only held back when a whole `max_pending_batches` of rows is
    waiting, e.g. while ClickHouse is unreachable.
    """

    def __init__(
        self, inserter: Inserter, table: str, columns: Sequence[str], batch_rows: int,
        max_pending_batches: int = 4, retry_s: float = 1.0,
    ) -> None:
        self._inserter = inserter
        self.table = table
        self.columns = tuple(columns)
        self._batch_rows = batch_rows
        self._max_pending = batch_rows * max_pending_batches
        self._retry_s = retry_s
        self._batch = _Batch(len(self.columns))
        self._lock = asyncio.Lock()
        self._background: asyncio.Future[None] | None = None
        self._retry_at = 0.0
        self.rows_written = 0

    @property
    def pending(self) -> int:
        """Records buffered and not yet acknowledged."""
        return len(self._batch.acks)

    async def add(self, key: Hashable, row: Sequence[Any], ack: Ack | None) -> None:
        """Buffer one row with its table key; starts a flush when a batch is full.

        `ack` (if any) is called once the row is stored.
        """
        batch = self._batch
        if key not in batch.keys:  # a copy inside one batch is dropped here, later ones by the table
            batch.keys.add(key)
            for column, value in zip(batch.columns, row):
                column.append(value)
        batch.acks.append(ack or _noop)
        if len(batch.keys) >= self._batch_rows and not self._lock.locked():
            self._background = asyncio.ensure_future(self.flush())
        while self.pending >= self._max_pending:
            await asyncio.sleep(0.05)
            await self.flush()

    async def flush(self) -> None:
        """Insert the buffered rows as one block, then acknowledge their records.

        On failure the rows stay buffered (and unacknowledged); the next attempt waits
        `retry_s`.
        """
        async with self._lock:
            batch = self._batch
            if not batch.acks or time.monotonic() < self._retry_at:
                return
            self._batch = _Batch(len(self.columns))
            try:
                if batch.keys:
                    await self._inserter.insert(self.table, self.columns, batch.columns)
            except Exception:
                log.exception("insert of %d rows into %s failed; will retry", len(batch.keys), self.table)
                self._retry_at = time.monotonic() + self._retry_s
                self._merge_back(batch)
                return
            self.rows_written += len(batch.keys)
            for ack in batch.acks:
                await ack()

    def _merge_back(self, failed: _Batch) -> None:
        newer = self._batch
        for old, new in zip(failed.columns, newer.columns):
            old.extend(new)
        failed.keys |= newer.keys
        failed.acks.extend(newer.acks)
        self._batch = failed


async def _noop() -> None:
    return None
