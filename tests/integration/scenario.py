"""A live SLA scenario with deadlines of seconds, and the outcome worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import orjson

POLICY = Path(__file__).resolve().parents[1] / "data" / "live" / "policy.yaml"

# (kind, entity, offset seconds from T0, status, public_reply)
STEPS = [
    ("ticket", "T1", 0, "new", False), ("ticket", "T1", 2, "open", True), ("ticket", "T1", 5, "solved", False),
    ("ticket", "T2", 0, "new", False),  # never touched again: must breach on time, once
    ("ticket", "T3", 0, "new", False), ("ticket", "T3", 1, "pending", False), ("ticket", "T3", 4, "open", False),
    ("incident", "I1", 0, "triggered", False), ("incident", "I1", 1, "acknowledged", False),
    ("incident", "I1", 4, "resolved", False),
    ("incident", "I2", 0, "triggered", False),
]

# Policy: P1 response 4s, resolution 8s, warning at 50%; SEV1 acknowledge 3s, resolve 6s.
# T3 runs 0-1s, is paused 1-4s, then runs: 2s of SLA time at +5, 4s at +7, 8s at +11.
EXPECTED_EVENTS = {
    # (instance, type, offset of `at`)
    ("ticket:{}T1:fast:response", "met", 2),
    ("ticket:{}T1:fast:resolution", "warning", 4), ("ticket:{}T1:fast:resolution", "met", 5),
    ("ticket:{}T2:fast:response", "warning", 2), ("ticket:{}T2:fast:response", "breached", 4),
    ("ticket:{}T2:fast:resolution", "warning", 4), ("ticket:{}T2:fast:resolution", "breached", 8),
    ("ticket:{}T3:fast:response", "warning", 5), ("ticket:{}T3:fast:response", "breached", 7),
    ("ticket:{}T3:fast:resolution", "warning", 7), ("ticket:{}T3:fast:resolution", "breached", 11),
    ("incident:{}I1:fast:acknowledge", "met", 1), ("incident:{}I1:fast:resolve", "met", 4),
    ("incident:{}I2:fast:acknowledge", "breached", 3), ("incident:{}I2:fast:resolve", "breached", 6),
}
LAST_FACT_S = 11

# Final instance rows: (instance, state, outcome, breached, elapsed_s, as_of offset).
# A row is taken at the entity's latest event or the instance's own latest fact.
EXPECTED_INSTANCES = {
    ("ticket:{}T1:fast:response", "stopped", "met", False, 2.0, 5),
    ("ticket:{}T1:fast:resolution", "stopped", "met", False, 5.0, 5),
    ("ticket:{}T2:fast:response", "running", None, True, 4.0, 4),
    ("ticket:{}T2:fast:resolution", "running", None, True, 8.0, 8),
    ("ticket:{}T3:fast:response", "running", None, True, 4.0, 7),
    ("ticket:{}T3:fast:resolution", "running", None, True, 8.0, 11),
    ("incident:{}I1:fast:acknowledge", "stopped", "met", False, 1.0, 4),
    ("incident:{}I1:fast:resolve", "stopped", "met", False, 4.0, 4),
    ("incident:{}I2:fast:acknowledge", "running", None, True, 3.0, 3),
    ("incident:{}I2:fast:resolve", "running", None, True, 6.0, 6),
}


def records(t0: datetime, prefix: str = "") -> list[tuple[str, str, bytes]]:
    """(kind, key, value) for every step; entity ids get `prefix` so copies can coexist."""
    out = []
    for n, (kind, entity, offset, status, reply) in enumerate(STEPS):
        at = (t0 + timedelta(seconds=offset)).isoformat()
        common = {"event_id": f"{prefix}{entity}-{n}", "occurred_at": at, "source": "scenario",
                  "customer": "acme", "service": "checkout", "status": status}
        if kind == "ticket":
            value = {**common, "ticket_id": prefix + entity, "priority": "P1", "public_reply": reply}
        else:
            value = {**common, "incident_id": prefix + entity, "severity": "SEV1"}
        out.append((kind, prefix + entity, orjson.dumps(value)))
    return out


def expected_events(t0: datetime, prefix: str = "") -> set[tuple[str, str, datetime]]:
    return {(i.format(prefix), t, t0 + timedelta(seconds=s)) for i, t, s in EXPECTED_EVENTS}


def expected_instances(t0: datetime, prefix: str = "") -> set[tuple]:
    return {(i.format(prefix), st, oc, br, el, t0 + timedelta(seconds=s)) for i, st, oc, br, el, s in EXPECTED_INSTANCES}
