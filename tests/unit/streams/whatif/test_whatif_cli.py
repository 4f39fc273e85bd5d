"""`slastream whatif` from the command line: JSONL history, CSV and HTML files, user mistakes."""

from __future__ import annotations

import csv
import html
from datetime import datetime, timezone
from pathlib import Path

import orjson

from schemas.errors import OK, USAGE
from tests.unit.streams.test_cli import one_line, slastream
from streams.whatif.report import _fmt
from tests.unit.streams.whatif.test_whatif import CURRENT, tickets


def files(tmp_path: Path) -> tuple[str, str, str]:
    current, proposed, events = tmp_path / "current.yaml", tmp_path / "proposed.yaml", tmp_path / "events.jsonl"
    for path, response in ((current, "30m"), (proposed, "15m")):
        path.write_text(CURRENT.format(response=response, calendar="24x7", objective=0.999, tier=0.999))
    events.write_text("".join(e.model_dump_json() + "\n" for e in tickets()))
    return str(current), str(proposed), str(events)


def test_whatif_writes_tables_csv_and_a_self_contained_page(tmp_path: Path) -> None:
    current, proposed, events = files(tmp_path)
    result = slastream("whatif", "--policy", current, "--proposed", proposed, "--events", events,
                       "--until", "2026-12-01", "--csv", str(tmp_path / "out"), "--html", str(tmp_path / "w.html"),
                       cwd=tmp_path, COLUMNS="220")  # a wide terminal: each table row on one line
    assert result.returncode == OK, result.stderr
    assert "Instances whose outcome changes: 2" in result.stdout and "75.00 → 25.00" in result.stdout
    assert "2 instances change outcome" in result.stderr
    changes = list(csv.DictReader((tmp_path / "out" / "changes.csv").open()))
    assert [(c["instance"], c["current"], c["proposed"], c["proposed deadline"]) for c in changes] == [
        ("ticket:T1:gold:response", "met", "missed", "2026-11-02T10:15:00+00:00"),
        ("ticket:T2:gold:response", "met", "missed", "2026-11-03T09:15:00+00:00")]
    sla = {r["metric"]: r for r in csv.DictReader((tmp_path / "out" / "sla.csv").open())}
    assert (sla["response"]["met % current"], sla["response"]["met % proposed"], sla["response"]["met % diff"]) == (
        "75.0", "25.0", "-50.0")
    page = (tmp_path / "w.html").read_text()
    assert "<svg" in page and "ticket:T2:gold:response" in page
    assert "src=" not in page and "href=" not in page  # nothing fetched from elsewhere


def test_whatif_mistakes_are_one_line(tmp_path: Path) -> None:
    current, proposed, events = files(tmp_path)
    one_line(slastream("whatif", "--policy", current, "--proposed", proposed, "--events", "nope.jsonl",
                       cwd=tmp_path), USAGE, "--events nope.jsonl", "JSONL")
    one_line(slastream("whatif", "--policy", current, "--proposed", proposed, "--events", events, "--since",
                       "last week", cwd=tmp_path), USAGE, "--since", "ISO 8601")
    (tmp_path / "bad.yaml").write_text("contracts: 3\n")
    one_line(slastream("whatif", "--policy", current, "--proposed", str(tmp_path / "bad.yaml"), "--events", events,
                       cwd=tmp_path), USAGE, "--proposed", "policy validate")


def test_whatif_prints_its_tables_as_csv_tsv_or_json_for_scripts(tmp_path: Path) -> None:
    current, proposed, events = files(tmp_path)
    args = ("whatif", "--policy", current, "--proposed", proposed, "--events", events, "--until", "2026-12-01")
    json_rows = [orjson.loads(line) for line in slastream(*args, "--format", "json", cwd=tmp_path).stdout.splitlines()]
    changes = [r for r in json_rows if r["table"] == "changes"]
    assert [(r["instance"], r["proposed"], r["proposed deadline"]) for r in changes] == [
        ("ticket:T1:gold:response", "missed", "2026-11-02T10:15:00+00:00"),
        ("ticket:T2:gold:response", "missed", "2026-11-03T09:15:00+00:00")]
    assert {r["table"] for r in json_rows} == {"sla", "changes"}  # no probe or contact rows in this history
    sections = slastream(*args, "--format", "tsv", cwd=tmp_path).stdout.split("\n\n")
    # sla, probes, contacts (their headers, empty here), changes
    assert [s.splitlines()[0].split("\t")[0] for s in sections] == ["contract", "contract", "contract", "instance"]
    sla = list(csv.DictReader(sections[0].splitlines(), dialect="excel-tab"))
    assert [(r["metric"], r["met % current"], r["met % proposed"]) for r in sla] == [
        ("resolution", "100.0", "100.0"), ("response", "75.0", "25.0")]


def test_whatif_shows_deadlines_to_the_second_where_they_have_seconds() -> None:
    assert _fmt(datetime(2026, 11, 2, 10, 15, 30, tzinfo=timezone.utc)) == "2026-11-02 10:15:30"
    assert _fmt(datetime(2026, 11, 2, 10, 15, tzinfo=timezone.utc)) == "2026-11-02 10:15"


def test_whatif_over_the_database_says_what_time_its_data_is_as_of(tmp_path: Path) -> None:
    """A stopped pipeline's data ends before now (the replay's default end): the console line
    and the HTML report name both, so nobody reads deadlines fired after it as live ones."""
    from sinks.migrate import migrate
    from tests.conftest import clickhouse

    current, proposed, _ = files(tmp_path)
    events = tickets()
    with clickhouse(tmp_path / "db") as client:
        migrate(client)
        client.insert("input_events", [["ticket", e.event_id, e.ticket_id, e.customer, e.occurred_at, e.source,
                                        "sla.tickets", 0, n, e.occurred_at, e.model_dump_json()]
                                       for n, e in enumerate(events)],
                      column_names=["kind", "event_id", "entity_id", "customer", "occurred_at", "source", "topic",
                                    "partition", "offset", "ingested_at", "payload"])
    last = max(e.occurred_at for e in events)
    result = slastream("whatif", "--policy", current, "--proposed", proposed, "--html", str(tmp_path / "w.html"),
                       cwd=tmp_path, CLICKHOUSE_DSN=f"chdb://{tmp_path / 'db'}")
    assert result.returncode == OK, result.stderr
    said = f"the database's data is as of {last:%Y-%m-%d %H:%M:%S} UTC"
    assert said in " ".join(result.stderr.split())  # as the terminal wraps it
    assert said in html.unescape((tmp_path / "w.html").read_text())
