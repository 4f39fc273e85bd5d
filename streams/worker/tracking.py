"""Live SLA tracking: the thin layer between Faust (tables, ticks) and the pure engine.

Outputs are sent without waiting for the broker, then the entity's state is written to
its table. The events are acknowledged only once the broker has stored the outputs
(`stored`), but the table's changelog may be stored before them, so a crash can lose
outputs whose state survives. So each table entry also keeps an outbox (the outputs it
published in the last `window`), each with the record that caused it (the input or tick
topic's offset). An output is stored for sure once the group's committed offset has
passed its cause. When a partition is taken over
(start, restart, rebalance), before anything else happens in it, every output whose cause
is not committed yet is published again with its original event id, and the entity's
status record with it; consumers drop the copies.

Changes are staged and written once per tick: an event's lifecycle outputs are sent at once,
but its entity's table entry and status record wait for the partition's next tick, which
writes each changed entity once (five updates of a ticket within a tick: one table write,
one status record) and only then acknowledges the events. A crash before that loses
nothing: the events are not acknowledged, so they are read and applied again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Sequence

import orjson

from schemas import codec
from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import EntityStatus, LifecycleType, SlaEvent, entity_key
from streams.engine.clocks import ClockEngine, EntityState
from streams.engine.state_codec import micros, state_from_json, state_to_json
from streams.metrics import DEADLINE_DELAY
from streams.worker.due_index import DueIndex
from streams.worker.types import Ack, Record, Table

Publish = Callable[[Sequence[Record], Sequence[Record]], Awaitable[None]]  # breaches, statuses; does not wait
Stored = Callable[[], Awaitable[None]]  # returns once the broker has stored everything published


_DUE = (LifecycleType.warning, LifecycleType.breached)  # facts that fire at an instant, not at an event
Cause = tuple[str, int]  # the record an output came from: (source: ticket, incident or tick; offset)
Committed = Callable[[str, int], Awaitable[int]]  # (source, partition) -> the group's committed offset


@dataclass(frozen=True)
class Entry:
    """A table value: the entity's partition (for re-indexing), state and recent outputs."""

    partition: int
    state: EntityState
    # (published at, µs since epoch; key; value; cause) of the outputs of the last `window`
    outbox: tuple[tuple[int, bytes, bytes, Cause | None], ...] = ()
    written: int = 0  # when the entry was last written, µs since epoch (its status rows were sent then)
    cause: Cause | None = None  # the record that caused the last write (None: written before causes were kept)

    def dump(self) -> bytes:
        return orjson.dumps([
            self.partition, state_to_json(self.state),
            [[t, k.decode(), v.decode(), c] for t, k, v, c in self.outbox], self.written, self.cause,
        ])

    @classmethod
    def load(cls, data: bytes) -> "Entry":
        partition, state, outbox, *rest = orjson.loads(data)
        written = rest[0] if rest else max((item[0] for item in outbox), default=0)
        cause = tuple(rest[1]) if len(rest) > 1 and rest[1] else None
        items = tuple((t, k.encode(), v.encode(), tuple(c[0]) if c and c[0] else None)
                      for t, k, v, *c in outbox)
        return cls(partition, state_from_json(state), items, written, cause)  # type: ignore[arg-type]


@dataclass
class _Staged:
    """A partition's changes since its last tick: entries to write and the acknowledgements
    of the events applied."""

    entries: dict[tuple[str, bytes], Entry] = field(default_factory=dict)
    acks: list[Ack] = field(default_factory=list)
    moved: list[tuple[str, bytes]] = field(default_factory=list)  # legacy keys whose entries moved (`_legacy`)


