"""Migrations against real embedded ClickHouse (chDB)."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from sinks.migrate import MIGRATIONS_DIR, applied, load, migrate
from tests.conftest import clickhouse


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    with clickhouse(tmp_path / "ch") as client:
        first = migrate(client)
        assert [m.version for m in first] == [m.version for m in load()]
        assert migrate(client) == []
        assert applied(client) == {m.version for m in load()}
        tables = {r[0] for r in client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows}
        assert {"input_events", "events_raw", "events", "schema_migrations"} <= tables


def test_bad_migration_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="0001_name.sql"):
        load(tmp_path)


def test_every_shipped_migration_is_idempotent_ddl() -> None:
    """Creates only if missing, drops only if there; the one data copy (0004) repeats harmlessly
    into a ReplacingMergeTree; a column's default set again changes nothing."""
    migrations = load()
    assert len(migrations) == len(list(MIGRATIONS_DIR.glob("*.sql")))
    for migration in migrations:
        for statement in migration.statements:
            verb = statement.split()[0]
            assert (verb, "IF NOT EXISTS" in statement, "IF EXISTS" in statement) in {
                ("CREATE", True, False), ("DROP", False, True), ("INSERT", False, False), ("ALTER", False, False),
            }, (migration.name, statement[:60])
            assert verb != "ALTER" or "MODIFY COLUMN" in statement and "DEFAULT" in statement


def test_status_rows_keep_the_largest_version_whatever_the_order(tmp_path: Path) -> None:
    """A row written after a correction has an earlier as_of than the one it supersedes."""
    columns = ["instance_id", "version", "kind", "entity_id", "contract_id", "customer", "service", "metric",
               "level", "state", "started_at", "elapsed_s", "breached", "as_of"]
    start, late, early = (datetime(2026, 11, 27, 10, m, tzinfo=timezone.utc) for m in (0, 5, 2))
    breached = ["i1", 4, "ticket", "T1", "c", "acme", "s", "response", "P1", "running", start, 300.0, True, late]
    met = ["i1", 6, "ticket", "T1", "c", "acme", "s", "response", "P1", "stopped", start, 120.0, False, early]
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        client.insert("sla_instance_status", [met], column_names=columns)
        client.insert("sla_instance_status", [breached], column_names=columns)
        rows = client.query("SELECT state, breached, version FROM sla_instances_current").result_rows
        assert rows == [("stopped", False, 6)]
        assert client.command("SELECT count() FROM sla_instances") == 2  # the old name lists every row


def test_input_events_take_the_rows_of_events_raw_with_their_customer(tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("000[1-5]_*.sql"):
        (before / path.name).write_text(path.read_text())
    columns = ["kind", "event_id", "entity_id", "occurred_at", "source", "topic", "partition", "offset",
               "ingested_at", "payload"]
    at = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
    with clickhouse(tmp_path / "ch") as client:
        migrate(client, before)
        client.insert("events_raw", [["ticket", "e1", "T1", at, "desk", "sla.tickets", 0, 7, at, '{"customer":"acme"}']],
                      column_names=columns)
        assert [m.version for m in migrate(client)] == [m.version for m in load(MIGRATIONS_DIR) if m.version > 5]
        rows = client.query("SELECT event_id, customer, offset FROM events").result_rows
        assert rows == [("e1", "acme", 7)]
        assert client.command("SELECT count() FROM events_raw") == 1  # the old name reads the new table


def test_a_migration_stopped_half_way_resumes_after_its_last_statement(tmp_path: Path) -> None:
    """Statement 4 of 0006 dropped events_raw, then the process died: its copy (statement 2)
    must not run again (it would read a table no longer there)."""
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        client.command("DELETE FROM schema_migrations WHERE version = 6")
        client.command("DELETE FROM schema_migration_steps WHERE version = 6 AND step >= 4")
        client.command("DROP VIEW events")
        client.command("DROP VIEW events_raw")
        assert [m.version for m in migrate(client)] == [6]
        tables = {r[0] for r in client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows}
        assert {"input_events", "events_raw", "events"} <= tables
