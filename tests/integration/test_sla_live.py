"""Live SLA tracking through the real broker into embedded ClickHouse (deadlines of seconds).

The scenario and its outcome, worked out by hand, are in scenario.py.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.kafka_util import group_assignments, read_all, worker_lag
from streams.topics import ticks_topic
from tests.conftest import clickhouse
from tests.integration import scenario
from tests.integration.helpers import send


def start_time() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)


def breach_records(run) -> list[dict]:
    return [orjson.loads(m.value()) for m in read_all(run.settings, run.settings.topic_breaches)]


def wait_for_outcome(run, worker, distinct_events: int, timeout: float = 90) -> None:
    """Until every expected lifecycle event is on the topic and every input is processed."""
    worker.wait_until(
        lambda: len({r["event_id"] for r in breach_records(run)}) >= distinct_events
        and worker_lag(run.settings, list(run.settings.input_topics.values())) == 0,
        timeout, "all lifecycle events published",
    )


def wait_for_members(run, worker, n: int) -> None:
    worker.wait_until(lambda: len(group_assignments(run.settings, run.settings.app_id)) == n, 60, f"{n} members")


def check_outcome(run, t0: datetime, prefixes: list[str]) -> None:
    run.store(SLA_POLICY_FILE=str(scenario.POLICY))
    events = breach_records(run)
    by_id = {r["event_id"]: r for r in events}
    want = set().union(*(scenario.expected_events(t0, p) for p in prefixes))
    got = {(r["instance_id"], r["type"], datetime.fromisoformat(r["at"])) for r in by_id.values()}
    assert got == want
    assert len(by_id) == len(want)  # one id per fact: nothing fired twice under another id

    with clickhouse(run.chdb_path) as client:
        rows = client.query("SELECT instance_id, type, at FROM sla_events").result_rows
        count = client.command("SELECT count() FROM breaches FINAL")
        instances = client.query(
            "SELECT instance_id, state, outcome, breached, elapsed_s, as_of FROM sla_instances_current"
        ).result_rows
    assert {(i, t, at.replace(tzinfo=timezone.utc)) for i, t, at in rows} == want
    assert count == len(want)
    want_rows = set().union(*(scenario.expected_instances(t0, p) for p in prefixes))
    assert {(i, st, oc, br, el, at.replace(tzinfo=timezone.utc)) for i, st, oc, br, el, at in instances} == want_rows


def test_scenario_on_one_worker(run) -> None:
    worker = run.worker(SLA_POLICY_FILE=str(scenario.POLICY))
    wait_for_members(run, worker, 1)
    t0 = start_time()
    send(run.settings, scenario.records(t0))
    wait_for_outcome(run, worker, len(scenario.EXPECTED_EVENTS))
    worker.stop()
    check_outcome(run, t0, [""])
    # T2 never got a second event: each of its facts is on the topic exactly once.
    t2 = [r for r in breach_records(run) if r["entity_id"] == "T2"]
    assert sorted(r["type"] for r in t2) == ["breached", "breached", "warning", "warning"]


def test_sigkill_mid_scenario_loses_nothing(run) -> None:
    first = run.worker(SLA_POLICY_FILE=str(scenario.POLICY), STORE="rocksdb://")
    wait_for_members(run, first, 1)
    t0 = start_time()
    send(run.settings, scenario.records(t0))
    first.wait_until(lambda: len(breach_records(run)) >= 5, 60, "the first lifecycle events")
    first.kill()
    assert len({r["event_id"] for r in breach_records(run)}) < len(scenario.EXPECTED_EVENTS)

    second = run.worker(SLA_POLICY_FILE=str(scenario.POLICY), STORE="rocksdb://", supervised=True)
    wait_for_outcome(run, second, len(scenario.EXPECTED_EVENTS))
    second.stop()
    check_outcome(run, t0, [""])


@pytest.mark.skipif(
    "MULTI_WORKER" not in os.environ,
    reason="run by `make chaos` (MULTI_WORKER set): unsupervised, so a worker that stops itself after a "
           "rebalance (skipped records) fails it; `make test` covers a second worker in test_chaos.py",
)
def test_two_workers_split_partitions_and_agree(run) -> None:
    prefixes = ["a-", "b-", "c-", "d-"]
    first, second = (run.worker(SLA_POLICY_FILE=str(scenario.POLICY), DATA_DIR=str(run.tmp / f"state-{i}"))
                     for i in (1, 2))
    wait_for_members(run, first, 2)
    members = group_assignments(run.settings, run.settings.app_id)
    ticks = ticks_topic(run.settings)
    assert all(any(topic == ticks for topic, _ in owned) for owned in members)  # both tick (and read) partitions
    t0 = start_time()
    send(run.settings, [r for p in prefixes for r in scenario.records(t0, p)])
    wait_for_outcome(run, first, len(scenario.EXPECTED_EVENTS) * len(prefixes))
    first.stop()
    second.stop()
    check_outcome(run, t0, prefixes)
