"""Records to rows, and the sink's batch: what is stored, deduplicated and committed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from schemas.deadletter import Reason
from sinks.kafka_sink import Batch
from sinks.rows import COLUMNS, breach_rows, input_rows, instance_rows
from streams.validate import Limits, Rejection
from streams.verdict import Consumed, accepted_many

PRODUCED = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
STORED = datetime(2027, 6, 1, tzinfo=timezone.utc)  # long after: the verdict must not depend on it
TICKET = {
    "event_id": "e1", "occurred_at": "2026-11-27T11:59:00Z", "source": "desk", "ticket_id": "T1",
    "customer": "acme", "service": "checkout", "priority": "P2", "status": "open",
}


def record(value: dict, key: bytes | None = b"T1", offset: int = 0, partition: int = 0,
           at: datetime = PRODUCED) -> Consumed:
    return Consumed("sla.tickets", partition, offset, key, orjson.dumps(value), at)


def test_an_accepted_event_is_one_input_events_row_keyed_by_kind_customer_entity_and_id() -> None:
    ((table, key, row),) = input_rows("ticket", Limits())(record(TICKET, offset=7), STORED)
    assert (table, key) == ("input_events", ("ticket", "acme", "T1", "e1"))
    values = dict(zip(COLUMNS["input_events"], row))
    assert values["offset"] == 7 and values["ingested_at"] == STORED and values["entity_id"] == "T1"
    assert orjson.loads(values["payload"])["ticket_id"] == "T1"


def test_what_the_worker_dead_letters_is_not_stored() -> None:
    rows = input_rows("ticket", Limits())
    assert rows(record(TICKET, key=b"T2"), STORED) == []  # wrong key
    assert rows(record({**TICKET, "priority": 2}), STORED) == []  # wrong type
    assert rows(Consumed("sla.tickets", 0, 0, b"T1", b"{not json", PRODUCED), STORED) == []


def test_every_accepted_result_of_a_probe_batch_is_a_row_of_its_own() -> None:
    probe = {"event_id": "p1", "occurred_at": "2026-11-27T11:59:00Z", "source": "runner", "probe_id": "http",
             "service": "checkout", "region": "eu", "ok": True, "latency_ms": 80.0, "status_code": 200}
    batch = [probe, {**probe, "event_id": "p2", "latency_ms": -1}, {**probe, "event_id": "p3"},
             {**probe, "event_id": "p4", "service": "search"}]  # p2 invalid, p4 keyed by another service
    value = Consumed("sla.probes", 2, 40, b"checkout", orjson.dumps(batch), PRODUCED)
    rows = input_rows("probe", Limits())(value, STORED)
    assert [key for _, key, _ in rows] == [("probe", "", "checkout", "p1"), ("probe", "", "checkout", "p3")]
    values = [dict(zip(COLUMNS["input_events"], row)) for _, _, row in rows]
    assert {(v["partition"], v["offset"]) for v in values} == {(2, 40)}
    assert [orjson.loads(v["payload"])["event_id"] for v in values] == ["p1", "p3"]
    wrong = accepted_many("probe", value, Limits())[3]
    assert isinstance(wrong, Rejection) and wrong.reason == Reason.wrong_key and wrong.detail.startswith("result 4 of 4:")


def test_a_batch_drops_copies_and_commits_past_every_record_read() -> None:
    batch = Batch()
    rows = input_rows("ticket", Limits())
    for offset in (3, 4):  # the same event twice
        batch.add(record(TICKET, offset=offset), rows, STORED)
    batch.add(record({**TICKET, "event_id": "e2"}, offset=9, partition=1), rows, STORED)
    batch.add(record(TICKET, key=b"bad", offset=5), rows, STORED)  # refused: stored nowhere, still passed
    assert sorted(batch.tables["input_events"]) == [("ticket", "acme", "T1", "e1"), ("ticket", "acme", "T1", "e2")]
    assert batch.tables["input_events"][("ticket", "acme", "T1", "e1")][8] == 3  # the first copy is kept
    assert batch.next_offsets == {("sla.tickets", 0): 6, ("sla.tickets", 1): 10}
    assert batch.records == 4 and batch.skipped == 0


def test_an_output_record_that_cannot_be_read_is_skipped_and_counted() -> None:
    batch = Batch()
    batch.add(Consumed("sla.breaches", 2, 41, None, b'{"kind": "ticket"}', PRODUCED), breach_rows, STORED)
    assert batch.tables == {} and batch.skipped == 1
    assert batch.next_offsets == {("sla.breaches", 2): 42}


def test_an_entity_status_record_is_one_row_per_instance() -> None:
    common = {"kind": "ticket", "entity_id": "T1", "contract_id": "gold", "customer": "acme", "service": "checkout",
              "version": 3, "level": "P2", "state": "running", "started_at": "2026-11-27T11:00:00Z",
              "stopped_at": None, "target_s": 3600.0, "elapsed_s": 60.0, "deadline": "2026-11-27T12:00:00Z",
              "breached": False, "outcome": None, "as_of": "2026-11-27T11:01:00Z"}
    instances = [{**common, "instance_id": f"ticket:T1:gold:{m}", "metric": m} for m in ("response", "resolution")]
    value = {"kind": "ticket", "entity_id": "T1", "instances": instances}
    rows = instance_rows(Consumed("sla.instances", 2, 7, b"ticket:T1", orjson.dumps(value), PRODUCED), STORED)
    assert [(table, key) for table, key, _ in rows] == [("sla_instance_status", (2, 7, 0)), ("sla_instance_status", (2, 7, 1))]
    assert [dict(zip(COLUMNS["sla_instance_status"], row))["metric"] for _, _, row in rows] == ["response", "resolution"]
