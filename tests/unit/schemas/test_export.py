from pathlib import Path

from schemas.export import EXPORT_DIR, documents, export, fields_markdown, render


def test_committed_schema_files_match_the_models() -> None:
    """Fails when a model changed without `slastream schema export schemas/json`."""
    docs = documents()
    committed = {p.name for p in EXPORT_DIR.glob("*.json")}
    assert committed == set(docs)
    for name, document in docs.items():
        assert (EXPORT_DIR / name).read_text() == render(document), f"{name} drifted from its model"


def test_export_writes_one_file_per_kind(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert sorted(p.name for p in written) == [
        "contact.schema.json", "contact_alert.schema.json", "contact_interval.schema.json", "deadletter.schema.json", "incident.schema.json", "probe.schema.json", "probe_batch.schema.json",
        "probe_minute.schema.json",
        "sla_event.schema.json", "sla_instance.schema.json", "sla_status.schema.json", "slo_alert.schema.json",
        "slo_status.schema.json",
        "ticket.schema.json",
    ]
    ticket = (tmp_path / "ticket.schema.json").read_text()
    assert '"ticket_id"' in ticket and '"on_hold"' in ticket
    contact = (tmp_path / "contact.schema.json").read_text()
    assert '"abandoned_at"' in contact and '"messaging"' in contact
    batch = (tmp_path / "probe_batch.schema.json").read_text()
    assert '"type": "array"' in batch and '"maxItems": 1000' in batch and '"$ref": "#/$defs/ProbeEvent"' in batch


def test_docs_list_every_field_of_every_event_kind() -> None:
    """docs/events.md's field tables are the generated ones (fails when a model changes alone)."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "events.md").read_text()
    section = docs.split("<!-- fields:begin -->\n")[1].split("<!-- fields:end -->")[0]
    assert section == fields_markdown()
    assert "| `public_reply` | boolean |" in section and "| `latency_ms` | number (>= 0) |" in section
