"""OLAs live, through the real broker into embedded ClickHouse (targets of seconds).

Policy (tests/data/live/ola_policy.yaml): contract fast, P1 response 4s, resolution 10s;
group desk P1 response 2s, resolution 6s; group network P1 resolution 4s, warning at 50 %.
Worked out by hand (offsets in seconds from t0):
- O1: 0 new with desk; 1 desk replies; 3 handed to network; 4 back to desk; 6 solved.
  desk's response ends at its reply: met, 1s. desk's resolution: 0-3 and 4-6, 5s: met at 6.
  network (no response target for P1): resolution 3-4, 1s: met at 6. fast: response met at 1,
  resolution met at 6 (6s: desk held it 5s of them, network 1s).
- O2: 0 new with network, nothing more. network's resolution: warning at 2, breached at 4
  (fired by ticks); fast: response breached at 4, resolution at 10, all 10s with network.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from tests.conftest import clickhouse
from tests.integration.helpers import send
from tests.integration.test_sla_live import breach_records, start_time, wait_for_members, wait_for_outcome

POLICY = Path(__file__).resolve().parents[1] / "data" / "live" / "ola_policy.yaml"
STEPS = [("O1", 0, "new", False, "desk"), ("O1", 1, "open", True, "desk"), ("O1", 3, "open", False, "network"),
         ("O1", 4, "open", False, "desk"), ("O1", 6, "solved", False, "desk"), ("O2", 0, "new", False, "network")]
EXPECTED = {  # (instance, type, offset of `at`)
    ("ticket:O1:fast:response", "met", 1), ("ticket:O1:fast:resolution", "met", 6),
    ("ticket:O1:ola:group:desk:response", "met", 1), ("ticket:O1:ola:group:desk:resolution", "met", 6),
    ("ticket:O1:ola:group:network:resolution", "met", 6),
    ("ticket:O2:fast:response", "breached", 4), ("ticket:O2:fast:resolution", "breached", 10),
    ("ticket:O2:ola:group:network:resolution", "warning", 2), ("ticket:O2:ola:group:network:resolution", "breached", 4),
}


def records(t0: datetime) -> list[tuple[str, str, bytes]]:
    return [("ticket", tid, orjson.dumps({
        "event_id": f"{tid}-{n}", "occurred_at": (t0 + timedelta(seconds=offset)).isoformat(), "source": "test",
        "ticket_id": tid, "customer": "acme", "service": "checkout", "priority": "P1", "status": status,
        "public_reply": reply, "assignment_group": group})) for n, (tid, offset, status, reply, group) in enumerate(STEPS)]


def test_ola_lifecycle_events_and_views(run) -> None:
    worker = run.worker(SLA_POLICY_FILE=str(POLICY))
    wait_for_members(run, worker, 1)
    t0 = start_time()
    send(run.settings, records(t0))
    wait_for_outcome(run, worker, len(EXPECTED))
    worker.stop()
    published = {r["event_id"]: r for r in breach_records(run)}
    assert {(r["instance_id"], r["type"], datetime.fromisoformat(r["at"]) - t0) for r in published.values()} == {
        (i, t, timedelta(seconds=s)) for i, t, s in EXPECTED}
    assert {r["ola"] for r in published.values() if ":ola:" in r["instance_id"]} == {"group:desk", "group:network"}

    run.store(SLA_POLICY_FILE=str(POLICY))
    with clickhouse(run.chdb_path) as client:
        def rows(sql: str) -> set[tuple]:
            return {tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in client.query(sql).result_rows}

        # Customer-facing tables hold the customer SLA alone; the OLA tables the rest.
        assert {r[0] for r in rows("SELECT instance_id FROM breaches FINAL")} == {
            i for i, _, _ in EXPECTED if ":ola:" not in i}
        assert {r[0] for r in rows("SELECT instance_id FROM sla_instance_status")} == {
            "ticket:O1:fast:response", "ticket:O1:fast:resolution", "ticket:O2:fast:response",
            "ticket:O2:fast:resolution"}
        assert rows("SELECT instance_id, type, at FROM ola_events") == {
            (i, t, (t0 + timedelta(seconds=s)).replace(tzinfo=None)) for i, t, s in EXPECTED if ":ola:" in i}
        assert rows("SELECT ola, metric, priority, met, missed, attainment FROM ola_attainment_monthly") == {
            ("group:desk", "response", "P1", 1, 0, 1.0), ("group:desk", "resolution", "P1", 1, 0, 1.0),
            ("group:network", "resolution", "P1", 1, 0, 1.0)}
        assert rows("SELECT instance_id, state, outcome, elapsed_s FROM ola_instance_status FINAL") == {
            ("ticket:O1:ola:group:desk:response", "stopped", "met", 1.0),
            ("ticket:O1:ola:group:desk:resolution", "stopped", "met", 5.0),
            ("ticket:O1:ola:group:network:resolution", "stopped", "met", 1.0),
            ("ticket:O2:ola:group:network:resolution", "running", None, 4.0)}
        assert rows("SELECT instance_id, assignment_group, held_s FROM sla_time_split") == {
            ("ticket:O1:fast:response", "desk", 1.0), ("ticket:O1:fast:resolution", "desk", 5.0),
            ("ticket:O1:fast:resolution", "network", 1.0), ("ticket:O2:fast:response", "network", 4.0),
            ("ticket:O2:fast:resolution", "network", 10.0)}
        assert rows("SELECT ticket_id, path, handoffs, returns FROM ticket_handoffs") == {
            ("O1", ("desk", "network", "desk"), 2, 1), ("O2", ("network",), 0, 0)}
        assert rows("SELECT assignment_group, handed_on, came_back, tickets FROM group_handoffs") == {
            ("desk", 1, 1, 1), ("network", 1, 0, 2)}
