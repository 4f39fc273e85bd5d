"""Live SLA tracking: the thin layer between Faust (tables, ticks) and the pure engine.

Order of effects for one event or tick, so that a crash never loses a published fact:
outputs are sent and *delivered* first, then the entity's state is written to its table.
A crash in between replays the event, re-derives the same outputs (same event ids), and
consumers drop the copies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Awaitable, Callable, MutableMapping, Sequence

from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import InstanceStatus, SlaEvent
from streams.clocks import ClockEngine, EntityState
from streams.due_index import DueIndex
from streams.state_codec import dump_state, load_state

Publish = Callable[[Sequence[SlaEvent], Sequence[InstanceStatus]], Awaitable[None]]
Table = MutableMapping[bytes, bytes]


def dump_entry(partition: int, state: EntityState) -> bytes:
    """Table value: the partition the entity lives on (for re-indexing), then its state."""
    return partition.to_bytes(2, "big") + dump_state(state)


def load_entry(value: bytes) -> tuple[int, EntityState]:
    """Inverse of dump_entry."""
    return int.from_bytes(value[:2], "big"), load_state(value[2:])


class SlaTracker:
    """Keeps SLA instance state in tables (one per kind) and fires due deadlines on ticks."""

    def __init__(self, engine: ClockEngine, tables: dict[str, Table], publish: Publish) -> None:
        self.engine = engine
        self.tables = tables
        self.publish = publish
        self.due = DueIndex()

    async def on_event(self, event: TicketEvent | IncidentEvent, partition: int, now: datetime) -> int:
        """Apply an event; returns how many lifecycle events were published."""
        table = self.tables[event.kind]
        key = event.entity_id.encode()
        raw = table.get(key)
        state = load_entry(raw)[1] if raw else None
        new, outputs = self.engine.apply(state, event, now)
        if new == state:
            return 0  # a duplicate: nothing changed, nothing to say
        await self._commit(event.kind, key, partition, new, outputs, now)
        return len(outputs)

    async def on_tick(self, partition: int, now: datetime) -> int:
        """Advance every entity of `partition` whose next deadline has passed."""
        if partition not in self.due.indexed:
            self._index(partition)
        published = 0
        for kind, key in self.due.pop_due(partition, now):
            raw = self.tables[kind].get(key)
            if raw is None:
                continue
            new, outputs = self.engine.advance(load_entry(raw)[1], now)
            if outputs:
                await self._commit(kind, key, partition, new, outputs, now)
                published += len(outputs)
            else:
                self.due.set(partition, (kind, key), new.next_due)
        return published

    async def _commit(
        self, kind: str, key: bytes, partition: int, state: EntityState, outputs: list[SlaEvent], now: datetime
    ) -> None:
        await self.publish(outputs, self.engine.snapshot(state, now))
        self.tables[kind][key] = dump_entry(partition, state)
        self.due.set(partition, (kind, key), state.next_due)

    def _index(self, partition: int) -> None:
        """Rebuild the due index from the tables (after start or a rebalance), in one scan."""
        for kind, table in self.tables.items():
            for key, raw in table.items():
                owner, state = load_entry(raw)
                self.due.set(owner, (kind, key), state.next_due)
                self.due.indexed.add(owner)
        self.due.indexed.add(partition)
