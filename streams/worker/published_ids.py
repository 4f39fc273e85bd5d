"""Ids already on the breach topic when this worker took its partitions.

A tracker writes an entity's state only once the broker has stored what it published, so a
worker killed between the two leaves outputs on the breach topic that its state does not
record. The next owner applies the events again and derives those outputs again, with the
same ids (one id per fact): before this, it sent them again, and after a kill in a large
catch-up flush that was up to a sixth of the breach records of a chaos run. So after every
assignment, before its first tick publishes, the worker reads the ids the breach topic got
in the last OUTPUT_DEDUPE_S (by record timestamp, at most MAX_IDS in all, newest kept) and
drops outputs it would send again with one of them, for as long again.

Dropping is always right: an id names one fact, and a record with it is on the topic. What
this does not catch are copies from a predecessor still alive at the rebalance whose sends
land after the read, and from one that died more than OUTPUT_DEDUPE_S before the takeover;
consumers still drop repeated ids (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from confluent_kafka import KafkaException

from streams.kafka_util import read_since
from streams.metrics import COPIES_DROPPED
from streams.settings import Settings
from streams.worker.types import Record

log = logging.getLogger(__name__)

MAX_IDS = 200_000  # about 20 MiB of ids; beyond it the oldest records of the window are not read
READ_FOR_S = 30.0  # a read not done by then (the broker away) keeps what it has: copies, never a loss


def event_id_of(record: bytes) -> bytes | None:
    """The `event_id` of a breach-topic record, read from its JSON without parsing it (the
    records are flat objects whose string values escape their quotes, so the first
    `"event_id":"` is the key's); None for a record without one."""
    start = record.find(b'"event_id":"') + 12
    if start < 12:
        return None
    end = record.find(b'"', start)
    return record[start:end] if end > 0 else None


class PublishedIds:
    """The breach topic's recent ids, read again after each assignment (`stale`, then `ready`)."""

    def __init__(self, settings: Settings, read: Callable[[int], frozenset[bytes]] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        """`read(since_ms)`: the ids of the records since then (by default the breach topic's)."""
        self._topic = settings.topic_breaches
        self._window_s = settings.output_dedupe_s
        self._read = read or (lambda since_ms: frozenset(
            i for i in map(event_id_of, read_since(settings, self._topic, since_ms, MAX_IDS, READ_FOR_S))
            if i is not None))
        self._monotonic, self._wall = monotonic, wall
        self._ids: frozenset[bytes] = frozenset()
        self._until = 0.0  # monotonic time after which the ids are dropped
        self._loaded = False
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="published-ids")

    def stale(self) -> None:
        """Partitions were revoked: read the topic again before the next publish (`ready`)."""
        self._loaded = False

    async def ready(self) -> None:
        """Read the topic's recent ids if an assignment came since the last read (on a thread)."""
        if self._loaded or self._window_s <= 0:
            return
        async with self._lock:
            if self._loaded:
                return
            started = self._monotonic()
            since_ms = int((self._wall() - self._window_s) * 1000)
            try:
                ids = await asyncio.get_running_loop().run_in_executor(self._executor, self._read, since_ms)
            except KafkaException as exc:  # the broker away for READ_FOR_S: copies, never a loss
                log.warning("could not read %s's recent ids (%s); outputs are sent as they are", self._topic, exc)
                ids = frozenset()
            self._ids, self._until, self._loaded = ids, self._monotonic() + self._window_s, True
            log.info("read %d ids of the last %.0f s from %s in %.2f s (outputs with them are not sent again)",
                     len(ids), self._window_s, self._topic, self._monotonic() - started)

    def fresh(self, records: Sequence[Record]) -> Sequence[Record]:
        """`records` without those whose id was on the topic at the last read."""
        if not self._ids or not records:
            return records
        if self._monotonic() > self._until:
            self._ids = frozenset()  # long enough: what a takeover applies again is applied by now
            return records
        ids = self._ids
        kept = [r for r in records if event_id_of(r[1]) not in ids]
        if len(kept) < len(records):
            COPIES_DROPPED.inc(len(records) - len(kept))
            log.info("%d of %d records for %s were on it already: not sent again", len(records) - len(kept),
                     len(records), self._topic)
        return kept
