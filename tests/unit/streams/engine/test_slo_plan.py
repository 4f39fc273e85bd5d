"""Which objectives cover a service, and how a minute counts for each."""

from __future__ import annotations

from datetime import timedelta

import orjson

from schemas.policy import parse_policy
from streams.engine.slo import ErrorSeries
from streams.engine.slo_plan import SloPlan
from tests.unit.streams.conftest import utc

POLICY = """
contracts:
  - id: gold
    customer: acme
    services: [search]
    probes:
      availability: {objective: 0.999, window: month}
      latency: {threshold_ms: 300, objective: 0.99, timeslice_target: 0.9}
      no_data_after: 10m
  - id: all
    customer: initech
    services: ["*"]
    probes:
      latency: {threshold_ms: 500, objective: 0.95, window: 7d}
"""
PLAN = SloPlan(parse_policy(POLICY))


def test_objectives_and_contracts_per_service() -> None:
    assert [o.key for o in PLAN.objectives("search")] == ["gold/availability", "gold/latency", "all/latency"]
    assert [o.key for o in PLAN.objectives("login")] == ["all/latency"]
    assert PLAN.thresholds("search") == (300.0, 500.0)
    assert [(c.contract_id, c.threshold_ms, c.no_data_after) for c in PLAN.contracts("search")] == [
        ("gold", 300.0, timedelta(minutes=10)), ("all", 500.0, timedelta(minutes=5))]
    assert PLAN.horizon == timedelta(days=31)  # calendar months need 31 days of hours


def test_results_or_timeslices() -> None:
    availability, latency, _ = PLAN.objectives("search")
    fast = {300.0: 8, 500.0: 10}
    assert availability.counts(10, 9, fast) == (10, 1)  # by results
    assert latency.counts(10, 9, fast) == (1, 1)  # 8/10 fast < 0.9: a bad minute
    assert latency.counts(10, 9, {300.0: 9}) == (1, 0)  # exactly 0.9: good


def test_window_starts() -> None:
    availability, _, weekly = PLAN.objectives("search")
    end = utc("2026-11-27 10:00")
    assert availability.window_start(end) == utc("2026-11-01 00:00")
    assert weekly.window_start(end) == utc("2026-11-20 10:00")
    assert (availability.window_name, weekly.window_name) == ("month", "7d")
    # At a month's first instant the window is the month that just ended, not an empty one.
    assert availability.window_start(utc("2026-11-01 00:00")) == utc("2026-10-01 00:00")
    assert availability.window_start(utc("2026-11-01 00:01")) == utc("2026-11-01 00:00")


def test_series_round_trip() -> None:
    series = ErrorSeries()
    for m in range(500):
        series.add(utc("2026-11-27 00:00") + timedelta(minutes=m), 2, m % 7 == 0)
    again = ErrorSeries.from_json(orjson.loads(orjson.dumps(series.to_json())), series.fine, series.horizon)
    assert again == series
    before = ErrorSeries.from_json([*series.minutes.dense(), *series.hours.dense()], series.fine, series.horizon)
    assert before == series  # entries written before snapshots (the dense cells alone) still read
    assert again.counts(utc("2026-11-27 08:20"), timedelta(hours=2)) == series.counts(utc("2026-11-27 08:20"), timedelta(hours=2))
