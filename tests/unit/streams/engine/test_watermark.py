"""The agreed watermark: the largest time two consecutive records reach."""

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from streams.engine.watermark import AgreedWatermark

T0 = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), st.integers(min_value=0, max_value=40),
       st.integers(min_value=1, max_value=100_000))
def test_one_outlier_anywhere_never_moves_it(minutes: list[int], where: int, ahead: int) -> None:
    """One record of any time, inserted anywhere, never lifts the watermark above the latest
    time of the other records (every pair that agrees holds one of them)."""
    times = [T0 + timedelta(minutes=m) for m in minutes]
    skewed = AgreedWatermark()
    with_outlier = [*times[:where], T0 + timedelta(minutes=ahead), *times[where:]]
    for at in with_outlier:
        skewed.observe(at)
    bound = max(times, default=None)
    assert skewed.value is None or bound is None or skewed.value <= bound


def test_records_in_order_move_it_one_record_behind() -> None:
    mark = AgreedWatermark()
    mark.observe(T0)
    assert mark.value is None
    mark.observe(T0 + timedelta(minutes=1))
    assert mark.value == T0
    mark.observe(T0 + timedelta(minutes=2))
    assert mark.value == T0 + timedelta(minutes=1)
