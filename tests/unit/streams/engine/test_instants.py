"""Instants as integer microseconds: the ISO text event ids are derived from, and status rows carry."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.engine.instants import instant, iso, micros, zulu

# From year 1 to 9999, whole seconds as often as not (isoformat leaves the fraction out then).
INSTANTS = st.one_of(
    st.integers(micros(datetime(1, 1, 1, tzinfo=timezone.utc)), micros(datetime(9999, 12, 31, tzinfo=timezone.utc))),
    st.integers(-10**9, 10**10).map(lambda s: s * 1_000_000),
)


@given(INSTANTS)
def test_iso_is_the_isoformat_of_the_instant(us: int) -> None:
    assert iso(us) == instant(us).isoformat()
    assert micros(instant(us)) == us


@given(INSTANTS)
def test_zulu_is_what_orjson_writes_for_the_instant(us: int) -> None:
    assert orjson.dumps(zulu(us)) == orjson.dumps(instant(us), option=orjson.OPT_UTC_Z)


def test_iso_of_known_instants() -> None:
    assert iso(0) == "1970-01-01T00:00:00+00:00"
    assert iso(micros(datetime(2026, 12, 7, 9, 5, 3, 40, tzinfo=timezone.utc))) == "2026-12-07T09:05:03.000040+00:00"
    assert iso(-1) == "1969-12-31T23:59:59.999999+00:00"
