"""After a live run through the broker into ClickHouse, `slastream whatif` with the same
policy changes nothing, and its figures equal the views'."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from tests.conftest import clickhouse
from tests.integration import scenario
from tests.integration.helpers import send
from tests.integration.test_sla_live import breach_records, start_time, wait_for_outcome

PROBES = """
    probes:
      availability: {objective: 0.99, window: month}
    credits:
      - {below: 0.999, credit: 10}
      - {below: 0.99, credit: 25}
"""


def probe_records(now: datetime) -> list[tuple[str, str, bytes]]:
    """60 results over two minutes ending 90 s ago, every twentieth failed."""
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=3)
    return [("probe", "checkout", orjson.dumps({
        "event_id": f"p{i}", "occurred_at": (start + timedelta(seconds=2 * i)).isoformat(), "source": "t",
        "probe_id": "p", "service": "checkout", "region": "eu", "ok": i % 20 != 3, "latency_ms": 90.0,
        "status_code": 200})) for i in range(60)]


def test_whatif_with_the_live_policy_reproduces_the_live_tables(run) -> None:
    policy = run.tmp / "policy.yaml"
    policy.write_text(scenario.POLICY.read_text().rstrip() + "\n" + PROBES)
    worker = run.worker(SLA_POLICY_FILE=str(policy), PROBE_IDLE_S="3")
    send(run.settings, scenario.records(start_time()) + probe_records(datetime.now(timezone.utc)))
    # Every SLA fact of the scenario (the breach topic also carries the probes' SLO alerts),
    # and every input acknowledged.
    worker.wait_until(lambda: len({r["event_id"] for r in breach_records(run) if r["kind"] != "slo"})
                      >= len(scenario.EXPECTED_EVENTS), 90, "the scenario's lifecycle events")
    wait_for_outcome(run, worker, len(scenario.EXPECTED_EVENTS))
    worker.stop()
    run.store(SLA_POLICY_FILE=str(policy))

    out = run.tmp / "whatif"
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "whatif", "--policy", str(policy), "--proposed", str(policy),
         "--check", "--csv", str(out)],
        capture_output=True, text=True, timeout=300, env={**run.env, "PYTHONPATH": str(Path.cwd())},
    )
    assert result.returncode == 0, result.stderr
    assert "0 differences" in result.stderr and "reproduces the live tables" in result.stderr

    sla = list(csv.DictReader((out / "sla.csv").open()))
    probes = list(csv.DictReader((out / "probes.csv").open()))
    with clickhouse(run.chdb_path) as client:
        met, missed, breached, n = client.query(
            "SELECT countIf(outcome = 'met'), countIf(outcome = 'missed'), countIf(breached), count() "
            "FROM sla_instances_current").result_rows[0]
        (availability, credit), = client.query(
            "SELECT availability, credit_percent FROM service_credits_monthly WHERE service = 'checkout'").result_rows
    assert sum(int(r["met current"]) for r in sla) == met == 4 and sum(int(r["missed current"]) for r in sla) == missed
    assert sum(int(r["breached current"]) for r in sla) == breached and sum(int(r["instances current"]) for r in sla) == n
    (row,) = probes
    assert float(row["availability current"]) == availability == 57 / 60 and float(row["credit % current"]) == credit == 25
