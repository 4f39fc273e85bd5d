"""The fixes to Faust's bookkeeping, against Faust's own classes."""

import asyncio
from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from intervaltree import IntervalTree

from streams.worker.faust_fixes import drain_changelog_writes_before_commits, never_commit_over_gaps


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
