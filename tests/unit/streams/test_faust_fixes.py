"""The fixes to Faust's bookkeeping, against Faust's own classes."""

import asyncio
from types import SimpleNamespace

from faust.transport.producer import ProducerBuffer

from streams.faust_fixes import drain_changelog_writes_before_commits


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
