"""Versioned DDL: apply sinks/migrations/NNNN_name.sql once each, recorded in schema_migrations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read the migration files in version order, split into statements."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
        statements = tuple(s.strip() for s in text.split(";") if s.strip())
        found.append(Migration(int(match[1]), match[2], statements))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


def migrate(client: Client, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; returns those applied now. Safe to run again.

    Every statement is idempotent (IF NOT EXISTS), so two workers starting together
    at worst record a version twice, which `applied` tolerates; a copy of rows repeated by
    a crash lands in a ReplacingMergeTree, which keeps one.
    """
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )
    # The statements of a migration that stopped half way (a crash between them) are not run
    # again: one that copies rows from a table a later one drops could not be.
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migration_steps (version UInt32, step UInt32) "
        "ENGINE = MergeTree ORDER BY (version, step)"
    )
    done = applied(client)
    new = [m for m in load(directory) if m.version not in done]
    for migration in new:
        steps = {row[0] for row in client.query(
            "SELECT step FROM schema_migration_steps WHERE version = {v:UInt32}",
            parameters={"v": migration.version}).result_rows}
        for step, statement in enumerate(migration.statements):
            if step not in steps:
                client.command(statement)
                client.insert("schema_migration_steps", [[migration.version, step]], column_names=["version", "step"])
        client.insert("schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"])
    return new


def applied(client: Client) -> set[int]:
    """Versions recorded in schema_migrations."""
    return {row[0] for row in client.query("SELECT DISTINCT version FROM schema_migrations").result_rows}
