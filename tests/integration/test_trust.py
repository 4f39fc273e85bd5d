"""What producers really do, through the real broker and embedded ClickHouse: ticket ids
reused by another customer, skewed producer clocks, producer-set record timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from streams.portal.queries import Db, instance_inputs, instance_owner
from tests.conftest import clickhouse
from tests.integration import scenario
from tests.integration.helpers import send
from tests.integration.test_sla_live import breach_records, start_time, wait_for_members, wait_for_outcome


def shared_ticket(at: datetime, eid: str, customer: str, status: str, reply: bool = False) -> tuple[str, str, bytes]:
    value = {"event_id": eid, "occurred_at": at.isoformat(), "source": f"{customer}-desk", "customer": customer,
             "service": "checkout", "ticket_id": "T-SHARED", "priority": "P1", "status": status,
             "public_reply": reply}
    return "ticket", "T-SHARED", orjson.dumps(value)


def test_a_ticket_id_reused_by_another_customer_is_another_ticket(run) -> None:
    worker = run.worker(SLA_POLICY_FILE=str(scenario.POLICY))
    wait_for_members(run, worker, 1)
    t0 = start_time()
    send(run.settings, [
        shared_ticket(t0, "acme-1", "acme", "new"),
        shared_ticket(t0 + timedelta(seconds=1), "globex-1", "globex", "new"),
        shared_ticket(t0 + timedelta(seconds=2), "acme-2", "acme", "open", reply=True),
    ])
    # acme: response met at +2, resolution warned at +4 and breached at +8; globex: both breach.
    want = {("ticket:T-SHARED:fast:response", "met", 2), ("ticket:T-SHARED:fast:resolution", "warning", 4),
            ("ticket:T-SHARED:fast:resolution", "breached", 8),
            ("ticket:T-SHARED:globex-fast:response", "breached", 5),
            ("ticket:T-SHARED:globex-fast:resolution", "breached", 9)}
    wait_for_outcome(run, worker, len(want))
    worker.stop()
    got = {(r["instance_id"], r["type"], datetime.fromisoformat(r["at"])) for r in breach_records(run)}
    assert got == {(i, t, t0 + timedelta(seconds=s)) for i, t, s in want}

    run.store(SLA_POLICY_FILE=str(scenario.POLICY))
    with clickhouse(run.chdb_path) as client:
        instances = client.query("SELECT instance_id, customer, state FROM sla_instances_current "
                                 "ORDER BY instance_id").result_rows
        db = Db(client)
        inputs = {}
        for instance in ("ticket:T-SHARED:fast:response", "ticket:T-SHARED:globex-fast:response"):
            owner = instance_owner(db, instance)
            assert owner is not None
            inputs[owner[0]] = [(row[1], row[2]) for row in instance_inputs(db, *owner).rows]
    assert instances == [("ticket:T-SHARED:fast:resolution", "acme", "running"),
                         ("ticket:T-SHARED:fast:response", "acme", "stopped"),
                         ("ticket:T-SHARED:globex-fast:resolution", "globex", "running"),
                         ("ticket:T-SHARED:globex-fast:response", "globex", "running")]
    # The portal page of each customer's instance lists that customer's input events only.
    assert inputs == {"acme": [("acme-1", "acme-desk"), ("acme-2", "acme-desk")],
                      "globex": [("globex-1", "globex-desk")]}
