from datetime import timedelta

from streams.worker.partition_clock import PartitionClock
from tests.unit.streams.conftest import utc

WALL = utc("2026-11-27 12:00")


def test_backlog_uses_the_watermark_and_caught_up_uses_wall_time() -> None:
    clock = PartitionClock(lambda: WALL)
    clock.observe("ticket", 0, offset=10, highwater=100, occurred_at=utc("2026-11-27 09:00"))
    clock.observe("ticket", 0, offset=11, highwater=100, occurred_at=utc("2026-11-27 08:59"))  # older
    assert clock.now("ticket", 0) == utc("2026-11-27 08:59")  # the time both records reached
    assert clock.now("ticket", 1) is None  # another partition: nothing known, hold
    clock.observe("ticket", 0, offset=99, highwater=100, occurred_at=utc("2026-11-27 11:59"))
    assert clock.now("ticket", 0) == WALL


def test_one_source_read_ahead_never_moves_another_sources_clock() -> None:
    clock = PartitionClock(lambda: WALL)
    for offset in (0, 1):
        clock.observe("incident", 2, offset=offset, highwater=50, occurred_at=utc("2026-11-27 10:30"))  # behind
        clock.observe("ticket", 2, offset=offset, highwater=50, occurred_at=utc("2026-11-27 10:02"))  # behind, earlier
    assert clock.now("ticket", 2) == utc("2026-11-27 10:02")  # not the incident topic's 10:30
    assert clock.now("incident", 2) == utc("2026-11-27 10:30")


def test_a_rejected_record_at_the_tail_releases_the_clock() -> None:
    clock = PartitionClock(lambda: WALL)
    clock.observe("ticket", 0, offset=47, highwater=50, occurred_at=utc("2026-11-27 10:00"))
    clock.observe("ticket", 0, offset=48, highwater=50, occurred_at=utc("2026-11-27 10:00"))
    assert clock.now("ticket", 0) == utc("2026-11-27 10:00")
    clock.observe("ticket", 0, offset=49, highwater=50, occurred_at=None)  # invalid, the newest record
    assert clock.now("ticket", 0) == WALL


def test_future_events_do_not_push_the_clock_past_wall_time() -> None:
    clock = PartitionClock(lambda: WALL)
    clock.observe("incident", 2, offset=0, highwater=50, occurred_at=utc("2026-11-27 13:30"))  # behind
    clock.observe("incident", 2, offset=1, highwater=50, occurred_at=utc("2026-11-27 13:30"))
    assert clock.now("incident", 2) == WALL  # the watermark is ahead of wall time: capped
    clock.forget()
    assert clock.now("incident", 2) is None


def test_after_a_takeover_the_clock_holds_until_the_broker_or_a_record_says_where_it_stands() -> None:
    """A restarted worker must not fire from the wall clock what its backlog may disprove."""
    clock = PartitionClock(lambda: WALL)
    assert clock.now("ticket", 0) is None and clock.unsure(0, ["ticket", "incident"]) == ["ticket", "incident"]
    clock.learn("ticket", 0, start=0, end=120)  # records wait: hold until one is read
    assert clock.now("ticket", 0) is None and not clock.caught_up("ticket", 0)
    clock.observe("ticket", 0, offset=0, highwater=120, occurred_at=utc("2026-11-27 09:00"))
    assert clock.now("ticket", 0) is None  # one record alone does not set a clock
    clock.observe("ticket", 0, offset=1, highwater=120, occurred_at=utc("2026-11-27 09:00"))
    assert clock.now("ticket", 0) == utc("2026-11-27 09:00")
    clock.learn("incident", 0, start=40, end=40)  # nothing to read: the wall clock at once
    assert clock.now("incident", 0) == WALL and clock.caught_up("incident", 0)
    clock.learn("ticket", 0, start=120, end=120)  # a lookup older than the records read says less
    assert clock.now("ticket", 0) == utc("2026-11-27 09:00")


