"""Minute buckets: counts, closing by watermark with lateness, late records, idle partitions."""

from datetime import timedelta

from schemas.events import ProbeEvent
from streams.engine.probes import MinuteBuckets
from tests.unit.streams.conftest import utc


def probe(at: str, ok: bool = True, latency: float = 100.0, service: str = "search") -> ProbeEvent:
    return ProbeEvent(event_id=f"{service}-{at}-{latency}", occurred_at=utc(at), source="t", probe_id="p",
                      service=service, region="eu", ok=ok, latency_ms=latency, status_code=200 if ok else 503)


def buckets() -> MinuteBuckets:
    return MinuteBuckets({"search": (300.0, 500.0)}.get, lateness=timedelta(seconds=60), idle=timedelta(minutes=5))


WALL = utc("2026-11-27 10:00")


def test_counts_and_closing_after_the_allowed_lateness() -> None:
    b = buckets()
    for at, ok, lat in [("2026-11-27 10:00:05", True, 120), ("2026-11-27 10:00:30", False, 800),
                        ("2026-11-27 10:00:59", True, 400)]:
        assert "counted" == b.add(probe(at, ok, lat), WALL)
    assert "counted" == b.add(probe("2026-11-27 10:01:59", True, 50), WALL)
    assert "counted" == b.add(probe("2026-11-27 10:02:00", True, 50), WALL)
    # Two results agree on 10:01:59: watermark 10:00:59, the 10:00 bucket (ends 10:01) is still open.
    assert b.close(WALL, caught_up=True) == []
    assert "counted" == b.add(probe("2026-11-27 10:02:00", True, 60), WALL)  # watermark 10:01:00 -> 10:00 closes
    (closed,) = b.close(WALL, caught_up=True)
    assert (closed.minute, closed.total, closed.good) == (utc("2026-11-27 10:00"), 3, 2)
    assert (closed.latency_sum_ms, closed.latency_max_ms) == (1320.0, 800.0)
    assert closed.fast == ((300.0, 1), (500.0, 2))  # 120 <= 300; 120 and 400 <= 500


def test_records_for_a_closed_bucket_are_late_but_open_ones_still_count() -> None:
    b = buckets()
    b.add(probe("2026-11-27 10:00:10"), WALL)
    b.add(probe("2026-11-27 10:02:30"), WALL)
    assert b.close(WALL, caught_up=True) == []  # one result alone does not move the watermark
    b.add(probe("2026-11-27 10:02:30", latency=1.0), WALL)
    assert [x.minute for x in b.close(WALL, caught_up=True)] == [utc("2026-11-27 10:00")]  # watermark 10:01:30
    assert "late" == b.add(probe("2026-11-27 10:00:50"), WALL)  # its bucket is closed: late
    assert "counted" == b.add(probe("2026-11-27 10:01:10"), WALL)  # 10:01 ends 10:02 > 10:01:30: still open
    b.add(probe("2026-11-27 10:03:05"), WALL)
    b.add(probe("2026-11-27 10:03:05", latency=1.0), WALL)  # watermark 10:02:05
    (closed,) = b.close(WALL, caught_up=True)
    assert (closed.minute, closed.total) == (utc("2026-11-27 10:01"), 1)


def test_an_idle_partition_closes_by_wall_clock() -> None:
    b = buckets()
    b.add(probe("2026-11-27 10:00:10"), WALL)
    assert b.close(WALL + timedelta(minutes=4, seconds=59), caught_up=True) == []  # not idle long enough
    (closed,) = b.close(WALL + timedelta(minutes=5), caught_up=True)  # idle: watermark = wall - 60 s = 10:04
    assert closed.minute == utc("2026-11-27 10:00")
    assert "late" == b.add(probe("2026-11-27 10:02:00"), WALL + timedelta(minutes=5))  # now late


def test_lateness_follows_the_records_not_when_closing_runs() -> None:
    b = buckets()
    b.add(probe("2026-11-27 10:00:10"), WALL)
    b.add(probe("2026-11-27 10:03:00"), WALL)
    b.add(probe("2026-11-27 10:03:00", latency=2.0), WALL)  # watermark 10:02:00, no close has run yet
    assert b.add(probe("2026-11-27 10:00:50", latency=1.0), WALL) == "late"
    assert b.add(probe("2026-11-27 10:02:10", latency=1.0), WALL) == "counted"


def test_a_repeated_event_id_counts_once() -> None:
    b = buckets()
    first = probe("2026-11-27 10:00:10")
    assert (b.add(first, WALL), b.add(first, WALL)) == ("counted", "duplicate")
    b.add(probe("2026-11-27 10:02:00"), WALL)
    b.add(probe("2026-11-27 10:02:00", latency=1.0), WALL)
    (closed,) = b.close(WALL, caught_up=True)
    assert closed.total == 1


def test_a_partition_with_a_backlog_does_not_close_by_wall_clock() -> None:
    b = buckets()
    b.add(probe("2026-11-27 10:00:10"), WALL)
    assert b.close(WALL + timedelta(minutes=30), caught_up=False) == []  # more records wait in Kafka
    b.add(probe("2026-11-27 10:00:20"), WALL + timedelta(minutes=30))
    (closed,) = b.close(WALL + timedelta(minutes=35), caught_up=True)
    assert (closed.minute, closed.total) == (utc("2026-11-27 10:00"), 2)


def test_one_result_from_a_clock_that_runs_ahead_closes_no_other_services_minute() -> None:
    """Before, a result 50 minutes ahead closed every minute up to then: the partition's other
    results of those minutes were refused as late (not counted: wrong availability, credits)."""
    b = buckets()
    b.add(probe("2026-11-27 10:00:10"), WALL)
    b.add(probe("2026-11-27 10:50:10"), WALL)  # from a probe runner whose clock is 50 min fast
    assert b.close(WALL, caught_up=False) == []
    assert b.add(probe("2026-11-27 10:00:40"), WALL) == "counted"
    assert b.add(probe("2026-11-27 10:01:20"), WALL) == "counted"



def test_closable_counts_the_results_of_minutes_the_watermark_has_passed() -> None:
    b = buckets()
    for at in ("10:00:05", "10:00:10", "10:01:10", "10:01:15", "10:02:10", "10:02:11"):
        b.add(probe(f"2026-11-27 {at}"), WALL)
    assert b.closable() == 2  # watermark 10:02:10 less 60 s passes the end of 10:00 only
    assert [bucket.total for bucket in b.close(WALL, caught_up=False)] == [2] and b.closable() == 0
