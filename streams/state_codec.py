"""Compact bytes for engine state (Faust table values, size measurements)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

from streams.clocks import Applied, EntityState, Ledger, Published

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(value: datetime) -> int:
    """Microseconds since the epoch (exact, unlike float timestamps)."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(microsecond=us % 1_000_000)


def state_to_json(state: EntityState) -> list[Any]:
    """An entity's state as JSON-ready lists; times as integer microseconds since the epoch."""
    return [
        state.kind, state.entity_id,
        [[micros(e.at), e.event_id, e.status, e.level, int(e.reply), e.customer, e.service] for e in state.events],
        {i: [lg.version, {k: [p.summary, p.event_id] for k, p in lg.facts.items()}, sorted(lg.retracted)]
         for i, lg in state.ledgers.items()},
        None if state.next_due is None else micros(state.next_due),
    ]


def state_from_json(obj: list[Any]) -> EntityState:
    """Inverse of state_to_json."""
    kind, entity, events, ledgers, due = obj
    return EntityState(
        kind, entity,
        tuple(Applied(_dt(at), eid, st, lv, bool(rp), cu, sv) for at, eid, st, lv, rp, cu, sv in events),
        {i: Ledger(v, {k: Published(s, e) for k, (s, e) in facts.items()}, frozenset(rest[0] if rest else ()))
         for i, (v, facts, *rest) in ledgers.items()},
        None if due is None else _dt(due),
    )


def dump_state(state: EntityState) -> bytes:
    """Serialised state (its size is what the benchmarks report)."""
    return orjson.dumps(state_to_json(state))


def load_state(data: bytes) -> EntityState:
    """Inverse of dump_state."""
    return state_from_json(orjson.loads(data))
