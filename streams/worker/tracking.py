"""Live SLA tracking: the thin layer between Faust (tables, ticks) and the pure engine.

Changes are staged and written in batches: an event's lifecycle outputs, its entity's
table entry and status record wait for the partition's next tick (tables can be written
only inside Faust's stream iteration, and the event feed runs beside it), which publishes
the outputs and writes each changed entity once (five updates of a ticket within a tick:
one table write, one status record) and only then acknowledges the events.

An entry is written only once the broker has stored every output published before it
(lifecycle events and status rows), as the probe tracker does: state in the table (its
changelog, or a restarted worker's local store) always means its outputs are on their
topics. A crash before the write loses nothing and repeats little: the events are not
acknowledged, so they are read and applied again on the old state, and publish again only
the outputs in flight at the crash (same event ids; consumers drop the copies). Before,
entries were written first and a new owner published again every output whose input was
not yet committed, which in a backlog was most of them (59-146 % copies in chaos runs).

A tick's change by time alone (a warning or breach due, no event) writes no entry: the
tick writes the partition's fired-through time (`fired_key`), and an entry read from the
table takes the facts due by then into its state again without publishing them (the
engine derives the same facts, versions and ids). Most of a paced load's changes are by
time, and the entry's JSON, its store and changelog writes were a sixth of the worker's time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Awaitable, Callable, Sequence

import orjson

from schemas import codec
from schemas.compact import dumps_kept
from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import Lifecycle, LifecycleType, entity_key
from streams.engine.clocks import ClockEngine, EntityState, published_until
from streams.engine.instants import instant, micros
from streams.engine.state_codec import state_from_json, state_to_json
from streams.metrics import DEADLINE_DELAY
from streams.worker.due_index import DueIndex
from streams.worker.ownership import Ownership
from streams.worker.types import Ack, Record, Table

Publish = Callable[[Sequence[Record], Sequence[Record]], Awaitable[None]]  # breaches, statuses; does not wait
Stored = Callable[[], Awaitable[None]]  # returns once the broker has stored everything published
Read = Callable[[str, int, bytes], "bytes | None"]  # kind, partition, key -> the table value
Write = Callable[[str, int, bytes, "bytes | None"], None]  # kind, partition, key, value (None: remove the key)


# A tick advances at most this many entities of a kind on its partition, the earliest due first,
# and asks for the next tick at once when more are due (`behind`): after an outage the clock
# jumps and thousands may be due at once; bounded, one tick holds the loop for about a seventh
# of a second (bench/ticks.py), and a worker killed meanwhile has little in flight. Not less:
# under a steady paced load a smaller bound leaves deadlines for a tick that comes round the
# broker and the loop (500: p99 above 1 s in three of four runs at 3,900 events/s; seventeenth
# round in docs/architecture.md).
FIRE_AT_MOST = 1500
_DUE = (LifecycleType.warning, LifecycleType.breached)  # facts that fire at an instant, not at an event
_FIRED = b'["fired",'


def _raise_if_failed(task: asyncio.Future[None]) -> None:
    """Raise what a finished task raised (a cancelled one: nothing, it was stopped with the worker)."""
    error = None if task.cancelled() else task.exception()
    if error is not None:
        raise error


def _write_to(tables: dict[str, Table]) -> Write:
    """`SlaTracker`'s default write: to the table of the kind, whatever the partition."""
    def write(kind: str, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            tables[kind].pop(key, None)
        else:
            tables[kind][key] = value
    return write


def fired_key(partition: int) -> bytes:
    """The table key of a partition's fired-through time: until when its ticks have published
    (and the broker stored) every warning and breach due. Entity keys are JSON arrays of three."""
    return dumps_kept(["fired", partition])


@dataclass(frozen=True)
class Entry:
    """A table value: the entity's partition (for re-indexing) and state; in memory also its
    status rows last published, by instance id (`ClockEngine.status_json`'s `reuse`)."""

    partition: int
    state: EntityState
    rows: dict[str, tuple[int, bytes]] = field(default_factory=dict, compare=False, repr=False)

    def dump(self) -> bytes:
        return dumps_kept([self.partition, state_to_json(self.state)])

    @classmethod
    def load(cls, data: bytes) -> "Entry":
        # Entries written before 2026-12-05 also hold an outbox and its causes: not needed now.
        partition, state, *_ = orjson.loads(data)
        return cls(partition, state_from_json(state))


@dataclass
class _Staged:
    """A partition's changes since its last tick: entries to write and the acknowledgements
    of the events applied."""

    outputs: list[Record] = field(default_factory=list)  # lifecycle events, in the order they came
    due: list[datetime] = field(default_factory=list)  # the instants of the warnings and breaches among them
    entries: dict[tuple[str, bytes], Entry] = field(default_factory=dict)
    timed: set[tuple[str, bytes]] = field(default_factory=set)  # entries changed by time alone: not written
    fired: dict[str, int] = field(default_factory=dict)  # kind -> the tick's time (µs) that changed them
    acks: list[Ack] = field(default_factory=list)
    moved: list[tuple[str, bytes]] = field(default_factory=list)  # legacy keys whose entries moved (`_legacy`)


class SlaTracker:
    """Keeps SLA instance state in tables (one per kind) and fires due deadlines on ticks."""

    def __init__(
        self, engine: ClockEngine, tables: dict[str, Table], publish: Publish,
        wall: Callable[[], datetime], cached: int = 65_536, *, stored: Stored, read: Read | None = None,
        write: Write | None = None, fire_at_most: int = FIRE_AT_MOST,
    ) -> None:
        """`cached`: entries kept parsed (ENTRY_CACHE). `read` and `write`: how an entry is read
        from and written to (or, given None, removed from) the table of its kind, given the
        partition of its records; by default `tables[kind].get(key)` and `tables[kind][key] =
        value`. The worker's write needs no stream event (`DirectTable.put_in`): with
        `on_tick(wait=False)` entries are written after the tick. `fire_at_most`:
        entities of a kind one tick advances on a partition (FIRE_AT_MOST)."""
        self.fire_at_most = fire_at_most
        self._behind: set[int] = set()  # partitions whose last tick left entities due
        self.engine = engine
        self.tables = tables
        self._read = read or (lambda kind, partition, key: tables[kind].get(key))
        self._put = write or _write_to(tables)
        self.publish = publish
        self.stored = stored
        self.wall = wall
        self.due = DueIndex()
        # The ingest and tick agents interleave at every await (a publish); an entry read by one
        # must not be written over by the other's older copy. One lock per partition serialises them.
        self._locks: dict[int, asyncio.Lock] = {}
        # The entries last read or written, parsed (most recently used last): an entity's next
        # event usually comes soon, and parsing its table value was a tenth of the worker's time.
        # Only this process writes the partitions it owns; a revoke empties it (forget). `cached`
        # entries (ENTRY_CACHE; about 4 kB each in RSS): a miss reads, parses and catches up the
        # entry. Since the engine's state is invisible to the collector a larger cache no longer
        # costs collections (sixteenth round).
        # An OrderedDict: a plain dict's oldest key is found by scanning past the slots of keys
        # deleted before it, and evicting that way was 3 % of a paced worker's loop.
        self._cache: OrderedDict[tuple[str, bytes], Entry] = OrderedDict()
        self._cached = cached
        self._staged: dict[int, _Staged] = {}
        # A tick's entries while the broker stores their outputs, before they are written.
        self._writing: dict[int, _Staged] = {}
        self._flushes: dict[int, asyncio.Lock] = {}  # one flush of a partition at a time
        self._tails: dict[int, asyncio.Future[None]] = {}  # writes waiting for the broker (`on_tick(wait=False)`)
        self._ownership = Ownership()
        self._legacy_keys = False  # whether the last scan of the tables met an entry keyed by a bare id
        # (kind, partition) -> until when (µs) the partition's ticks have published every fact
        # due, though they wrote no entry for it (`fired_key`).
        self._fired: dict[tuple[str, int], int] = {}

    async def on_event(
        self, event: TicketEvent | IncidentEvent, partition: int, offset: int, now: datetime, ack: Ack,
    ) -> int:
        """Apply an event read at `offset`; returns how many lifecycle events were published.

        `ack` is kept and called by the partition's next tick, once the entity's entry is
        written. If this raises, the event was not applied and `ack` is not kept.
        """
        async with self._lock(partition):
            self._index(partition)
            key = entity_key(event.kind, event.customer, event.entity_id)
            old = self._get(partition, event.kind, key) or self._legacy(partition, event)
            now = self._not_before(event.kind, partition, now, old.state if old else None)
            new, outputs = self.engine.apply(old.state if old else None, event, now)
            changed = old is None or new != old.state  # else a duplicate: nothing changed, nothing to say
            if changed:
                self._stage(event.kind, key, partition, Entry(partition, new, old.rows if old else {}), outputs)
            self._staging(partition).acks.append(ack)
        return len(outputs) if changed else 0

    def behind(self, partition: int) -> bool:
        """Whether the partition's last tick left entities due (at most `fire_at_most` a tick)."""
        return partition in self._behind

    def staged(self, partition: int) -> int:
        """Events applied on `partition` since its last flush (what its next tick writes)."""
        staged = self._staged.get(partition)
        return 0 if staged is None else len(staged.acks)

    async def on_tick(self, partition: int, clock: Callable[[str], datetime | None], wait: bool = True) -> int:
        """Advance every entity of `partition` whose next deadline has passed, publish what
        changed since the last flush, then (once the broker has stored it) write the entries
        and acknowledge their events. `clock(kind)` is the time of that kind's input
        partition, None while it must hold (see partition_clock.py).

        `wait=False` returns once published: the write waits for the broker in a task of its
        own, so that the ticks of other partitions need not (the worker's tick agent). The
        partition's next flush waits for it first, and a failure of it is raised by the next
        tick of any partition."""
        self._raise_failed()
        async with self._lock(partition):
            self._index(partition)
            published = await self._tick(partition, clock)
        await self._flush(partition, wait)
        return published

    async def _flush(self, partition: int, wait: bool) -> None:
        """Publish the lifecycle events and status records of the partition's staged changes,
        then write the entries once the broker has stored them (`_settle`). One flush of a
        partition at a time, so entries are written in the order they were staged."""
        async with self._flush_lock(partition):
            tail = self._tails.pop(partition, None)
            if tail is not None:  # the partition's last flush (usually done long since)
                await asyncio.wait([tail])
                _raise_if_failed(tail)
            async with self._lock(partition):
                staged = self._staged.pop(partition, None)
                if staged is None:
                    return
                self._writing[partition] = staged  # read by events applied meanwhile
                statuses = [s for entry in staged.entries.values() for s in self._statuses(entry)]
                if staged.outputs or statuses:
                    await self.publish(staged.outputs, statuses)
                wall = self.wall()
                for at in staged.due:
                    DEADLINE_DELAY.observe(max((wall - at).total_seconds(), 0.0))
            # Marked now, not when the task starts: a revoke in between must stop the write too.
            settle = self._settle(partition, staged, self._ownership.mark())
            if wait:
                await settle
            else:
                self._tails[partition] = asyncio.ensure_future(settle)

    async def _settle(self, partition: int, staged: _Staged, mark: int) -> None:
        """Once the broker has stored every output and status row published so far, write the
        staged entries and acknowledge their events (the feed's commit waits for the entries);
        nothing if a partition was revoked since `mark` (`Ownership.mark`)."""
        # Outside the entity lock: the partition's next events are applied while the broker
        # stores (one wait per tick held the event reading about a tenth of the time).
        await self.stored()
        if not self._ownership.kept_since(mark):
            return  # revoked meanwhile: the new owner applies the events again
        self._write(partition, staged)
        # The event feed commits acknowledged records only once the broker has stored
        # everything sent before (these entries too): no wait here.
        for ack in staged.acks:
            await ack()

    def _raise_failed(self) -> None:
        """Raise the failure of a write that waited on its own (`on_tick(wait=False)`)."""
        for partition, tail in list(self._tails.items()):
            if tail.done():
                del self._tails[partition]
                _raise_if_failed(tail)

    def _staging(self, partition: int) -> _Staged:
        staged = self._staged.get(partition)
        if staged is None:
            staged = self._staged[partition] = _Staged()
        return staged

    def _lock(self, partition: int) -> asyncio.Lock:
        return self._locks.setdefault(partition, asyncio.Lock())

    def _flush_lock(self, partition: int) -> asyncio.Lock:
        return self._flushes.setdefault(partition, asyncio.Lock())

    async def _tick(self, partition: int, clock: Callable[[str], datetime | None]) -> int:
        """Advance the partition's due entities to each kind's clock, the earliest due first and
        at most `fire_at_most` of each kind; the rest stay due for the next tick."""
        self._behind.discard(partition)
        published = 0
        for source in self.tables:
            now = clock(source)
            if now is None:
                continue
            at = micros(self._not_before(source, partition, now))
            due = self.due.pop_due(partition, source, at, self.fire_at_most)
            # Until when every fact due is fired: `at`, or just before the first entity left due.
            left = self.due.first_due(partition, source)
            through = at if left is None or left > at else left - 1
            if through < at:
                self._behind.add(partition)
            for kind, key in due:
                old = self._get(partition, kind, key)
                if old is None:
                    continue
                new, outputs = self.engine.advance_us(old.state, at)
                if outputs:
                    self._stage(kind, key, partition, Entry(partition, new, old.rows), outputs, by_time=True)
                    self._staging(partition).fired[kind] = through
                    published += len(outputs)
                else:
                    self.due.set(partition, (kind, key), new.due)
        return published

    def forget(self) -> None:
        """Partitions were revoked: rebuild the index on the next touch; changes not written
        are dropped (their events are not acknowledged: read and applied again)."""
        self.due.clear()
        self._cache.clear()
        self._staged.clear()
        self._writing.clear()
        self._fired.clear()
        self._behind.clear()
        self._ownership.revoked()
        self._legacy_keys = False  # the next scan says again

    def _get(self, partition: int, kind: str, key: bytes) -> Entry | None:
        for pending in (self._staged.get(partition), self._writing.get(partition)):
            if pending is not None and (kind, key) in pending.entries:
                return pending.entries[(kind, key)]
        entry = self._cache.get((kind, key))
        if entry is not None:
            self._cache.move_to_end((kind, key))  # the most recently used
            return entry
        raw = self._read(kind, partition, key)
        if not raw:
            return None
        entry = self._caught_up(kind, Entry.load(raw))
        self._keep(kind, key, entry)
        return entry

    def _not_before(self, kind: str, partition: int, now: datetime, state: EntityState | None = None) -> datetime:
        """`now`, or when later the partition's fired-through time or the latest fact `state`
        published: a new owner whose clock holds behind what the last owner published (a
        backlog after a takeover) would otherwise take those facts back as not yet due, and
        publish them again later under new ids."""
        at = micros(now)
        latest = max(at, self._fired.get((kind, partition), at))
        if state is not None:
            latest = max(latest, published_until(state) or at)
        return now if latest == at else instant(latest)

    def _caught_up(self, kind: str, entry: Entry) -> Entry:
        """An entry read from the table with the facts its partition's ticks published since
        it was written (`fired_key`) taken into its state again, publishing nothing: they are
        the facts `advance` finds due by then, with the same versions and ids. Only when one
        is due by then: an entry written after that time (at a later event) holds them, and
        advancing it to an earlier time would take back facts published after it."""
        through = self._fired.get((kind, entry.partition))
        due = entry.state.due
        if through is None or due is None or due > through:
            return entry
        state, _ = self.engine.advance_us(entry.state, through)
        return Entry(entry.partition, state)

    def _legacy(self, partition: int, event: TicketEvent | IncidentEvent) -> Entry | None:
        """The entry of an entity written before ids were scoped by customer (keyed by its
        bare id), when it belongs to the event's customer: it moves to the scoped key at the
        partition's next tick. Another customer's entry stays where it is, untouched. Looked
        up only while the tables hold such entries: a read per new entity otherwise."""
        if not self._legacy_keys:
            return None
        key = event.entity_id.encode()
        entry = self._get(partition, event.kind, key)
        if entry is None or entry.state.events[-1].customer != event.customer:
            return None
        self.due.set(partition, (event.kind, key), None)  # no tick advances the old copy meanwhile
        self._staging(partition).moved.append((event.kind, key))
        return entry

    def _keep(self, kind: str, key: bytes, entry: Entry) -> None:
        """Cache `entry` as the most recently used (a move, not a pop and insert: a quarter of the time)."""
        self._cache[(kind, key)] = entry
        self._cache.move_to_end((kind, key))
        if len(self._cache) > self._cached:
            self._cache.popitem(last=False)  # the least recently used

    def _stage(self, kind: str, key: bytes, partition: int, entry: Entry, outputs: Sequence[Lifecycle],
               by_time: bool = False) -> None:
        """Stage the entity's new entry and its lifecycle outputs for the next flush; `by_time`:
        changed by a tick alone (written only with the entity's next event's change)."""
        staged = self._staging(partition)
        staged.outputs += [(o.instance_id.encode(), codec.dumps(o)) for o in outputs]
        staged.due += [o.at for o in outputs if o.type in _DUE]
        if not by_time:
            staged.timed.discard((kind, key))
        elif (kind, key) not in staged.entries:
            staged.timed.add((kind, key))
        staged.entries[(kind, key)] = entry
        self.due.set(partition, (kind, key), entry.state.due)

    def _write(self, partition: int, staged: _Staged) -> None:
        """Write a tick's entries to the tables (their outputs are stored)."""
        del self._writing[partition]
        for (kind, key), entry in staged.entries.items():
            if (kind, key) not in staged.timed:
                self._put(kind, partition, key, entry.dump())
            self._keep(kind, key, entry)  # a newer change staged since is read first (`_get`)
        for kind, key in staged.moved:
            self._put(kind, partition, key, None)
            self._cache.pop((kind, key), None)
        for kind, through in staged.fired.items():
            self._put(kind, partition, fired_key(partition), dumps_kept(through))
            self._fired[(kind, partition)] = through

    def _statuses(self, entry: Entry) -> list[Record]:
        """The entity's status record: all its instances in one (fewer sends than one each)."""
        state = entry.state
        record = self.engine.status_json(state, entry.rows)
        if record is None:
            return []
        return [(entity_key(state.kind, state.events[-1].customer, state.entity_id), record)]

    def _index(self, partition: int) -> None:
        """At the first event or tick of a partition after a takeover: index the due deadlines
        of every partition not indexed yet, in one scan of the tables."""
        if partition in self.due.indexed:
            return
        already = set(self.due.indexed)
        for kind, table in self.tables.items():
            for key, raw in table.items():
                if key.startswith(_FIRED):
                    fired_at = orjson.loads(key)[1]
                    if fired_at not in already:
                        self._fired[(kind, fired_at)] = orjson.loads(raw)
                    continue
                entry = Entry.load(raw)
                self._legacy_keys |= not key.startswith(b'["')  # entity_key's keys are JSON arrays
                if entry.partition not in already:
                    self.due.set(entry.partition, (kind, key), entry.state.due)
                    self.due.indexed.add(entry.partition)
        self.due.indexed.add(partition)
