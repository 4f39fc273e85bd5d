"""The monthly attainment and credit views on embedded ClickHouse, with hand-computed rows."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from schemas.policy import parse_policy
from sinks.contracts import write_contracts
from sinks.migrate import migrate
from tests.conftest import clickhouse

POLICY = """
contracts:
  - id: results
    customer: acme
    services: [api]
    probes:
      availability: {objective: 0.99}
      latency: {threshold_ms: 300, objective: 0.9}
    credits: [{below: 0.99, credit: 10}, {below: 0.95, credit: 30}]
  - id: slices
    customer: acme
    services: [api]
    probes:
      availability: {objective: 0.99, timeslice_target: 0.75}
"""
MINUTES = ["contract_id", "customer", "service", "minute", "total", "good", "fast", "excluded"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_attainment_budget_and_credit(tmp_path: Path) -> None:
    with clickhouse(tmp_path / "db") as client:
        migrate(client)
        write_contracts(client, parse_policy(POLICY), at("2026-11-01 00:00"))
        rows = []
        # Four minutes of 4 results: 4, 3, 2 and 0 good (the last inside maintenance: left out).
        for contract, fast in (("results", [4, 4, 1]), ("slices", [None] * 3)):
            for i, (good, f) in enumerate(zip([4, 3, 2], fast)):
                rows.append([contract, "acme", "api", at(f"2026-10-05 10:0{i}"), 4, good, f, False])
            rows.append([contract, "acme", "api", at("2026-10-05 10:03"), 4, 0, 0 if fast[0] else None, True])
        client.insert("slo_minutes", rows, column_names=MINUTES)
        client.insert("slo_minutes", rows[:2], column_names=MINUTES)  # inserted twice: counted once
        got = {r[0]: r for r in client.query(
            "SELECT contract_id, total, good, fast, excluded_minutes, availability, latency_attainment,"
            " availability_budget_used FROM slo_attainment_monthly").result_rows}
        credits = dict(client.query("SELECT contract_id, credit_percent FROM service_credits_monthly").result_rows)
    # results: 9 of 12 good = 0.75 -> budget used 0.25/0.01 = 25; 9 of 12 fast = 0.75; credit: 0.75 < 0.95 -> 30
    r = got["results"]
    assert r[1:5] == (12, 9, 9, 1)
    assert r[5] == 0.75 and r[6] == 0.75 and round(r[7], 6) == 25.0
    # slices: minutes good when >= 75 % of results are: 4/4 and 3/4 yes, 2/4 no -> 2 of 3 minutes
    s = got["slices"]
    assert s[5] == 2 / 3 and s[6] is None
    assert credits == {"results": 30.0, "slices": 0.0}


def test_credit_tiers(tmp_path: Path) -> None:
    # Tiers: below 99.9 % -> 10 %, below 99 % -> 25 %. 10,000 results a service.
    policy = parse_policy("""
contracts:
  - id: gold
    customer: acme
    services: ["*"]
    probes: {availability: {objective: 0.999}}
    credits: [{below: 0.999, credit: 10}, {below: 0.99, credit: 25}]
""")
    good = {"above": 9995, "at-objective": 9990, "below-first": 9950, "below-second": 9800}
    with clickhouse(tmp_path / "db") as client:
        migrate(client)
        write_contracts(client, policy, at("2026-11-01 00:00"))
        client.insert("slo_minutes", [["gold", "acme", s, at("2026-10-05 10:00"), 10_000, g, None, False]
                                      for s, g in good.items()], column_names=MINUTES)
        credits = dict(client.query("SELECT service, credit_percent FROM service_credits_monthly").result_rows)
    assert credits == {"above": 0.0, "at-objective": 0.0, "below-first": 10.0, "below-second": 25.0}


STATUS = ["contract_id", "customer", "service", "sli", "objective", "window", "as_of", "burn_rate_1h",
          "budget_remaining", "firing"]


def test_the_last_status_of_each_month_stays_as_that_month_s_final_figures(tmp_path: Path) -> None:
    with clickhouse(tmp_path / "db") as client:
        migrate(client)

        def status(as_of: str, remaining: float) -> None:
            client.insert("slo_status", [["results", "acme", "api", "availability", 0.99, "month", at(as_of), 0.0,
                                          remaining, []]], column_names=STATUS)

        status("2026-10-31 23:00", 0.40)
        status("2026-11-01 00:00", 0.35)  # as of the month's first instant: closes October
        status("2026-11-01 00:10", 1.00)  # November's first
        status("2026-11-02 08:00", 0.98)
        status("2026-11-01 00:00", 0.35)  # the same status again (a replay): one row
        months = client.query("SELECT month, as_of, budget_remaining FROM slo_status_monthly FINAL "
                              "ORDER BY month").result_rows
        latest = client.query("SELECT count(), max(as_of) FROM slo_status FINAL").result_rows
    assert [(str(m), a.replace(tzinfo=None), r) for m, a, r in months] == [
        ("2026-10-01", at("2026-11-01 00:00").replace(tzinfo=None), 0.35),
        ("2026-11-01", at("2026-11-02 08:00").replace(tzinfo=None), 0.98)]
    assert latest[0][0] == 1  # slo_status itself keeps only the newest
