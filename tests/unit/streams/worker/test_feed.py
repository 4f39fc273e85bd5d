"""A feed's answer to librdkafka fetching nothing after a broker restart (feed.py), without
Kafka: a fake consumer records assignments, a fake broker says where partitions end, and
an injected monotonic clock."""

from __future__ import annotations

import asyncio

import pytest

from streams.worker import feed as feed_module
from streams.worker.feed import STALLED_AFTER_S, Feed, Held
from streams.worker.stall import StalledPartition

TP = ("sla.tickets", 0)


class Consumer:
    def __init__(self) -> None:
        self.assigned: list[list[tuple[str, int, int]]] = []
        self.commits: list[list[tuple[str, int, int]]] = []

    def incremental_unassign(self, partitions) -> None:
        pass

    def incremental_assign(self, partitions) -> None:
        self.assigned.append([(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def commit(self, offsets, asynchronous: bool) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


class Outputs:
    async def stored(self) -> None:
        pass


class Counter:
    def inc(self, amount: int) -> None:
        pass


class Broker:
    def __init__(self, end: int) -> None:
        self.end = end

    async def position(self, topic: str, partition: int) -> tuple[int, int]:
        return 0, self.end


@pytest.fixture
def world(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(feed_module.time, "monotonic", lambda: now[0])
    feed = Feed.__new__(Feed)  # the parts `_unstall` uses, without librdkafka clients
    feed.owned, feed.held, feed._generation = True, {TP: Held(100)}, 0
    feed._still, feed._assigned_again = {}, None
    feed._consumer, feed._committed = Consumer(), Broker(150)
    feed.outputs, feed._acked = Outputs(), {TP[0]: Counter()}

    def check(at: float, reading: bool = True) -> None:
        now[0] = 1000.0 + at
        asyncio.run(feed._unstall(reading))

    return feed, check


def test_a_partition_standing_while_records_wait_is_assigned_again_then_the_worker_stops(world) -> None:
    feed, check = world
    check(0)
    check(STALLED_AFTER_S - 1)
    assert feed._consumer.assigned == []  # not long enough
    check(STALLED_AFTER_S)
    assert feed._consumer.assigned == [[("sla.tickets", 0, 100)]]  # at its position: nothing read twice or skipped
    check(STALLED_AFTER_S + 1)
    with pytest.raises(StalledPartition, match=r"sla.tickets\[0\] at 100"):
        check(2 * STALLED_AFTER_S + 1)


def test_fetching_again_after_the_new_assignment_clears_the_way_to_a_stop(world) -> None:
    feed, check = world
    check(0)
    check(STALLED_AFTER_S)
    feed.held[TP].next_read = 120  # records came
    check(STALLED_AFTER_S + 1)
    check(2 * STALLED_AFTER_S + 1)
    assert len(feed._consumer.assigned) == 2  # stuck again later: assigned again, not stopped


def test_nothing_happens_when_no_record_waits_or_the_feed_holds_back(world) -> None:
    feed, check = world
    feed._committed.end = 100  # the partition ends where it stands: quiet, not stuck
    check(0)
    check(3 * STALLED_AFTER_S)
    feed._committed.end = 150
    check(4 * STALLED_AFTER_S, reading=False)  # backpressure: it does not read on purpose
    check(5 * STALLED_AFTER_S - 1)
    assert feed._consumer.assigned == []


def test_a_position_is_committed_when_it_moves_and_again_now_and_then_in_case_a_commit_was_lost(world) -> None:
    feed, _ = world
    feed.held[TP].next_read = 120
    asyncio.run(feed.commit())
    asyncio.run(feed.commit())  # nothing moved
    assert feed._consumer.commits == [[("sla.tickets", 0, 120)]]
    asyncio.run(feed.commit(again=True))  # the first may have been lost with a broker stop: no word comes back
    assert feed._consumer.commits == [[("sla.tickets", 0, 120)]] * 2
