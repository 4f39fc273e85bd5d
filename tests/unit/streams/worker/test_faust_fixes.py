"""The fixes to Faust's bookkeeping, against Faust's own classes."""

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import faust
from aiokafka.consumer.fetcher import Fetcher, FetchResult
from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from intervaltree import IntervalTree

from streams.worker.faust_fixes import (FETCH_MAX_WAIT_MS, drain_changelog_writes_before_commits, never_commit_over_gaps,
                                        serve_partitions_in_turn, start_without_idle_waits)


def test_the_flush_before_a_commit_waits_for_every_table_write_however_slow_the_sends() -> None:
    """Faust's own flush returns once no message was sent for 0.1 s, writes still queued."""
    drain_changelog_writes_before_commits()
    sent: list[int] = []

    class SlowChannel:  # the Kafka client taking longer than 0.1 s per send (a busy machine)
        async def publish_message(self, fut: SimpleNamespace, wait: bool = False) -> None:
            await asyncio.sleep(0.15)
            sent.append(fut.n)

    async def run() -> None:
        buffer = ProducerBuffer()
        buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
        await buffer.start()
        for n in range(4):
            buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=SlowChannel())))  # type: ignore[arg-type]
        await buffer.flush()
        assert sent == [0, 1, 2, 3]
        await buffer.stop()

    asyncio.run(run())


def test_offsets_faust_never_delivered_are_never_committed_and_the_worker_stops() -> None:
    """A record from before a seek jumps the read position from 6 to 27; only 4..6 were
    processed and acknowledged, so the commit must stop at 7, not at 28, and the worker
    must stop so that a restart reads 7..26."""
    never_commit_over_gaps()
    tp = TP("probes", 2)
    crashes: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashes.append(reason)

    consumer = SimpleNamespace(_committed_offset={tp: 4}, _gap=defaultdict(IntervalTree),
                               _acked={tp: [4, 5, 6]}, _acked_index={tp: {4, 5, 6}},
                               app=SimpleNamespace(crash=crash))
    asyncio.run(Consumer._add_gap(consumer, tp, 7, 27))  # type: ignore[arg-type]
    assert Consumer._new_offset(consumer, tp) == 7  # type: ignore[arg-type]
    assert consumer._acked[tp] == []  # nothing of 7..27 counted as acknowledged
    assert len(crashes) == 1 and "records 7..26 were skipped" in str(crashes[0])


class _Records:
    """What aiokafka keeps of one fetched batch: records in offset order."""

    def __init__(self, first: int, n: int) -> None:
        self._offsets = iter(range(first, first + n))
        self.next_fetch_offset = first

    def __iter__(self) -> "_Records":
        return self

    def __next__(self) -> int:
        offset = next(self._offsets)
        self.next_fetch_offset = offset + 1
        return offset


def test_a_small_batch_behind_large_ones_is_served_within_one_round() -> None:
    """Two partitions with 1,000 buffered records each, then one tick: with 100 records a call
    the tick came at the 21st call (after both large batches); now at the third."""
    serve_partitions_in_turn()
    states: dict[TP, SimpleNamespace] = {}

    def batch(tp: TP, n: int) -> FetchResult:
        states[tp] = SimpleNamespace(paused=False, position=0, consumed_to=lambda o, tp=tp: setattr(states[tp], "position", o))
        assignment = SimpleNamespace(active=True, state_value=lambda tp: states[tp])
        return FetchResult(tp, assignment=assignment, partition_records=_Records(0, n), backoff=0)

    inputs, probes, tick = TP("tickets", 0), TP("probes", 0), TP("ticks", 0)
    fetcher = SimpleNamespace(_records={tp: batch(tp, n) for tp, n in ((inputs, 1000), (probes, 1000), (tick, 1))},
                              _subscriptions=SimpleNamespace(reassignment_in_progress=False, is_assigned=lambda tp: True),
                              _notify=lambda future: None, _wait_consume_future=None)

    async def calls_until_the_tick() -> int:
        for n in range(1, 30):
            if tick in await Fetcher.fetched_records(fetcher, {inputs, probes, tick}, timeout=0, max_records=100):
                return n
        return -1

    assert asyncio.run(calls_until_the_tick()) == 3


def test_a_worker_starts_without_the_table_managers_fixed_second_and_fetches_held_only_briefly() -> None:
    """Faust sleeps a second before registering tables and has the broker hold an idle fetch
    for 1.5 s, which the recovery's offset queries wait behind (at every start)."""
    start_without_idle_waits()
    slept: list[float] = []
    done: list[str] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def update_channels() -> None:
        done.append("channels")

    async def start() -> None:
        done.append("recovery")

    async def run() -> int:
        app = faust.App("fixes-test", broker="kafka://127.0.0.1:9")  # nothing connects: objects only
        tables = app.tables
        tables.sleep = sleep  # type: ignore[method-assign]
        tables._update_channels = update_channels  # type: ignore[method-assign]
        tables.recovery.start = start  # type: ignore[method-assign]
        await tables.on_start()
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        return consumer._fetch_max_wait_ms

    fetch_max_wait_ms = asyncio.run(run())
    assert slept == [] and done == ["channels", "recovery"]
    assert fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
