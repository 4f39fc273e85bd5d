"""Probe SLOs through the real broker into embedded ClickHouse: a month compressed in time.

Expectations come from probe_month.py, computed from the generated events alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.kafka_util import read_all, topic_size
from tests.conftest import clickhouse
from tests.integration import probe_month as month
from tests.integration.helpers import send


def _wait(run, worker, runs: int, alerts_runs: int | None = None) -> None:
    """Until the `runs`-th copy of every October minute and the `alerts_runs`-th (by default
    the `runs`-th) of every alert is on its topic (the minutes after the month's last results
    stay open: they close by event time)."""
    s = run.settings
    minutes = len(month.minute_rows()) * runs
    alerts = len(month.expected_alerts()) * (runs if alerts_runs is None else alerts_runs)

    def done() -> bool:
        return topic_size(s, s.topic_minutes) >= minutes and topic_size(s, s.topic_breaches) >= alerts

    worker.wait_until(done, 240, "a month of minutes and alerts published", every=1.0)


def _values(run, topic: str) -> list[bytes]:
    return [m.value() for m in read_all(run.settings, topic)]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc)


def _tables(client) -> dict[str, object]:
    """Everything the replay must leave unchanged."""
    return {
        name: sorted(client.query(sql).result_rows)
        for name, sql in {
            "minutes": "SELECT service, minute, total, good, latency_sum_ms, latency_max_ms, fast FROM probe_minutes FINAL",
            "hours": "SELECT * FROM probe_hours",
            "days": "SELECT * FROM probe_days",
            "slo_minutes": "SELECT * FROM slo_minutes FINAL",
            "alerts": "SELECT event_id, service, ifNull(sli, ''), alert, type, at FROM slo_alerts FINAL",
            "attainment": "SELECT * FROM slo_attainment_monthly",
            "credits": "SELECT * FROM service_credits_monthly",
            "status": "SELECT service, sli, as_of, error_rate_1d, budget_remaining FROM slo_status FINAL",
        }.items()
    }


def test_a_month_of_probes_and_its_replay(run, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(month.POLICY)
    env = {"SLA_POLICY_FILE": str(policy), "PROBE_IDLE_S": "600"}  # the month's end closes by event time
    send(run.settings, month.records())
    first = run.worker(**env)
    _wait(run, first, runs=1)
    first.stop()
    run.store(**env)

    records = [orjson.loads(v) for v in _values(run, run.settings.topic_breaches)]
    alerts = {(r["service"], r["sli"] or "", r["alert"], r["type"], datetime.fromisoformat(r["at"])) for r in records}
    assert alerts == month.expected_alerts()
    assert len({r["event_id"] for r in records}) == len(alerts)  # one id per alert change

    with clickhouse(run.chdb_path) as client:
        before = _tables(client)
        raw = client.command("SELECT count() FROM events FINAL")
    assert {(s, _utc(m), t, g, ls, lm, f[0]) for s, m, t, g, ls, lm, f in before["minutes"]} == month.minute_rows()
    assert {(s, sli, a, t, at.replace(tzinfo=timezone.utc)) for _, s, sli, a, t, at in before["alerts"]} == alerts
    expected = month.monthly()
    attainment = {row[2]: row for row in before["attainment"]}
    for service, (total, good, fast, excluded, availability, latency, credit) in expected.items():
        row = attainment[service]
        assert row[:8] == ("gold", "acme", service, row[3], total, good, fast, excluded)
        assert str(row[3]) == "2026-10-01"
        assert row[8] == availability and row[9] == latency
    assert {(r[2], str(r[3]), r[5]) for r in before["credits"]} == {
        (s, "2026-10-01", e[6]) for s, e in expected.items()
    }
    assert {(s, _utc(h), *rest) for s, h, *rest in before["hours"]} == month.rollup(
        lambda at: at.replace(minute=0))
    assert set(before["days"]) == month.rollup(lambda at: at.date())
    # Latest status per (contract, service, SLI), as of the end of the service's last October
    # minute with results: the last day had no failures; October's budget is what is left.
    statuses = {(s, sli): (_utc(at), e1d, left) for s, sli, at, e1d, left in before["status"]}
    last = {p.service: p.at for p in month.probes()}
    assert statuses == {
        (s, sli): (last[s].replace(second=0) + timedelta(minutes=1), 0.0, pytest.approx(
            1 - (1 - expected[s][4 if sli == "availability" else 5]) / (1 - month.OBJECTIVES[sli])))
        for s in month.SERVICES for sli in month.OBJECTIVES
    }
    assert raw == len(month.records())  # every valid result is in the raw log, the late one too
    (late,) = [orjson.loads(v) for v in _values(run, run.settings.topic_deadletter)]
    assert late["reason"] == "late" and "2026-10-02T12:00:30" in late["detail"]

    # Replay the same input with a new consumer group (new state) into the same ClickHouse. Its
    # minutes go out again; its alerts do not: their ids are on the breach topic already (read
    # at its start, OUTPUT_DEDUPE_S back: an hour here, however slow the first run was).
    replay = run.worker(**env, APP_ID=run.settings.app_id + "-replay", DATA_DIR=str(tmp_path / "replay"),
                        OUTPUT_DEDUPE_S="3600")
    _wait(run, replay, runs=2, alerts_runs=1)
    replay.stop()
    assert topic_size(run.settings, run.settings.topic_breaches) == len(alerts)
    run.store(**env)
    with clickhouse(run.chdb_path) as client:
        assert _tables(client) == before


def test_sigkill_mid_month_changes_nothing(run, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(month.POLICY)
    env = {"SLA_POLICY_FILE": str(policy), "PROBE_IDLE_S": "600", "STORE": "rocksdb://"}
    records = month.records()
    cut = len(records) * 2 // 3  # the rest comes after the kill: however fast, the first worker cannot finish
    send(run.settings, records[:cut])
    first = run.worker(**env)
    first.wait_until(lambda: topic_size(run.settings, run.settings.topic_minutes) >= 3000, 120, "a third of the month",
                     every=0.2)
    first.kill()
    assert topic_size(run.settings, run.settings.topic_minutes) < len(month.minute_rows())
    send(run.settings, records[cut:])

    second = run.worker(**env, supervised=True)
    s = run.settings
    second.wait_until(
        lambda: len({(r["service"], r["minute"]) for r in map(orjson.loads, _values(run, s.topic_minutes))})
        >= len(month.minute_rows()),
        240, "the whole month after the restart", every=2.0)
    second.stop()
    run.store(**env)

    records = [orjson.loads(v) for v in _values(run, s.topic_breaches)]
    alerts = {(r["service"], r["sli"] or "", r["alert"], r["type"], datetime.fromisoformat(r["at"])) for r in records}
    assert alerts == month.expected_alerts()
    assert len({r["event_id"] for r in records}) == len(alerts)  # copies after the crash keep their ids
    with clickhouse(run.chdb_path) as client:
        tables = _tables(client)
    assert {(s, _utc(m), t, g, ls, lm, f[0]) for s, m, t, g, ls, lm, f in tables["minutes"]} == month.minute_rows()
    assert {(r[2], str(r[3]), r[5]) for r in tables["credits"]} == {
        (service, "2026-10-01", e[6]) for service, e in month.monthly().items()
    }
    assert set(tables["days"]) == month.rollup(lambda at: at.date())
