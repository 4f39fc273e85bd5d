"""Ingest through the real broker into embedded ClickHouse, with duplicates, bad input and a crash."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
from confluent_kafka import Producer

from sinks.kafka_sink import ClickHouseSink, insert_rows, roles
from sinks.migrate import migrate
from streams.kafka_util import lag, read_all, topic_size
from streams.tools.synthetic import bad_records
from tests.conftest import clickhouse
from tests.integration.helpers import send

NOW = datetime.now(timezone.utc).replace(microsecond=0)
CEST = timezone(timedelta(hours=2))


def valid_events(n: int) -> list[tuple[str, str, dict]]:
    """n events of each kind: (kind, key, value); ticket times carry a +02:00 offset."""
    out = []
    for i in range(n):
        at = NOW - timedelta(seconds=10 * i)
        out.append(("ticket", f"T{i % 40}", {
            "event_id": f"t-{i}", "occurred_at": at.astimezone(CEST).isoformat(), "source": "desk",
            "ticket_id": f"T{i % 40}", "customer": "acme", "service": "checkout",
            "priority": "P2", "status": "open", "public_reply": i % 3 == 0,
        }))
        out.append(("incident", f"I{i % 25}", {
            "event_id": f"i-{i}", "occurred_at": at.isoformat(), "source": "pager",
            "incident_id": f"I{i % 25}", "service": "search", "customer": "globex",
            "severity": "SEV2", "status": "triggered",
        }))
        out.append(("probe", "search", {
            "event_id": f"p-{i}", "occurred_at": at.isoformat(), "source": "probes",
            "probe_id": "search-eu", "service": "search", "region": "eu-west",
            "ok": i % 7 != 0, "latency_ms": 100.0 + i, "status_code": 200,
        }))
    return out


def stored_keys(run) -> tuple[int, Counter]:
    with clickhouse(run.chdb_path) as client:
        raw = client.command("SELECT count() FROM events_raw")
        rows = client.query("SELECT kind, event_id FROM events").result_rows
    return raw, Counter(rows)


def test_valid_duplicate_and_bad_records(run) -> None:
    n = 150
    events = valid_events(n)
    encoded = [(k, key, orjson.dumps(v)) for k, key, v in events]
    bad = list(bad_records(NOW, run.settings.max_event_bytes))

    worker = run.worker()
    send(run.settings, encoded)
    send(run.settings, encoded)  # every event a second time
    send(run.settings, [(k, key, raw) for k, key, raw, _ in bad])
    worker.wait_drained(run.settings)
    worker.stop()
    run.store()

    _, keys = stored_keys(run)
    assert sum(keys.values()) == 3 * n
    assert set(keys) == {(k, v["event_id"]) for k, _, v in events}
    assert max(keys.values()) == 1

    with clickhouse(run.chdb_path) as client:
        occurred, payload = client.query(
            "SELECT occurred_at, payload FROM events WHERE event_id = 't-5'"
        ).result_rows[0]
    assert occurred.replace(tzinfo=timezone.utc) == NOW - timedelta(seconds=50)
    assert orjson.loads(payload)["occurred_at"].endswith("Z")  # normalised to UTC

    dead = read_all(run.settings, run.settings.topic_deadletter)
    assert len(dead) == len(bad)
    got = Counter(orjson.loads(m.value())["reason"] for m in dead)
    assert got == Counter(reason for *_, reason in bad)
    originals = {hashlib.sha256(raw).hexdigest(): raw for *_, raw, _ in bad}
    for message in dead:
        record = orjson.loads(message.value())
        original = originals[record["payload_sha256"]]
        kept = base64.b64decode(record["payload_b64"])
        assert kept == original if not record["truncated"] else (original.startswith(kept) and len(kept) < len(original))
        assert record["topic"] in run.settings.input_topics.values()
        assert record["offset"] >= 0 and record["detail"]
        assert dict(message.headers())["slastream.reason"].decode() == record["reason"]


def test_sigkill_mid_run_loses_and_doubles_nothing(run) -> None:
    n = 20_000
    events = valid_events(n)
    send(run.settings, [(k, key, orjson.dumps(v)) for k, key, v in events])
    total = 3 * n
    topics = list(run.settings.input_topics.values())
    group = run.settings.sink_group

    worker, sink = run.worker(), run.sink(BATCH_ROWS="500")  # small batches: many commits to crash between
    sink.wait_until(lambda: lag(run.settings, group, topics) < total, 120, "a first commit of the sink")
    sink.kill()
    worker.kill()
    left = lag(run.settings, group, topics)
    assert 0 < left < total, "the crash must happen mid-run for this test to mean anything"

    worker = run.worker()
    worker.wait_drained(run.settings)
    worker.stop()
    run.store()

    raw, keys = stored_keys(run)
    assert sum(keys.values()) == total
    assert max(keys.values()) == 1
    assert raw >= total  # redelivered copies may sit in the table until merged; the view hides them


def test_a_sink_killed_between_insert_and_commit_loses_nothing_and_counts_nothing_twice(run) -> None:
    """Deterministically the moment a random SIGKILL rarely hits: every row of a batch is in
    ClickHouse, its offsets are not committed. The next sink reads the records again."""
    events = valid_events(100)
    send(run.settings, [(k, key, orjson.dumps(v)) for k, key, v in events])
    worker = run.worker()  # writes the probe results it accepts as rows for the sink
    worker.wait_drained(run.settings)
    worker.stop()
    s = run.settings
    topics = [s.topic_tickets, s.topic_incidents, s.topic_probe_events]
    records = sum(topic_size(s, t) for t in topics)
    group = s.sink_group
    with clickhouse(run.chdb_path) as client:
        migrate(client)
        killed = ClickHouseSink(s, client, roles(s))
        killed._consumer.subscribe(topics)
        while killed.batch.records < records:
            killed._read(killed._consumer.consume(1000, timeout=1.0))
        for table, rows in killed.batch.tables.items():  # what _store does before it commits
            assert insert_rows(client, table, list(rows.values()), s, lambda: False)
        for table, blocks in killed.batch.blocks.items():
            assert insert_rows(client, table, b"\n".join(blocks), s, lambda: False)
        killed._consumer.close()  # gone without a commit
        assert lag(s, group, topics) == records

        again = ClickHouseSink(run.settings, client, roles(run.settings))
        stop = threading.Event()
        thread = threading.Thread(target=again.run, args=(stop.is_set,))
        thread.start()
        try:
            deadline = time.monotonic() + 120
            while lag(run.settings, group, topics) > 0 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            stop.set()
            thread.join(60)
        assert again.records_stored == records  # every record read and stored a second time
        rows = client.query("SELECT kind, event_id FROM events").result_rows
    assert Counter(rows) == Counter((kind, value["event_id"]) for kind, _, value in events)  # each once


def test_minute_and_status_records_are_stored_as_published_and_an_unreadable_one_is_skipped(run) -> None:
    """Minute and status records go to ClickHouse as they are (JSONEachRow): a minute makes
    one probe_minutes row and one slo_minutes row per contract; a record ClickHouse cannot
    read (from another version) is left out and logged, the rest of its batch is stored."""
    s = run.settings
    minute = {"schema_version": 1, "service": "search", "minute": "2026-11-27T10:00:00Z", "total": 6, "good": 5,
              "latency_sum_ms": 600.0, "latency_max_ms": 350.0, "fast_le_ms": [300.0], "fast": [5],
              "contracts": [{"contract_id": "gold", "customer": "acme", "fast": 5, "excluded": False},
                            {"contract_id": "basic", "customer": "globex", "fast": None, "excluded": True}]}
    status = {"contract_id": "gold", "customer": "acme", "service": "search", "sli": "availability",
              "objective": 0.999, "window": "30d", "as_of": "2026-11-27T10:01:00Z", "error_rate_5m": 0.1,
              "error_rate_30m": None, "error_rate_1h": None, "error_rate_6h": None, "error_rate_1d": None,
              "error_rate_3d": None, "error_rate_window": 0.1, "burn_rate_1h": 100.0, "budget_remaining": -99.0,
              "firing": ["page-fast"]}
    producer = Producer(s.kafka_client_config())
    for topic, value in ((s.topic_minutes, orjson.dumps(minute)),
                         (s.topic_minutes, orjson.dumps({**minute, "minute": "not a time"})),
                         (s.topic_minutes, orjson.dumps({**minute, "minute": "2026-11-27T10:01:00Z"})),
                         (s.topic_slo_status, orjson.dumps(status))):
        producer.produce(topic, value, key=b"search")
    assert producer.flush(30) == 0
    run.store()
    with clickhouse(run.chdb_path) as client:
        minutes = client.query("SELECT minute, total, good, fast FROM probe_minutes FINAL ORDER BY minute").result_rows
        contracts = client.query("SELECT contract_id, customer, minute, total, good, fast, excluded FROM slo_minutes "
                                 "FINAL ORDER BY minute, contract_id").result_rows
        statuses = client.query("SELECT sli, as_of, error_rate_30m, firing FROM slo_status FINAL").result_rows
    ten = datetime(2026, 11, 27, 10, 0)
    assert minutes == [(ten, 6, 5, [5]), (ten + timedelta(minutes=1), 6, 5, [5])]
    assert contracts == [(c, cu, ten + timedelta(minutes=m), 6, 5, f, x) for m in (0, 1)
                         for c, cu, f, x in (("basic", "globex", None, True), ("gold", "acme", 5, False))]
    assert statuses == [("availability", ten + timedelta(minutes=1), None, ["page-fast"])]
    assert "a record for probe_minutes_in cannot be stored and is skipped" in run.workers[-1].log_path.read_text()
