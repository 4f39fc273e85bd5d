"""What a feed commits (feed.py), without Kafka: a fake consumer records the commits."""

from __future__ import annotations

import asyncio

from streams.worker.feed import Feed, Held

TP = ("sla.tickets", 0)


class Consumer:
    def __init__(self) -> None:
        self.commits: list[list[tuple[str, int, int]]] = []

    def commit(self, offsets, asynchronous: bool) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


class Outputs:
    async def stored(self) -> None:
        pass


class Counter:
    def inc(self, amount: int) -> None:
        pass


def test_a_position_is_committed_when_it_moves_and_again_now_and_then_in_case_a_commit_was_lost() -> None:
    feed = Feed.__new__(Feed)  # the parts `commit` uses, without librdkafka clients
    feed.held, feed._generation = {TP: Held(100)}, 0
    feed._consumer, feed.outputs, feed._acked = Consumer(), Outputs(), {TP[0]: Counter()}
    feed.held[TP].next_read = 120
    asyncio.run(feed.commit())
    asyncio.run(feed.commit())  # nothing moved
    assert feed._consumer.commits == [[("sla.tickets", 0, 120)]]
    asyncio.run(feed.commit(again=True))  # the first may have been lost with a broker stop: no word comes back
    assert feed._consumer.commits == [[("sla.tickets", 0, 120)]] * 2
