"""The sink's inserts against real embedded ClickHouse: what is retried and what stops it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from confluent_kafka import TopicPartition

from schemas.events import ProbeEvent
from sinks.clickhouse import passes_with_time
from sinks.kafka_sink import ClickHouseSink, SinkFailed, insert_rows, roles
from sinks.migrate import migrate
from sinks.rows import COLUMNS, block_rows, probe_event_rows
from streams.settings import Settings
from streams.verdict import Consumed, probe_rows
from tests.conftest import clickhouse


@pytest.mark.parametrize("exc, passes", [
    (DatabaseError("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)"), True),
    (DatabaseError("Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)"), True),
    (OperationalError("Error HTTPConnectionPool: Connection refused"), True),
    (DatabaseError("Code: 60. DB::Exception: Table default.breaches does not exist. (UNKNOWN_TABLE)"), False),
    (DatabaseError("Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)"), False),
    (TypeError("unsupported operand"), False),
])
def test_only_refusals_that_can_pass_are_retried(exc: Exception, passes: bool) -> None:
    assert passes_with_time(exc) is passes


def test_an_insert_that_cannot_pass_stops_the_sink_and_one_that_can_is_stored(tmp_path: Path) -> None:
    never = lambda: False  # noqa: E731
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        row = ("e1", "ticket:T1:gold:resolution", 1, "breached", datetime(2026, 11, 27, 10), "ticket", "T1", "gold",
               "acme", "checkout", "resolution", "P1", 3600.0, 3600.0, None, None)
        assert insert_rows(client, "breaches", [row], Settings(), never)
        assert client.command("SELECT count() FROM breaches") == 1
        client.command("DROP TABLE slo_status")
        with pytest.raises(SinkFailed, match="into slo_status failed .*UNKNOWN_TABLE.*retrying cannot help"):
            insert_rows(client, "slo_status", [tuple(0 for _ in COLUMNS["slo_status"])], Settings(), never)


def _row_before_0011(event: ProbeEvent, record: Consumed) -> bytes:
    """An accepted probe result as workers before migration 0011 wrote it: an input_events row."""
    return orjson.dumps({
        "kind": "probe", "event_id": event.event_id, "entity_id": event.service, "customer": "",
        "occurred_at": event.occurred_at, "source": event.source, "topic": record.topic,
        "partition": record.partition, "offset": record.offset, "payload": event.__dict__,
    }, option=orjson.OPT_UTC_Z)


def test_the_results_a_worker_accepted_become_input_events_rows_as_rows_of_earlier_workers_did(tmp_path: Path) -> None:
    """Probe results reach the sink as lines of many results (streams/verdict.py): ClickHouse
    splits them into input_events rows, each payload the result's text, ingested_at filled in
    by the table. The rows equal those of the earlier form (a row per result), still stored."""
    base = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    events = [ProbeEvent(event_id=f"r{i}", occurred_at=base + timedelta(microseconds=137_911 * i), source=f"s{i % 3}",
                         probe_id="http", service=f"svc-{i % 2}", region="eu", ok=i % 4 != 0,
                         latency_ms=80.0 + i / 7, status_code=200) for i in range(40)]
    now = datetime.now(timezone.utc)
    offsets = [40 + i // 3 for i in range(40)]  # batch records of three results
    lines = [probe_rows("sla.probes", 2, offsets[i:i + 10], events[i:i + 10]) for i in range(0, 40, 10)]
    before = [_row_before_0011(e, Consumed("sla.probes", 2, offsets[i], b"", b"", now)) for i, e in enumerate(events)]
    started = now.replace(tzinfo=None) - timedelta(seconds=1)
    columns = "kind, event_id, entity_id, customer, occurred_at, source, topic, partition, offset, payload"
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        sink_rows = [probe_event_rows(Consumed("slo.probe_events", 0, 0, None, b"\n".join(lines), now), now),
                     probe_event_rows(Consumed("slo.probe_events", 0, 1, None, b"\n".join(before), now), now)]
        assert [[table for table, _, _ in rows] for rows in sink_rows] == [["probe_events_in"], ["input_events"]]
        assert [block_rows(table, block) for rows in sink_rows for table, _, block in rows] == [40, 40]
        assert insert_rows(client, "probe_events_in", sink_rows[0][0][2], Settings(), lambda: False)
        split = client.query(f"SELECT {columns}, ingested_at FROM input_events ORDER BY event_id").result_rows
        client.command("TRUNCATE TABLE input_events")
        assert insert_rows(client, "input_events", sink_rows[1][0][2], Settings(), lambda: False)
        earlier = client.query(f"SELECT {columns} FROM input_events ORDER BY event_id").result_rows
    assert [r[:-1] for r in split] == earlier and len(split) == 40
    assert split[1][4] == datetime(2026, 11, 27, 9, 0, 0, 137000)  # in UTC, to the millisecond
    assert all(r[-1] >= started for r in split)
    assert [ProbeEvent.model_validate_json(r[9]) for r in sorted(split, key=lambda r: int(r[1][1:]))] == events
    tricky = events[0].model_copy(update={"event_id": '{"event_id":"x"}', "source": '{"event_id":'})
    assert block_rows("probe_events_in", probe_rows("sla.probes", 0, [1, 2], [tricky, events[1]])) == 2


class CommitsSeen:
    """The consumer calls `_store` and a revocation make (no broker)."""

    def __init__(self) -> None:
        self.commits: list[dict[tuple[str, int], int]] = []

    def commit(self, offsets, asynchronous: bool) -> None:
        assert asynchronous  # a synchronous commit once never returned after a broker restart
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})


def test_every_commit_names_each_owned_partitions_stored_position_and_a_revoked_one_no_more(tmp_path: Path) -> None:
    settings = Settings()
    ticket = b'{"event_id":"e%d","occurred_at":"2026-11-27T10:00:00Z","source":"desk","customer":"acme",' \
             b'"service":"checkout","ticket_id":"T1","priority":"P1","status":"new"}'
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        sink = ClickHouseSink(settings, client, roles(settings))
        sink._consumer = seen = CommitsSeen()  # type: ignore[assignment]
        rows = sink.roles[settings.topic_tickets]
        now = datetime.now(timezone.utc)
        for partition, offset in ((0, 7), (1, 3)):
            sink.batch.add(Consumed(settings.topic_tickets, partition, offset, b"T1", ticket % offset, now), rows, now)
        assert sink._store()
        sink.batch.add(Consumed(settings.topic_tickets, 0, 8, b"T1", ticket % 8, now), rows, now)
        assert sink._store()
        # Partition 1 had nothing new and is named again: its first commit may have been lost.
        assert seen.commits == [{(settings.topic_tickets, 0): 8, (settings.topic_tickets, 1): 4},
                                {(settings.topic_tickets, 0): 9, (settings.topic_tickets, 1): 4}]
        sink._on_revoke(seen, [TopicPartition(settings.topic_tickets, 1)])  # type: ignore[arg-type]
        sink._commit()
        assert seen.commits[-1] == {(settings.topic_tickets, 0): 9}
