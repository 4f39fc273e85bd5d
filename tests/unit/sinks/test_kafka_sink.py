"""The sink's inserts against real embedded ClickHouse: what is retried and what stops it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from sinks.clickhouse import passes_with_time
from sinks.kafka_sink import SinkFailed, insert_rows
from sinks.migrate import migrate
from sinks.rows import COLUMNS
from streams.settings import Settings
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
        row = ("search", datetime(2026, 11, 27, 10, 0), 2, 1, 10.0, 8.0, [300.0], [1])
        assert insert_rows(client, "probe_minutes", [row], Settings(), never)
        assert client.command("SELECT count() FROM probe_minutes") == 1
        client.command("DROP TABLE slo_status")
        with pytest.raises(SinkFailed, match="into slo_status failed .*UNKNOWN_TABLE.*retrying cannot help"):
            insert_rows(client, "slo_status", [tuple(0 for _ in COLUMNS["slo_status"])], Settings(), never)
