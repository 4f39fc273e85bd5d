"""JSON Schema export of every published model (the files committed under schemas/json/)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.deadletter import DeadLetter
from schemas.events import EVENT_MODELS
from schemas.outputs import InstanceStatus, ProbeMinute, SlaEvent, SloAlert, SloStatus

EXPORT_DIR = Path(__file__).with_name("json")


def documents() -> dict[str, dict]:
    """File name -> JSON Schema document for every published model."""
    models: dict[str, type[BaseModel]] = {f"{kind}.schema.json": m for kind, m in EVENT_MODELS.items()}
    models["deadletter.schema.json"] = DeadLetter
    models["sla_event.schema.json"] = SlaEvent
    models["sla_instance.schema.json"] = InstanceStatus
    models["slo_alert.schema.json"] = SloAlert
    models["slo_status.schema.json"] = SloStatus
    models["probe_minute.schema.json"] = ProbeMinute
    return {name: {"$schema": "https://json-schema.org/draft/2020-12/schema", **m.model_json_schema()} for name, m in models.items()}


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
