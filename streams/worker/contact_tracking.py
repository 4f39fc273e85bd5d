"""Live contact service levels: the thin layer between the contact feed, Faust (tables, ticks)
and the pure core (streams/engine/contacts.py).

Contacts are counted in memory, in their partition's slots; each tick publishes the
intervals the watermark has passed and their objective facts, waits until the broker has
stored them, then writes the series and slots that changed to the table (one entry each,
series first: see `on_tick`; a slot holds its contacts' ids, so a contact read again after a
crash is recognised as counted) and deletes those forgotten. A commit may pass a contact
only once its interval is published and written (`held`), as for probe results and their
minutes: a crash before loses nothing, the contact is read again and counted (or found
counted) in the old entries, and the outputs it causes are the same (same interval versions,
same alert ids; consumers keep one copy per key or id); and once a partition's contacts are
committed, their intervals are on the topic.

Each tick that writes also writes, last, the partition's mark: the offset through which
every record read was counted in the entries or dead-lettered (its letter stored). A record
read again at or before the mark whose interval is no longer kept was counted before its
interval was forgotten (or was refused then): it is skipped, not dead-lettered a second time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Sequence

import orjson

from schemas import codec
from schemas.compact import dumps_kept
from schemas.events import ContactEvent
from schemas.policy import Policy
from streams.engine.contacts import (Added, ContactIntervals, SeriesKey, SlotKey, dump_series, dump_slot, interval_of,
                                     load_series, load_slot)
from streams.engine.instants import micros
from streams.metrics import CONTACT_INTERVALS
from streams.worker.ownership import Ownership
from streams.worker.types import Record, Table

Publish = Callable[[Sequence[Record], Sequence[Record]], Awaitable[None]]  # intervals, alerts
Stored = Callable[[], Awaitable[None]]  # returns once the broker has stored everything published


@dataclass
class _Partition:
    """One owned partition: its engine, and per slot not yet published and written since a
    contact came for it, the first such contact (offset, monotonic time read)."""

    engine: ContactIntervals
    pending: dict[SlotKey, tuple[int, float]] = field(default_factory=dict)
    read: int = -1  # the highest offset read
    marked: int = -1  # at takeover, the mark written last (see the module's docstring)
    late: bool = False  # a late contact's letter was sent since the last wait for the broker


def slot_key(key: SlotKey) -> bytes:
    return dumps_kept(["slot", *key])


def series_key(key: SeriesKey) -> bytes:
    return dumps_kept(["series", *key])


def mark_key(partition: int) -> bytes:
    return dumps_kept(["mark", partition])


class ContactTracker:
    """Contact intervals and objective facts of the owned partitions."""

    def __init__(self, policy: Policy, table: Table, publish: Publish, wall: Callable[[], datetime],
                 lateness: timedelta, idle: timedelta, keep: timedelta, *, stored: Stored) -> None:
        self.policy = policy
        self.table = table
        self.publish = publish
        self.stored = stored
        self.wall = wall
        self.lateness, self.idle, self.keep = lateness, idle, keep
        self._parts: dict[int, _Partition] = {}
        self._ownership = Ownership()

    def on_contact(self, contact: ContactEvent, partition: int, offset: int, appended: datetime | None = None) -> Added:
        """Count a contact read at `offset` (held until its interval is published and written)."""
        part = self._partition(partition)
        outcome = part.engine.add(contact, self.wall(), appended)
        if outcome == "counted":
            part.pending.setdefault((contact.customer, contact.queue, interval_of(contact.queued_at)),
                                    (offset, time.monotonic()))
        part.read = max(part.read, offset)
        if outcome == "late":
            if offset <= part.marked:
                return "duplicate"  # read before a takeover, and counted (or refused) then
            part.late = True
        return outcome

    def on_rejected(self, partition: int) -> None:
        """A record of the partition was refused; it still moves the idle clock."""
        self._partition(partition).engine.seen(self.wall())

    def held(self, partition: int) -> tuple[int, float] | None:
        """The first offset counted whose interval is not yet published and written, and when
        it was read; None: nothing held."""
        part = self._parts.get(partition)
        return min(part.pending.values()) if part is not None and part.pending else None

    async def on_tick(self, partition: int, caught_up: bool) -> int:
        """Publish what closed, then write what changed; returns how many records were published."""
        part = self._partition(partition)
        intervals, alerts = part.engine.close(self.wall(), caught_up)
        slots, series, dropped, gone = part.engine.unsaved()
        if not (slots or series or dropped or gone):
            return 0
        read = part.read  # the mark: every record through it is in these entries or dead-lettered
        if intervals or alerts:
            CONTACT_INTERVALS.inc(len(intervals))
            await self.publish([(i.queue.encode(), codec.dumps(i)) for i in intervals],
                               [(f"contact:{a.contract_id}:{a.queue}".encode(), codec.dumps(a)) for a in alerts])
        if intervals or alerts or part.late:  # a late contact's letter is stored before the mark passes it
            part.late = False
            if not await self._ownership.kept_through(self.stored):
                return 0  # revoked meanwhile: the new owner counts the contacts again from the commits
        # Dumped now, not before the wait: contacts counted meanwhile are in the entries too (as
        # counted, and not yet published), so they are never counted again after a crash.
        # Series before slots: a crash between the writes leaves a prefix of them, and a slot
        # written as published (not dirty) is never judged again, so its judgement must already
        # be in its series; a slot still dirty is closed and judged again (same facts, same ids).
        until = part.engine.closed_until
        for skey, kept in series.items():
            self.table[series_key(skey)] = dumps_kept({"p": partition, "until": until, **dump_series(kept)})
        for key, slot in slots.items():
            self.table[slot_key(key)] = dumps_kept({"p": partition, "until": until, **dump_slot(slot)})
        for key in dropped:
            self.table.pop(slot_key(key), None)
        for skey in gone:
            self.table.pop(series_key(skey), None)
        self.table[mark_key(partition)] = dumps_kept({"p": partition, "until": until, "read": read})  # last
        for key in [*((i.customer, i.queue, micros(i.interval_start)) for i in intervals), *dropped]:
            now = part.engine.slots.get(key)
            if now is None or not now.dirty:  # else contacts came meanwhile: it waits for the next publication
                part.pending.pop(key, None)
        return len(intervals) + len(alerts)

    def forget(self) -> None:
        """Partitions were revoked: drop them (what was not written is read again)."""
        self._parts.clear()
        self._ownership.revoked()

    def _partition(self, partition: int) -> _Partition:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = self._take_over(partition)
        return part

    def _take_over(self, partition: int) -> _Partition:
        """Rebuild a partition's engine from the table."""
        engine = ContactIntervals(self.policy, self.lateness, self.idle, self.keep)
        slots, series, until, marked = [], [], None, -1
        for raw_key, raw in self.table.items():
            entry = orjson.loads(raw)
            if entry["p"] != partition:
                continue
            what, *key = orjson.loads(raw_key)
            if what == "slot":
                slots.append(((key[0], key[1], key[2]), load_slot(entry)))
            elif what == "series":
                series.append(((key[0], key[1], key[2], key[3], key[4]), load_series(entry)))
            else:
                marked = entry["read"]
            if entry["until"] is not None and (until is None or entry["until"] > until):
                until = entry["until"]
        engine.restore(slots, series, until, self.wall())
        return _Partition(engine, read=marked, marked=marked)
