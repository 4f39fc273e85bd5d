"""`slastream whatif` from the command line: JSONL history, CSV and HTML files, user mistakes."""

from __future__ import annotations

import csv
from pathlib import Path

from schemas.errors import OK, USAGE
from tests.unit.streams.test_cli import one_line, slastream
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
