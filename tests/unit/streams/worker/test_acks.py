"""Acknowledgements reach Faust in offset order."""

import asyncio

import pytest

from streams.worker.acks import InOrder, OffsetGap


def test_a_later_record_done_first_waits_for_the_earlier_one() -> None:
    acked: list[int] = []
    order = InOrder()

    def ack(offset: int):
        async def call() -> None:
            acked.append(offset)
        return call

    done = {o: order.track(0, ack(o)) for o in range(4)}
    other = order.track(1, ack(100))

    async def run() -> None:
        await done[2]()
        await done[3]()
        assert acked == []  # 0 and 1 still in progress
        await other()
        assert acked == [100]  # partitions are independent
        await done[0]()
        assert acked == [100, 0]
        await done[1]()
        assert acked == [100, 0, 1, 2, 3]

    asyncio.run(run())
    assert order.pending(0) == 0


def test_forget_drops_what_is_pending() -> None:
    order = InOrder()
    order.track(0, lambda: asyncio.sleep(0))
    order.forget()
    assert order.pending(0) == 0


def test_the_first_record_after_an_assignment_may_not_skip_uncommitted_ones() -> None:
    """Nothing committed yet (the log starts at 0) and the first record handed out is 4,200:
    acknowledging it would commit past 0..4,199. Found in a chaos run; here deterministic."""
    committed = {0: 0, 1: 540}
    asked: list[int] = []

    async def start(partition: int) -> int:
        asked.append(partition)
        return committed[partition]

    async def run() -> None:
        order = InOrder(start)
        with pytest.raises(OffsetGap, match="records 0..4199 would be skipped"):
            await order.check(0, 4200)
        await order.check(1, 500)  # records before the committed offset come again: harmless
        order.track(1, noop)
        await order.check(1, 501)  # only the first record after an assignment is looked up
        assert asked == [0, 1]
        order.forget()  # revoked; on the next assignment the first record is checked again
        with pytest.raises(OffsetGap):
            await order.check(1, 4000)

    asyncio.run(run())


async def noop() -> None:
    return None


def test_a_record_read_after_a_jump_stops_the_worker_even_right_after_offset_0() -> None:
    """Faust takes read offset 0 for "nothing read" and misses a jump from 0 to 4; before the
    first commit it would then commit past 1..3. Every later record must follow the last."""
    async def run() -> None:
        order = InOrder(lambda partition: _zero())
        await order.check(0, 0)
        with pytest.raises(OffsetGap, match="records 1..3 would be skipped"):
            await order.check(0, 4)
        await order.check(1, 0)
        await order.check(1, 1)
        await order.check(1, 1)  # the same record again (a re-read) is no jump
        with pytest.raises(OffsetGap, match="records 2..2 would be skipped"):
            await order.check(1, 3)

    asyncio.run(run())


def test_a_jump_over_committed_records_is_harmless() -> None:
    """A stale record from before the seek, then the committed offset: nothing unprocessed is skipped."""
    async def run() -> None:
        order = InOrder(lambda partition: _committed(540))
        await order.check(1, 500)
        await order.check(1, 540)
        with pytest.raises(OffsetGap, match="records 541..549 would be skipped"):
            await order.check(1, 550)

    asyncio.run(run())


async def _zero() -> int:
    return 0


async def _committed(offset: int) -> int:
    return offset
