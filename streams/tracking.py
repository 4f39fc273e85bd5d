"""Live SLA tracking: the thin layer between Faust (tables, ticks) and the pure engine.

Outputs are sent without waiting for the broker, then the entity's state is written to
its table. A crash can lose outputs sent after the last offset commit (Faust flushes the
producer before every commit) while their state survives in the changelog. So each table
entry also keeps an outbox (the outputs it published in the last `window`) and when it
was last written. When a partition is taken over (start, restart, rebalance), entries
written within `window` of the partition's latest write before the takeover publish
again their outbox, with the original event ids, and their status rows; consumers drop
the copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable, MutableMapping, Sequence

import orjson

from schemas import codec
from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import SlaEvent
from streams.clocks import ClockEngine, EntityState
from streams.due_index import DueIndex
from streams.state_codec import micros, state_from_json, state_to_json

Record = tuple[bytes, bytes]  # Kafka key, value
Publish = Callable[[Sequence[Record], Sequence[Record]], Awaitable[None]]  # breaches, statuses
Table = MutableMapping[bytes, bytes]


@dataclass(frozen=True)
class Entry:
    """A table value: the entity's partition (for re-indexing), state and recent outputs."""

    partition: int
    state: EntityState
    outbox: tuple[tuple[int, bytes, bytes], ...] = ()  # (published at, µs since epoch; key; value)
    written: int = 0  # when the entry was last written, µs since epoch (its status rows were sent then)

    def dump(self) -> bytes:
        return orjson.dumps([
            self.partition, state_to_json(self.state),
            [[t, k.decode(), v.decode()] for t, k, v in self.outbox], self.written,
        ])

    @classmethod
    def load(cls, data: bytes) -> "Entry":
        partition, state, outbox, *written = orjson.loads(data)
        return cls(partition, state_from_json(state), tuple((t, k.encode(), v.encode()) for t, k, v in outbox),
                   written[0] if written else max((t for t, _, _ in outbox), default=0))


class SlaTracker:
    """Keeps SLA instance state in tables (one per kind) and fires due deadlines on ticks."""

    def __init__(
        self, engine: ClockEngine, tables: dict[str, Table], publish: Publish,
        wall: Callable[[], datetime], window: timedelta = timedelta(seconds=30),
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.publish = publish
        self.wall = wall
        self.window_us = int(window.total_seconds() * 1_000_000)
        self.due = DueIndex()
        self._reannounce: dict[int, list[tuple[str, bytes]]] = {}
        # Outputs published from here on are this worker's own: never re-announced by it.
        self._taken_at = micros(wall())

    async def on_event(self, event: TicketEvent | IncidentEvent, partition: int, now: datetime) -> int:
        """Apply an event; returns how many lifecycle events were published."""
        key = event.entity_id.encode()
        old = self._get(event.kind, key)
        new, outputs = self.engine.apply(old.state if old else None, event, now)
        if old is not None and new == old.state:
            return 0  # a duplicate: nothing changed, nothing to say
        await self._commit(event.kind, key, partition, old, new, outputs, now)
        return len(outputs)

    async def on_tick(self, partition: int, clock: Callable[[str], datetime | None]) -> int:
        """Advance every entity of `partition` whose next deadline has passed.

        `clock(kind)` is the time of that kind's input partition, None while it must hold
        (see partition_clock.py).
        """
        if partition not in self.due.indexed:
            self._index()
            self.due.indexed.add(partition)
        published = await self._republish(partition)
        for source in self.tables:
            now = clock(source)
            if now is None:
                continue
            for kind, key in self.due.pop_due(partition, source, now):
                old = self._get(kind, key)
                if old is None:
                    continue
                new, outputs = self.engine.advance(old.state, now)
                if outputs:
                    await self._commit(kind, key, partition, old, new, outputs, now)
                    published += len(outputs)
                else:
                    self.due.set(partition, (kind, key), new.next_due)
        return published

    def forget(self) -> None:
        """Partitions were revoked: rebuild the index and recovery work on the next tick."""
        self.due.clear()
        self._reannounce.clear()
        self._taken_at = micros(self.wall())

    def _get(self, kind: str, key: bytes) -> Entry | None:
        raw = self.tables[kind].get(key)
        return Entry.load(raw) if raw else None

    async def _commit(
        self, kind: str, key: bytes, partition: int, old: Entry | None,
        state: EntityState, outputs: Sequence[SlaEvent], now: datetime,
    ) -> None:
        records = [(o.instance_id.encode(), codec.dumps(o)) for o in outputs]
        await self.publish(records, self._statuses(state, now))
        wall = micros(self.wall())
        recent = tuple(e for e in (old.outbox if old else ()) if e[0] >= wall - self.window_us)
        entry = Entry(partition, state, recent + tuple((wall, k, v) for k, v in records), wall)
        self.tables[kind][key] = entry.dump()
        self.due.set(partition, (kind, key), state.next_due)

    def _statuses(self, state: EntityState, now: datetime) -> list[Record]:
        return [(s.instance_id.encode(), codec.dumps(s)) for s in self.engine.snapshot(state, now)]

    def _index(self) -> None:
        """Rebuild the due index and the recovery list from the tables, in one scan."""
        already = set(self.due.indexed)  # taken over earlier: recovered then, not again
        latest: dict[int, int] = {}
        outboxes: dict[int, list[tuple[int, str, bytes]]] = {}
        for kind, table in self.tables.items():
            for key, raw in table.items():
                entry = Entry.load(raw)
                self.due.set(entry.partition, (kind, key), entry.state.next_due)
                self.due.indexed.add(entry.partition)
                if entry.written and entry.written < self._taken_at and entry.partition not in already:
                    latest[entry.partition] = max(latest.get(entry.partition, 0), entry.written)
                    outboxes.setdefault(entry.partition, []).append((entry.written, kind, key))
        for partition, items in outboxes.items():
            cutoff = latest[partition] - self.window_us
            self._reannounce[partition] = [(kind, key) for newest, kind, key in items if newest >= cutoff]

    async def _republish(self, partition: int) -> int:
        """Publish again what may have been lost before this worker took the partition over."""
        todo = self._reannounce.pop(partition, [])
        records: list[Record] = []
        statuses: list[Record] = []
        for kind, key in todo:
            entry = self._get(kind, key)
            if entry is None:
                continue
            if not entry.written or entry.written >= self._taken_at:
                continue  # written by this worker since: its outputs are its own
            # Written before the takeover, by a worker that may have died before its outputs
            # (lifecycle events, and status rows even when nothing else changed) were stored.
            cutoff = entry.written - self.window_us
            records += [(k, v) for t, k, v in entry.outbox if t >= cutoff]
            # As of the entity's latest event or fact, like the rows first sent (same version):
            # a partition clock still behind that time would give a row of an earlier moment.
            statuses += self._statuses(entry.state, self.wall())
        if records or statuses:
            await self.publish(records, statuses)
        return len(records)
