"""Broken parts against real embedded ClickHouse: found once, then remembered as answered."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sinks.migrate import migrate
from sinks.repair import broken_parts, record_repair
from tests.conftest import clickhouse

PROBE_MINUTE_COLUMNS = ["service", "minute", "total", "good", "latency_sum_ms", "latency_max_ms", "fast_le_ms", "fast"]


def test_a_part_clickhouse_sets_aside_is_found_until_a_repair_answers_it(tmp_path: Path) -> None:
    rows = [("search", datetime(2026, 11, 27, 10, m), 2, 1, 10.0, 8.0, [300.0], [1]) for m in range(3)]
    with clickhouse(tmp_path / "ch") as client:
        migrate(client)
        for row in rows:  # one part each
            client.insert("probe_minutes", [row], column_names=PROBE_MINUTE_COLUMNS)
        name, path = client.query("SELECT name, path FROM system.parts WHERE table = 'probe_minutes' AND active "
                                  "ORDER BY name LIMIT 1").result_rows[0]
        assert broken_parts(client) == []
    with next(Path(path).glob("*.bin")).open("r+b") as column:
        column.truncate(10)
    with clickhouse(tmp_path / "ch") as client:  # opening it, ClickHouse checks every part
        assert client.command("SELECT count() FROM probe_minutes") == 2
        found = broken_parts(client)
        assert found == [("probe_minutes", f"broken-on-start_{name}")]
        record_repair(client, found, datetime(2026, 11, 27, 11, tzinfo=timezone.utc))
        assert broken_parts(client) == []
