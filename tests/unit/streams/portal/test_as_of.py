"""What time the portal's data is as of, and at-risk instances whose deadline it already passed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sinks.migrate import migrate
from sinks.rows import COLUMNS
from streams.portal import queries
from streams.portal.queries import Db
from tests.conftest import clickhouse
from tests.unit.streams.portal.test_portal import status

NOW = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)


def test_pages_know_their_data_s_time_and_at_risk_leaves_out_deadlines_it_passed(tmp_path: Path) -> None:
    with clickhouse(tmp_path / "db") as client:
        migrate(client)
        db = Db(client)
        assert queries.data_as_of(db) is None  # nothing received yet
        rows = []
        for name, deadline in (("A3", NOW - timedelta(hours=1)), ("A4", NOW + timedelta(hours=1))):
            row = status(f"ticket:{name}:gold:response", "acme", "gold", None, False)
            rows.append({**row, "deadline": deadline})
            client.insert("breaches", [[f"w-{name}", row["instance_id"], 1, "warning", NOW - timedelta(hours=2),
                                        "ticket", name, "gold", "acme", "checkout", "response", "P1", 900.0, 700.0,
                                        0.75, None]], column_names=list(COLUMNS["breaches"]))
        client.insert("sla_instance_status", [[r[c] for c in COLUMNS["sla_instance_status"]] for r in rows],
                      column_names=list(COLUMNS["sla_instance_status"]))
        client.insert("breaches", [["b-x", "ticket:X:gold:response", 2, "breached", NOW, "ticket", "X", "gold", "acme",
                                    "checkout", "response", "P1", 900.0, 900.0, None, None]],
                      column_names=list(COLUMNS["breaches"]))
        as_of = queries.data_as_of(db)
        assert as_of.replace(tzinfo=timezone.utc) == NOW  # the latest lifecycle event
        # A3's deadline passed before the data ends: had a worker been running, it had breached.
        assert [r[0] for r in queries.at_risk(db, "gold", as_of).rows] == ["ticket:A4:gold:response"]
