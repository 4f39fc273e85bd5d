"""Where faust-streaming's own bookkeeping loses, blocks or holds up data, and what the worker does about it.

Each reaches into Faust's or aiokafka's internals (both are pinned in pyproject.toml) and is
covered by a test that fails without it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka.consumer.fetcher import Fetcher
from faust.tables.manager import TableManager
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types.tuples import FutureMessage


log = logging.getLogger(__name__)


class SkippedRecords(RuntimeError):
    """Faust delivered a record past offsets of the partition it never delivered."""


def never_commit_over_gaps() -> None:
    """Stop Faust from acknowledging offsets it never delivered, and stop the worker instead.

    When a fetched record's offset jumps past the last one read, Faust records the offsets
    in between as a "gap" and counts them acknowledged at the next commit (meant for
    compacted topics and transaction markers, which our inputs never have). A record from a
    fetch made before a seek can jump that way: the chaos suite saw a probe partition
    committed 27 offsets ahead of what was counted, losing a minute and part of another.
    The skipped records cannot be read again in this process (Faust drops records below its
    read position), and commits could never pass them, so the worker stops: a restart
    resumes from the committed offset (a second worker leaving once left one stalled for
    good with only the jump logged).
    """
    if getattr(Consumer, "_slastream_no_gaps", False):
        return

    async def add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        problem = (f"{tp.topic}[{tp.partition}]: records {offset_from}..{offset_to - 1} were skipped by the "
                   "fetcher; stopping the worker so that it resumes from the committed offset")
        log.error("%s", problem)
        await self.app.crash(SkippedRecords(problem))

    Consumer._add_gap = add_gap  # type: ignore[method-assign]
    Consumer._slastream_no_gaps = True  # type: ignore[attr-defined]


MAX_POLL_RECORDS = 500  # records one fetch call hands to Faust (Faust's default: every record buffered)


def serve_partitions_in_turn() -> None:
    """Make each fetch call start with the partitions served least recently.

    aiokafka keeps one fetched batch per partition (up to 1 MB) and does not fetch that
    partition again until the batch is drained. A call with a record limit drains the first
    batches in its order and leaves a batch it took only part of in front, so a partition
    behind large ones (a tick partition behind a backlog of input) waited until every batch
    ahead was drained: on a busy machine longer than STALL_S, and the stall check stopped the
    worker (`<app>-ticks[2]: nothing delivered for 20 s past offset 8 ... aiokafka position 9,
    highwater 10` in the chaos suite: its next batch had been fetched 25 s before). Moving
    each partition served to the back lets every partition with records come within one
    round of MAX_POLL_RECORDS per partition, and ticks keep firing deadlines in a backlog.
    """
    if getattr(Fetcher, "_slastream_in_turn", False):
        return
    fetched_records = Fetcher.fetched_records

    async def in_turn(self: Any, partitions: Any, timeout: float = 0, max_records: int | None = None) -> Any:
        drained = await fetched_records(self, partitions, timeout=timeout, max_records=max_records)
        for tp in drained:
            if tp in self._records:  # a batch taken only in part waits behind the others
                self._records[tp] = self._records.pop(tp)
        return drained

    Fetcher.fetched_records = in_turn  # type: ignore[method-assign]
    Fetcher._slastream_in_turn = True  # type: ignore[attr-defined]


def drain_changelog_writes_before_commits() -> None:
    """Make Faust's producer buffer flush wait for every message put into it.

    Table writes (our state: SLA entries, probe entries) reach Kafka through this buffer,
    and Faust flushes it before each offset commit. But its flush gives up as soon as no
    message was sent for 0.1 s, which on a busy machine happens with writes still queued:
    the input offsets were then committed while the state they produced existed only in
    memory, and a crash lost it (seen in the chaos suite: a probe minute closed again with
    the results after the commit only, overwriting its full count; SLA facts missing).
    """
    if getattr(ProducerBuffer, "_slastream_draining", False):
        return
    put, send_pending = ProducerBuffer.put, ProducerBuffer._send_pending

    def counted_put(self: Any, fut: FutureMessage) -> None:
        self._slastream_put = getattr(self, "_slastream_put", 0) + 1
        put(self, fut)

    async def counted_send(self: Any, fut: FutureMessage) -> None:
        try:
            await send_pending(self, fut)
        finally:
            self._slastream_sent = getattr(self, "_slastream_sent", 0) + 1

    async def flush(self: Any) -> None:
        """Until every message put was handed to the Kafka client (whose flush follows)."""
        while getattr(self, "_slastream_sent", 0) < getattr(self, "_slastream_put", 0):
            if self.state != "running":
                raise RuntimeError("Cannot flush: Producer not Running")  # as Faust's own
            await asyncio.sleep(0.005)

    ProducerBuffer.put = counted_put  # type: ignore[method-assign]
    ProducerBuffer._send_pending = counted_send  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]
    ProducerBuffer._slastream_draining = True  # type: ignore[attr-defined]


FETCH_MAX_WAIT_MS = 200  # how long the broker may hold a fetch with nothing to return (Faust: 1,500)


def start_without_idle_waits() -> None:
    """Take two waits out of a worker's start (about 4 of its 6 seconds to ready, in
    bench/tickets.py's burst; the bare Faust agent it is compared with has no tables):

    - Faust's table manager sleeps a fixed second before it registers the tables; the
      worker defines every table before it starts, so there is nothing to wait for.
    - Faust's consumer asks the broker to hold a fetch up to 1.5 s while there is nothing
      to read, and the recovery's offset queries (highwaters, earliest offsets) go out on
      the same connection behind it: 1.5 s each at every start and rebalance. Held up to
      FETCH_MAX_WAIT_MS instead; records that arrive end the wait either way, so only an
      idle consumer asks more often (five times a second).
    """
    if getattr(TableManager, "_slastream_prompt", False):
        return
    create = AIOKafkaConsumerThread._create_worker_consumer

    async def on_start(self: Any) -> None:
        if not self.should_stop:  # Faust's own, without its `await self.sleep(1.0)` first
            await self._update_channels()
            await self.recovery.start()

    def worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
        return consumer

    TableManager.on_start = on_start  # type: ignore[method-assign]
    AIOKafkaConsumerThread._create_worker_consumer = worker_consumer  # type: ignore[method-assign]
    TableManager._slastream_prompt = True  # type: ignore[attr-defined]
