"""Parts ClickHouse set aside as broken, and the sink's answer: read the topics again.

ClickHouse checks the parts of a table when it opens it; a part it cannot read is moved to
`detached/` and its rows are gone from every query. A merge that ran out of disk can leave
such a part behind (docs/operations.md, "ClickHouse lost rows"). Kafka still holds the rows
and every table keeps one row per key, so reading the topics again from their first
retained record restores them without counting anything twice.
"""

from __future__ import annotations

from datetime import datetime

from clickhouse_connect.driver.client import Client

Part = tuple[str, str]  # (table, detached part name)


def broken_parts(client: Client) -> list[Part]:
    """Parts of the current database ClickHouse detached as broken that no re-read has
    answered yet (see `record_repair`)."""
    rows = client.query(
        "SELECT table, name FROM system.detached_parts "
        "WHERE database = currentDatabase() AND startsWith(reason, 'broken') "
        "AND (table, name) NOT IN (SELECT table_name, part FROM sink_repairs) ORDER BY table, name"
    ).result_rows
    return [(table, name) for table, name in rows]


def record_repair(client: Client, parts: list[Part], at: datetime) -> None:
    """Remember that the topics were read again for `parts`."""
    client.insert("sink_repairs", [(table, name, at) for table, name in parts],
                  column_names=["table_name", "part", "repaired_at"])
