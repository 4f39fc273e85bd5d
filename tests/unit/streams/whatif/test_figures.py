"""Where the live tables end, which `whatif --check` replays up to."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sinks.clickhouse import tables_end
from sinks.migrate import migrate
from streams.whatif.figures import live_end
from tests.conftest import clickhouse


def test_the_live_tables_end_just_after_their_last_breach_or_event(tmp_path: Path) -> None:
    """The worker fired a deadline at 10:05:00.250 and stopped: a replay to the instant after
    it fires that deadline too, and nothing the stopped worker never reached."""
    with clickhouse(tmp_path / "db") as client:
        migrate(client)
        assert live_end(tables_end(client)) is None  # empty tables
        at = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
        client.insert("input_events", [["ticket", "e1", "T1", "acme", at, "desk", "sla.tickets", 0, 1, at, "{}"]],
                      column_names=["kind", "event_id", "entity_id", "customer", "occurred_at", "source", "topic",
                                    "partition", "offset", "ingested_at", "payload"])
        breach = datetime(2026, 11, 27, 10, 5, 0, 250000, tzinfo=timezone.utc)
        client.insert("breaches", [["b1", "i1", 1, "breached", breach, "ticket", "T1", "gold", "acme", "web",
                                    "response", "P1", 300.0, 300.0, None, None]],
                      column_names=["event_id", "instance_id", "version", "type", "at", "kind", "entity_id",
                                    "contract_id", "customer", "service", "metric", "level", "target_s", "elapsed_s",
                                    "threshold", "corrects"])
        assert live_end(tables_end(client)) == datetime(2026, 11, 27, 10, 5, 0, 251000, tzinfo=timezone.utc)
