"""Acknowledgements reach Faust in offset order."""

import asyncio

from streams.acks import InOrder


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


def test_join_acknowledges_once_every_party_is_done() -> None:
    from streams.acks import Join

    calls: list[int] = []

    async def ack() -> None:
        calls.append(1)

    join = Join(2, ack)
    assert (asyncio.run(join()), calls) == (False, [])
    assert (asyncio.run(join()), calls) == (True, [1])
