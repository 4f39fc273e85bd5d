"""JSON Schema export of every published model (the files committed under schemas/json/)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from schemas.deadletter import DeadLetter
from schemas.events import EVENT_MODELS, ProbeBatch
from schemas.outputs import (
    ContactAlert, ContactInterval, EntityStatus, InstanceStatus, ProbeMinute, SlaEvent, SloAlert, SloStatus,
)

EXPORT_DIR = Path(__file__).with_name("json")


def documents() -> dict[str, dict]:
    """File name -> JSON Schema document for every published model."""
    models: dict[str, type[BaseModel]] = {f"{kind}.schema.json": m for kind, m in EVENT_MODELS.items()}
    models["deadletter.schema.json"] = DeadLetter
    models["sla_event.schema.json"] = SlaEvent
    models["sla_instance.schema.json"] = InstanceStatus  # a row: replay --final, sla_instance_status
    models["sla_status.schema.json"] = EntityStatus  # a record of the instances topic
    models["slo_alert.schema.json"] = SloAlert
    models["slo_status.schema.json"] = SloStatus
    models["probe_minute.schema.json"] = ProbeMinute
    models["contact_interval.schema.json"] = ContactInterval
    models["contact_alert.schema.json"] = ContactAlert
    schemas = {name: m.model_json_schema() for name, m in models.items()}
    schemas["probe_batch.schema.json"] = {"title": "ProbeBatch", **TypeAdapter(ProbeBatch).json_schema()}
    return {name: {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema} for name, schema in schemas.items()}


def fields_markdown() -> str:
    """docs/events.md's field tables, generated from the event models so the docs cannot drift."""
    out = []
    for kind, model in EVENT_MODELS.items():
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        out += [f"### {kind}", "", "| field | type | required | meaning |", "|---|---|---|---|"]
        for name, prop in schema["properties"].items():
            out.append(f"| `{name}` | {_type(prop, schema)} | {'yes' if name in required else 'no'} "
                       f"| {prop.get('description', '')} |")
        out.append("")
    return "\n".join(out)


def _type(prop: dict, schema: dict) -> str:
    if "anyOf" in prop:  # an optional field: its type besides null
        prop = next(p for p in prop["anyOf"] if p.get("type") != "null")
    ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
    if ref:
        prop = schema["$defs"][ref.rsplit("/", 1)[1]]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = {"string": "string", "boolean": "boolean", "number": "number",
            "integer": "integer"}.get(prop.get("type", ""), prop.get("type", "any"))
    if prop.get("format") == "date-time":
        kind = "RFC 3339 date-time with offset"
    bounds = [f"{op} {prop[key]}" for key, op in (("minimum", ">="), ("maximum", "<="), ("minLength", "length >="),
                                                   ("maxLength", "length <=")) if key in prop]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def render(document: dict) -> str:
    """Stable text of a schema document."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def export(directory: Path) -> list[Path]:
    """Write every schema document into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / name
        path.write_text(render(document))
        written.append(path)
    return written
