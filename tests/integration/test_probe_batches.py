"""Probe batch records through the real broker, the worker's probe feed and the sink into
embedded ClickHouse, with a SIGKILL of the worker in the middle: every valid result counts
once in its minute, every invalid one is dead-lettered with its place in the batch."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import orjson

from streams.kafka_util import read_all, topic_size, worker_lag
from tests.conftest import clickhouse
from tests.integration.helpers import send

POLICY = """
contracts:
  - id: gold
    customer: acme
    services: [alpha, beta, gamma]
    probes:
      availability: {objective: 0.99}
      latency: {threshold_ms: 300, objective: 0.95}
"""
SERVICES = ("alpha", "beta", "gamma")
MINUTES = 12
START = (datetime.now(timezone.utc) - timedelta(days=2)).replace(second=0, microsecond=0)


def result(service: str, second: int) -> dict:
    return {"event_id": f"{service}-{second}", "occurred_at": (START + timedelta(seconds=second)).isoformat(),
            "source": "runner", "probe_id": "http", "service": service, "region": "eu",
            "ok": second % 37 != 0, "latency_ms": 500.0 if second % 11 == 0 else 50.0, "status_code": 200}


def workload() -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """Per 10 s window and service, one batch record of its ten results (one result a second);
    every 7th batch also holds an invalid result. Then two results a service after the
    window, so that the watermark closes all twelve minutes. Returns the records and the
    details the invalid results must be dead-lettered with."""
    records, invalid = [], []
    for n, window in enumerate(range(0, MINUTES * 60, 10)):
        for s, service in enumerate(SERVICES):
            batch = [result(service, second) for second in range(window, window + 10)]
            if (n * 3 + s) % 7 == 0:
                batch.insert(4, {**result(service, window), "event_id": f"bad-{n}-{s}", "latency_ms": -1.0})
                invalid.append("result 5 of 11: latency_ms: Input should be greater than or equal to 0 (got -1.0)")
            records.append(("probe", service, orjson.dumps(batch)))
    for service in SERVICES:
        after = [result(service, MINUTES * 60 + 120 + i) for i in (0, 1)]
        records.append(("probe", service, orjson.dumps(after)))
    return records, invalid


def expected_minutes() -> set[tuple]:
    """(service, minute, total, good, latency sum, latency max, fast) of the twelve minutes."""
    acc: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for service in SERVICES:
        for second in range(MINUTES * 60):
            acc[(service, START + timedelta(minutes=second // 60))].append(result(service, second))
    return {(service, minute, len(rs), sum(r["ok"] for r in rs), sum(r["latency_ms"] for r in rs),
             max(r["latency_ms"] for r in rs), sum(r["latency_ms"] <= 300 for r in rs))
            for (service, minute), rs in acc.items()}


def test_batches_count_each_result_once_through_a_sigkill(run, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"SLA_POLICY_FILE": str(policy), "PROBE_IDLE_S": "600", "STORE": "rocksdb://"}
    records, invalid = workload()
    cut = len(records) * 3 // 5
    send(run.settings, records[:cut])
    first = run.worker(**env)
    probes = [run.settings.topic_probes]
    first.wait_until(lambda: topic_size(run.settings, run.settings.topic_minutes) >= 9
                     and worker_lag(run.settings, probes) < cut, 120, "some minutes closed and committed", every=0.2)
    first.kill()
    send(run.settings, records[cut:])
    s = run.settings
    second = run.worker(**env, supervised=True)
    second.wait_until(lambda: len({(r["service"], r["minute"]) for r in
                                   (orjson.loads(m.value()) for m in read_all(s, s.topic_minutes))})
                      >= len(SERVICES) * MINUTES, 180, "every minute closed", every=1.0)
    second.stop()
    run.store(**env)

    with clickhouse(run.chdb_path) as client:
        minutes = client.query("SELECT service, minute, total, good, latency_sum_ms, latency_max_ms, fast "
                               "FROM probe_minutes FINAL").result_rows
        stored = client.command("SELECT count() FROM input_events FINAL WHERE kind = 'probe'")
    assert {(sv, m.replace(tzinfo=timezone.utc), t, g, ls, lm, f[0]) for sv, m, t, g, ls, lm, f in minutes} \
        == expected_minutes()
    assert stored == len(SERVICES) * (MINUTES * 60 + 2)  # every valid result, none of the invalid ones
    letters = [orjson.loads(m.value()) for m in read_all(s, s.topic_deadletter)]
    assert {letter["reason"] for letter in letters} == {"invalid"}
    # The records read again after the kill may be dead-lettered again: each detail once or more.
    details = [letter["detail"] for letter in letters]
    assert set(details) == set(invalid) and len(details) >= len(invalid)
