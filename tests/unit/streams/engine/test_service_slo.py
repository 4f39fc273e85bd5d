"""Closing one service's minutes without a tracker: records, alerts, status, and the entry's bytes."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.outputs import ContractMinute, ProbeMinute, SloStatus
from schemas.policy import parse_policy
from streams.engine.probes import Bucket
from streams.engine.service_slo import ServiceEntry, ServiceSlo
from streams.engine.slo import epoch_minute
from streams.engine.slo_plan import SloPlan
from tests.unit.streams.conftest import utc

PLAN = SloPlan(parse_policy("""
contracts:
  - id: gold
    customer: acme
    services: [search]
    probes:
      availability: {objective: 0.999}
      latency: {threshold_ms: 300, objective: 0.99}
      no_data_after: 5m
"""))
T0 = utc("2026-11-27 10:00")


def bucket(minute: int, good: bool) -> Bucket:
    return Bucket("search", T0 + timedelta(minutes=minute), 1, int(good), 100.0, 100.0, ((300.0, 1),))


def test_a_bad_minute_fires_the_rules_and_a_silence_fires_no_data_in_event_time() -> None:
    slo = ServiceSlo(PLAN)
    entry = ServiceEntry(0, epoch_minute(T0), -1)
    start = epoch_minute(T0)
    minutes, alerts = slo.close(entry, "search", [bucket(i, i != 10) for i in range(11)], start, start + 11)
    assert [m["minute"] for m in minutes] == [T0 + timedelta(minutes=i) for i in range(11)]
    assert {(a.alert, a.type) for a in alerts} == {("page-1h", "firing"), ("page-6h", "firing"), ("ticket-3d", "firing")}
    _, later = slo.close(entry, "search", [], start + 11, start + 20)  # nothing more arrives
    assert [(a.alert, a.type, a.at) for a in later if a.alert in ("no_data", "page-1h")] == [
        ("page-1h", "resolved", utc("2026-11-27 10:16")), ("no_data", "firing", utc("2026-11-27 10:16"))]
    status = slo.status(entry, "search", PLAN.objectives("search")[0], utc("2026-11-27 10:11"))
    assert status["firing"] == ["page-1h", "page-6h", "ticket-3d"]  # as at its last data
    assert codec.dumps(status) == codec.dumps(SloStatus.model_validate(status))  # the model's JSON, built as a dict
    assert status["error_rate_5m"] == 0.2 and status["error_rate_30m"] == 1 / 11  # 1 bad of 5 results, of 11
    again = ServiceEntry.load(entry.dump(), slo.fine, PLAN.horizon)
    assert (again.firing, again.data_firing, again.silent, again.last_data) == (
        entry.firing, entry.data_firing, entry.silent, entry.last_data)


def test_across_a_month_of_empty_minutes_rules_are_evaluated_at_data_and_while_firing() -> None:
    """Closing skips from one minute with data to the next unless a rule fires (a worker once
    spent most of its time walking a month of empty minutes one by one); what it evaluates is
    what a walk minute by minute evaluates."""
    evaluated: list[int] = []

    class Counting(ServiceSlo):
        def _evaluate(self, entry, service, objectives, end):  # type: ignore[no-untyped-def]
            evaluated.append(epoch_minute(end))
            return super()._evaluate(entry, service, objectives, end)

    slo = Counting(PLAN)
    start = epoch_minute(T0)
    entry = ServiceEntry(0, start, -1)
    month = 30 * 24 * 60
    slo.close(entry, "search", [bucket(0, True), bucket(2, True)], start, start + month)
    assert evaluated == [start + 1, start + 3]
    evaluated.clear()
    bad = Bucket("search", T0 + timedelta(minutes=month), 5, 0, 500.0, 100.0, ((300.0, 5),))  # enough to fire on
    slo.close(entry, "search", [bad], start + month, start + 2 * month)
    assert evaluated[:2] == [start + month + 1, start + month + 2]  # firing: minute by minute ...
    assert not entry.alerting() and len(evaluated) < 3 * 24 * 60 + 2  # ... until the 3-day rule resolves


TWO_CONTRACTS = SloPlan(parse_policy("""
contracts:
  - id: gold
    customer: acme
    services: [search]
    probes:
      availability: {objective: 0.999}
      latency: {threshold_ms: 300, objective: 0.99}
      maintenance: [{start: "2026-11-27T10:30:00Z", end: "2026-11-27T11:00:00Z"}]
  - id: basic
    customer: globex
    services: ["*"]
    probes:
      availability: {objective: 0.99}
"""))


@settings(max_examples=60, deadline=None)
@given(minute=st.integers(0, 90), total=st.integers(1, 10**6), good=st.integers(0, 10**6),
       latency=st.floats(0, 1e7, allow_nan=False), fast=st.integers(0, 10**6))
def test_a_minute_record_is_the_bytes_of_its_model(minute: int, total: int, good: int, latency: float,
                                                    fast: int) -> None:
    """Minute records are built as dicts (the most frequent output); they must stay the JSON
    of the ProbeMinute contract, maintenance and a contract without latency SLO included."""
    closed = Bucket("search", T0 + timedelta(minutes=minute), total, good, latency, latency / 2, ((300.0, fast),))
    entry = ServiceEntry(0, epoch_minute(closed.minute), -1)
    (record,), _ = ServiceSlo(TWO_CONTRACTS).close(entry, "search", [closed], epoch_minute(closed.minute),
                                           epoch_minute(closed.minute) + 1)
    model = ProbeMinute(service="search", minute=closed.minute, total=total, good=good, latency_sum_ms=latency,
                        latency_max_ms=latency / 2, fast_le_ms=[300.0], fast=[fast], contracts=[
                            ContractMinute(contract_id="gold", customer="acme", fast=fast, excluded=30 <= minute < 60),
                            ContractMinute(contract_id="basic", customer="globex", fast=None, excluded=False)])
    assert codec.dumps(record) == codec.dumps(model)