class SlaTracker:
    """Keeps SLA instance state in tables (one per kind) and fires due deadlines on ticks."""

    def __init__(
        self, engine: ClockEngine, tables: dict[str, Table], publish: Publish,
        wall: Callable[[], datetime], committed: Committed, window: timedelta = timedelta(minutes=5),
        cached: int = 4096, *, stored: Stored,
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.publish = publish
        self.stored = stored
        self.wall = wall
        self.committed = committed
        self.window_us = int(window.total_seconds() * 1_000_000)
        self.due = DueIndex()
        self._takeover: dict[int, list[tuple[str, bytes]]] = {}  # partition -> its entries, until recovered
        # The ingest and tick agents interleave at every await (a publish); an entry read by one
        # must not be written over by the other's older copy. One lock per partition serialises them.
        self._locks: dict[int, asyncio.Lock] = {}
        # The entries last read or written, parsed (most recently used last): an entity's next
        # event usually comes soon, and parsing its table value was a tenth of the worker's time.
        # Only this process writes the partitions it owns; a revoke empties it (forget).
        self._cache: dict[tuple[str, bytes], Entry] = {}
        self._cached = cached
        self._staged: dict[int, _Staged] = {}

    async def on_event(
        self, event: TicketEvent | IncidentEvent, partition: int, offset: int, now: datetime, ack: Ack,
    ) -> int:
        """Apply an event read at `offset`; returns how many lifecycle events were published.

        `ack` is kept and called by the partition's next tick, once the entity's entry is
        written. If this raises, the event was not applied and `ack` is not kept.
        """
        async with self._lock(partition):
            published = await self._recover(partition)
            key = entity_key(event.kind, event.customer, event.entity_id)
            old = self._get(partition, event.kind, key) or self._legacy(partition, event)
            new, outputs = self.engine.apply(old.state if old else None, event, now)
            if old is None or new != old.state:  # else a duplicate: nothing changed, nothing to say
                await self._stage(event.kind, key, partition, old, new, outputs, (event.kind, offset))
                published += len(outputs)
            self._staged.setdefault(partition, _Staged()).acks.append(ack)
            return published

    async def on_tick(self, partition: int, offset: int, clock: Callable[[str], datetime | None]) -> int:
        """Advance every entity of `partition` whose next deadline has passed (the tick was read
        at `offset`), then write what changed since the last tick and acknowledge its events.
        `clock(kind)` is the time of that kind's input partition, None while it must hold
        (see partition_clock.py)."""
        async with self._lock(partition):
            published = await self._tick(partition, offset, clock)
            acks = await self._flush(partition)
        # Outside the lock: the partition's next events are applied while the broker stores
        # (one wait per tick held the ingest agent about a tenth of the time).
        await self.stored()
        for ack in acks:
            await ack()
        return published

    def _lock(self, partition: int) -> asyncio.Lock:
        return self._locks.setdefault(partition, asyncio.Lock())

    async def _tick(self, partition: int, offset: int, clock: Callable[[str], datetime | None]) -> int:
        published = await self._recover(partition)
        for source in self.tables:
            now = clock(source)
            if now is None:
                continue
            for kind, key in self.due.pop_due(partition, source, now):
                old = self._get(partition, kind, key)
                if old is None:
                    continue
                new, outputs = self.engine.advance(old.state, now)
                if outputs:
                    await self._stage(kind, key, partition, old, new, outputs, ("tick", offset))
                    published += len(outputs)
                else:
                    self.due.set(partition, (kind, key), new.next_due)
        return published

    def forget(self) -> None:
        """Partitions were revoked: rebuild the index and recovery work on the next touch."""
        self.due.clear()
        self._takeover.clear()
        self._cache.clear()
        self._staged.clear()  # their events are not acknowledged: read and applied again

    def _get(self, partition: int, kind: str, key: bytes) -> Entry | None:
        staged = self._staged.get(partition)
        if staged is not None and (kind, key) in staged.entries:
            return staged.entries[(kind, key)]
        entry = self._cache.pop((kind, key), None)
        if entry is None:
            raw = self.tables[kind].get(key)
            if not raw:
                return None
            entry = Entry.load(raw)
        self._keep(kind, key, entry)
        return entry

    def _legacy(self, partition: int, event: TicketEvent | IncidentEvent) -> Entry | None:
        """The entry of an entity written before ids were scoped by customer (keyed by its
        bare id), when it belongs to the event's customer: it moves to the scoped key at the
        partition's next tick. Another customer's entry stays where it is, untouched."""
        key = event.entity_id.encode()
        entry = self._get(partition, event.kind, key)
        if entry is None or entry.state.events[-1].customer != event.customer:
            return None
        self.due.set(partition, (event.kind, key), None)  # no tick advances the old copy meanwhile
        self._staged.setdefault(partition, _Staged()).moved.append((event.kind, key))
        return entry

    def _keep(self, kind: str, key: bytes, entry: Entry) -> None:
        self._cache[(kind, key)] = entry
        if len(self._cache) > self._cached:
            del self._cache[next(iter(self._cache))]  # the least recently used

    async def _stage(
        self, kind: str, key: bytes, partition: int, old: Entry | None,
        state: EntityState, outputs: Sequence[SlaEvent], cause: Cause,
    ) -> None:
        """Publish the lifecycle outputs now; the entry and its status record wait for the tick."""
        records = [(o.instance_id.encode(), codec.dumps(o)) for o in outputs]
        if records:
            await self.publish(records, [])
        wall_now = self.wall()
        for o in outputs:
            if o.type in _DUE:
                DEADLINE_DELAY.observe(max((wall_now - o.at).total_seconds(), 0.0))
        wall = micros(wall_now)
        recent = tuple(e for e in (old.outbox if old else ()) if e[0] >= wall - self.window_us)
        entry = Entry(partition, state, recent + tuple((wall, k, v, cause) for k, v in records), wall, cause)
        self._staged.setdefault(partition, _Staged()).entries[(kind, key)] = entry
        self.due.set(partition, (kind, key), state.next_due)

    async def _flush(self, partition: int) -> list[Ack]:
        """Send the status record of every entity staged in `partition` and write its entry;
        returns the acknowledgements of the events applied, to call once the broker has
        stored all of it."""
        staged = self._staged.pop(partition, None)
        if staged is None:
            return []
        statuses = [s for entry in staged.entries.values() for s in self._statuses(entry.state)]
        if statuses:
            await self.publish([], statuses)
        for (kind, key), entry in staged.entries.items():
            self.tables[kind][key] = entry.dump()
            self._cache.pop((kind, key), None)
            self._keep(kind, key, entry)
        for kind, key in staged.moved:
            self.tables[kind].pop(key, None)
            self._cache.pop((kind, key), None)
        return staged.acks

    def _statuses(self, state: EntityState) -> list[Record]:
        """The entity's status record: all its instances in one (fewer sends than one each)."""
        instances = self.engine.snapshot(state)
        if not instances:
            return []
        status = EntityStatus(kind=state.kind, entity_id=state.entity_id, instances=instances)
        return [(entity_key(state.kind, state.events[-1].customer, state.entity_id), codec.dumps(status))]

    async def _recover(self, partition: int) -> int:
        """At the first event or tick of a partition after a takeover: index it, and publish
        again what may have been lost before."""
        if partition not in self.due.indexed:
            self._index()
            self.due.indexed.add(partition)
        todo = self._takeover.pop(partition, None)
        return 0 if todo is None else await self._republish(partition, todo)

    def _index(self) -> None:
        """Rebuild the due index and the entries to recover from the tables, in one scan."""
        already = set(self.due.indexed)  # taken over earlier: recovered then, not again
        for kind, table in self.tables.items():
            for key, raw in table.items():
                entry = Entry.load(raw)
                self.due.set(entry.partition, (kind, key), entry.state.next_due)
                self.due.indexed.add(entry.partition)
                if entry.partition not in already:
                    self._takeover.setdefault(entry.partition, []).append((kind, key))

    async def _republish(self, partition: int, todo: list[tuple[str, bytes]]) -> int:
        """Publish again the outputs (and status rows) whose causes are not committed yet."""
        committed: dict[str, int] = {}

        async def stored(cause: Cause | None, at: int) -> bool:
            if cause is None:  # an entry from before causes were kept: trust the window alone
                return at < micros(self.wall()) - self.window_us
            source, offset = cause
            if source not in committed:
                committed[source] = await self.committed(source, partition)
            return offset < committed[source]

        records: list[Record] = []
        statuses: list[Record] = []
        for kind, key in todo:
            entry = self._get(partition, kind, key)
            if entry is None:
                continue
            records += [(k, v) for t, k, v, cause in entry.outbox if not await stored(cause, t)]
            if not await stored(entry.cause, entry.written):
                statuses += self._statuses(entry.state)  # the row first sent: a function of the state
        if records or statuses:
            await self.publish(records, statuses)
        return len(records)
