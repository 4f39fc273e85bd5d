"""Business time, worked out by hand on a wall calendar (Europe/Berlin: CET=UTC+1, CEST=UTC+2)."""

from bisect import bisect_left
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.engine.calendar import AlwaysOpen
from tests.unit.streams.conftest import utc

H = timedelta(hours=1)


@pytest.fixture(scope="module")
def berlin(policy):
    from streams.engine.calendar import build_calendars

    return build_calendars(policy.doc.calendars)["berlin"]


@pytest.fixture(scope="module")
def nights(policy):
    from streams.engine.calendar import build_calendars

    return build_calendars(policy.doc.calendars)["nights"]


def test_weekend_is_closed(berlin) -> None:
    # Fri 27 Nov 17:00 CET (16:00Z) .. Mon 30 Nov 09:00 CET (08:00Z): 1 h Friday + 1 h Monday.
    assert berlin.elapsed(utc("2026-11-27 16:00"), utc("2026-11-30 08:00")) == 2 * H
    # 4 h from Friday 17:00 CET: 1 h Friday, 3 h Monday from 08:00 -> Mon 11:00 CET = 10:00Z.
    assert berlin.add(utc("2026-11-27 16:00"), 4 * H) == utc("2026-11-30 10:00")


def test_public_holiday_and_extra_closed_date(berlin) -> None:
    # Wed 23 Dec 17:00 CET; Thu 24 (extra), Fri 25 (Christmas), weekend closed; Mon 28 opens 08:00 CET.
    assert berlin.elapsed(utc("2026-12-23 16:00"), utc("2026-12-28 08:00")) == 2 * H
    assert berlin.add(utc("2026-12-23 16:00"), 2 * H) == utc("2026-12-28 08:00")
    # 26 Dec (2nd Christmas day) is a Saturday anyway; 1 Jan 2027 is a Friday holiday.
    assert berlin.elapsed(utc("2026-12-31 16:00"), utc("2027-01-04 08:00")) == 2 * H


def test_spring_forward(berlin, nights) -> None:
    # Clocks go 02:00 -> 03:00 on Sun 29 Mar 2026. 00:00 CET (23:00Z) .. 06:00 CEST (04:00Z) is 5 h.
    assert nights.elapsed(utc("2026-03-28 23:00"), utc("2026-03-29 04:00")) == 5 * H
    assert nights.add(utc("2026-03-28 23:00"), 5 * H) == utc("2026-03-29 04:00")
    # Business hours over that weekend: Fri 17:00 CET (16:00Z) + 2 h -> Mon 30 Mar 09:00 CEST = 07:00Z.
    assert berlin.add(utc("2026-03-27 16:00"), 2 * H) == utc("2026-03-30 07:00")


def test_fall_back(berlin, nights) -> None:
    # Clocks go 03:00 -> 02:00 on Sun 25 Oct 2026. 00:00 CEST (22:00Z) .. 06:00 CET (05:00Z) is 7 h.
    assert nights.elapsed(utc("2026-10-24 22:00"), utc("2026-10-25 05:00")) == 7 * H
    # Fri 23 Oct 17:00 CEST (15:00Z) + 2 h -> Mon 26 Oct 09:00 CET = 08:00Z.
    assert berlin.add(utc("2026-10-23 15:00"), 2 * H) == utc("2026-10-26 08:00")


def test_exact_to_the_second_and_empty_spans(berlin) -> None:
    # Monday opens 08:00 CET = 07:00Z.
    assert berlin.elapsed(utc("2026-11-30 06:59:59"), utc("2026-11-30 07:00:01")) == timedelta(seconds=1)
    assert berlin.elapsed(utc("2026-11-30 10:00"), utc("2026-11-30 09:00")) == timedelta(0)
    assert berlin.add(utc("2026-11-28 12:00"), timedelta(0)) == utc("2026-11-28 12:00")


def test_24x7() -> None:
    always = AlwaysOpen()
    assert always.elapsed(utc("2026-03-28 23:00"), utc("2026-03-29 04:00")) == 5 * H
    assert always.add(utc("2026-03-28 23:00"), 5 * H) == utc("2026-03-29 04:00")


@given(st.lists(st.integers(-5, 50), max_size=30).map(sorted), st.integers(-10, 60))
def test_the_table_search_finds_what_bisect_finds(values: list[int], x: int) -> None:
    from streams.engine.calendar import _first_at_least

    assert _first_at_least(values, x) == bisect_left(values, x)
