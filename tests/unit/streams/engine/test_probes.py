"""Minute buckets: counts, closing by watermark with lateness, late records, idle partitions."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(st.tuples(st.integers(-300, 300), st.integers(0, 5)), max_size=8),
    closes=st.booleans(),
    batch=st.lists(st.tuples(st.integers(-300, 300), st.integers(0, 12), st.sampled_from([80.0, 299.9, 300.0, 450.5, 900.0]),
                             st.booleans()), min_size=1, max_size=12),
    appended=st.one_of(st.none(), st.integers(-300, 300)),
    force=st.booleans(),
)
def test_a_batch_counts_as_its_results_one_by_one(history, closes, batch, appended, force) -> None:
    """add_batch (a record's results as one group per minute) leaves the buckets, the
    watermark and what closes exactly as `add` one result at a time would, or counts nothing
    and says so when a result may be late (the caller then adds them one by one)."""
    base = utc("2026-11-27 10:05")
    at = lambda s: base + timedelta(seconds=s)  # noqa: E731

    def result(seconds: int, eid: int, latency: float = 100.0, ok: bool = True) -> ProbeEvent:
        return ProbeEvent(event_id=f"e{eid}", occurred_at=at(seconds), source="t", probe_id="p", service="search",
                          region="eu", ok=ok, latency_ms=latency, status_code=200)

    one, grouped = buckets(), buckets()
    for b in (one, grouped):
        for seconds, eid in history:
            b.add(result(seconds, eid), WALL)
        if closes:
            b.close(WALL, caught_up=False)
    events = [result(*r) for r in batch]
    cap = None if appended is None else at(appended)
    outcomes = [one.add(e, WALL, force=force, appended=cap) for e in events]
    counted = grouped.add_batch("search", events, WALL, force=force, appended=cap)
    if counted is None:  # only where a result may be late: always when in time order
        assert "late" in outcomes or [e.occurred_at for e in events] != sorted(e.occurred_at for e in events)
        assert [grouped.add(e, WALL, force=force, appended=cap) for e in events] == outcomes
    else:
        assert "late" not in outcomes and sum(counted.values()) == outcomes.count("counted")
    assert (one.watermark, one._event_time.last) == (grouped.watermark, grouped._event_time.last)
    assert one._open == grouped._open and one._per_minute == grouped._per_minute
    assert one.close(WALL + timedelta(hours=1), caught_up=True) == grouped.close(WALL + timedelta(hours=1), caught_up=True)
