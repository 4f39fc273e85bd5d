"""Migrations against real embedded ClickHouse (chDB)."""

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
        assert {"events_raw", "events", "schema_migrations"} <= tables


def test_bad_migration_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="0001_name.sql"):
        load(tmp_path)


def test_every_shipped_migration_is_idempotent_ddl() -> None:
    migrations = load()
    assert len(migrations) == len(list(MIGRATIONS_DIR.glob("*.sql")))
    for migration in migrations:
        for statement in migration.statements:
            assert "IF NOT EXISTS" in statement, (migration.name, statement[:60])