def test_an_unknown_end_is_never_taken_for_caught_up_and_the_broker_settles_it() -> None:
    wall = [WALL]
    clock = PartitionClock(lambda: wall[0], settle=timedelta(seconds=2))
    for offset in (4, 5):  # just after a seek
        clock.observe("ticket", 0, offset=offset, highwater=None, occurred_at=utc("2026-11-27 09:00"))
    assert clock.now("ticket", 0) == utc("2026-11-27 09:00")  # its own watermark, not the wall clock
    assert clock.unsure(0, ["ticket"]) == []  # records are coming: no need to ask yet
    wall[0] = WALL + timedelta(seconds=2)
    assert clock.unsure(0, ["ticket"]) == ["ticket"]  # nothing read for 2 s and the end unknown
    clock.learn("ticket", 0, start=0, end=6)
    assert clock.now("ticket", 0) == wall[0] and clock.unsure(0, ["ticket"]) == []


def test_probe_minutes_follow_the_same_position() -> None:
    clock = PartitionClock(lambda: WALL)
    clock.observe("probe", 1, offset=3, highwater=10, occurred_at=utc("2026-11-27 09:00"))
    assert not clock.caught_up("probe", 1) and not clock.caught_up("ticket", 1)
    clock.observe("probe", 1, offset=9, highwater=10, occurred_at=None)
    assert clock.caught_up("probe", 1)


def test_a_partition_falling_behind_keeps_the_time_it_was_last_caught_up_at() -> None:
    """Live traffic: a tick finds the latest fetch half read. Deadlines up to the moment the
    partition was last caught up fire (a tick then would have fired them); the watermark less
    the lateness alone would hold them a minute back."""
    wall = [WALL]
    clock = PartitionClock(lambda: wall[0], lateness=timedelta(seconds=60))
    clock.observe("ticket", 0, offset=9, highwater=10, occurred_at=WALL)  # caught up at 12:00
    wall[0] = WALL + timedelta(seconds=1)
    clock.observe("ticket", 0, offset=10, highwater=30, occurred_at=WALL + timedelta(seconds=1))  # a new fetch
    assert clock.now("ticket", 0) == WALL  # not 11:59:01
    clock.observe("ticket", 0, offset=29, highwater=30, occurred_at=WALL + timedelta(seconds=1))
    assert clock.now("ticket", 0) == WALL + timedelta(seconds=1)  # caught up again: the wall clock
    wall[0] = WALL + timedelta(minutes=10)
    for offset in (30, 31):  # a burst
        clock.observe("ticket", 0, offset=offset, highwater=5000, occurred_at=WALL + timedelta(minutes=10))
    assert clock.now("ticket", 0) == WALL + timedelta(minutes=9)  # the watermark rule, later by now
    clock.forget()  # a takeover knows nothing of when it was caught up
    for offset in (31, 32):
        clock.observe("ticket", 0, offset=offset, highwater=5000, occurred_at=WALL + timedelta(minutes=10))
    assert clock.now("ticket", 0) == WALL + timedelta(minutes=9)


def test_one_record_from_a_clock_that_runs_ahead_never_moves_the_partitions_clock() -> None:
    """Its neighbours come from 10:00 on; one producer's clock is 50 minutes fast."""
    clock = PartitionClock(lambda: WALL)
    times = ["10:00", "10:01", "10:51", "10:02", "10:03"]
    seen = []
    for offset, at in enumerate(times):
        clock.observe("ticket", 0, offset=offset, highwater=100, occurred_at=utc(f"2026-11-27 {at}"))
        seen.append(clock.now("ticket", 0))
    # Each record counts once the next one reaches its time too; 10:51 never does.
    assert seen == [None, utc("2026-11-27 10:00"), utc("2026-11-27 10:01"), utc("2026-11-27 10:02"),
                    utc("2026-11-27 10:02")]
    clock.observe("ticket", 0, offset=5, highwater=100, occurred_at=utc("2026-11-27 10:52"))
    clock.observe("ticket", 0, offset=6, highwater=100, occurred_at=utc("2026-11-27 10:52"))
    assert clock.now("ticket", 0) == utc("2026-11-27 10:52")  # two records agree: the clock moves
