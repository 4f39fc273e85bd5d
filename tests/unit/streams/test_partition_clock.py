from streams.partition_clock import PartitionClock
from tests.unit.streams.conftest import utc

WALL = utc("2026-11-27 12:00")


def test_backlog_uses_the_watermark_and_caught_up_uses_wall_time() -> None:
    clock = PartitionClock(lambda: WALL)
    assert clock.now(0) == WALL  # nothing seen
    clock.observe("tickets", 0, offset=10, highwater=100, occurred_at=utc("2026-11-27 09:00"))
    clock.observe("tickets", 0, offset=11, highwater=100, occurred_at=utc("2026-11-27 08:59"))  # older: watermark stays
    assert clock.now(0) == utc("2026-11-27 09:00")
    assert clock.now(1) == WALL  # another partition
    clock.observe("tickets", 0, offset=99, highwater=100, occurred_at=utc("2026-11-27 11:59"))
    assert clock.now(0) == WALL


def test_any_topic_behind_on_the_partition_holds_the_clock_and_future_events_do_not_push_it() -> None:
    clock = PartitionClock(lambda: WALL)
    clock.observe("tickets", 2, offset=5, highwater=6, occurred_at=utc("2026-11-27 13:00"))  # caught up
    clock.observe("incidents", 2, offset=0, highwater=50, occurred_at=utc("2026-11-27 13:30"))  # behind
    assert clock.now(2) == WALL  # the watermark is ahead of wall time: capped
    clock.forget()
    assert clock.now(2) == WALL
