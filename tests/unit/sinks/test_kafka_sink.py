"""The sink's inserts against real embedded ClickHouse: what is retried and what stops it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from confluent_kafka import TopicPartition

from schemas.events import ProbeEvent
from sinks.clickhouse import passes_with_time
from sinks.kafka_sink import ClickHouseSink, SinkFailed, insert_rows, roles
from sinks.migrate import migrate
from sinks.rows import COLUMNS
from streams.settings import Settings
from streams.verdict import Consumed, probe_row
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


def test_the_rows_a_worker_accepted_are_stored_as_they_are_with_the_time_they_are_stored(tmp_path: Path) -> None:
    """Probe results reach the sink as JSONEachRow lines (streams/verdict.py): ClickHouse parses
    them, the payload object is kept as its text, ingested_at is filled in by the table."""
    event = ProbeEvent(event_id="r1", occurred_at="2026-11-27T11:00:00.5+01:00", source="runner", probe_id="http",
                       service="checkout", region="eu", ok=True, latency_ms=80.0, status_code=200)
    block = b"\n".join([probe_row(event, Consumed("sla.probes", 2, 40, b"checkout", b"", datetime.now(timezone.utc))),
                        probe_row(event.model_copy(update={"event_id": "r2"}),
                                  Consumed("sla.probes", 2, 41, b"checkout", b"", datetime.now(timezone.utc)))])
    before = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        assert insert_rows(client, "input_events", block, Settings(), lambda: False)
        rows = client.query("SELECT event_id, occurred_at, offset, ingested_at, payload FROM events "
                            "ORDER BY event_id").result_rows
    assert [(r[0], r[1], r[2]) for r in rows] == [("r1", datetime(2026, 11, 27, 10, 0, 0, 500000), 40),
                                                  ("r2", datetime(2026, 11, 27, 10, 0, 0, 500000), 41)]
    assert all(r[3] >= before for r in rows)
    assert ProbeEvent.model_validate_json(rows[0][4]) == event


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
