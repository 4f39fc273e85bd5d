"""Compact bytes for engine state (Faust table values, size measurements)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from streams.clocks import Applied, EntityState, Ledger, Published

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _us(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(microsecond=us % 1_000_000)


def dump_state(state: EntityState) -> bytes:
    """Serialise an entity's state; times as integer microseconds since the epoch."""
    return orjson.dumps([
        state.kind, state.entity_id,
        [[_us(e.at), e.event_id, e.status, e.level, int(e.reply), e.customer, e.service] for e in state.events],
        {i: [lg.version, {k: [p.summary, p.event_id] for k, p in lg.facts.items()}] for i, lg in state.ledgers.items()},
        None if state.next_due is None else _us(state.next_due),
    ])


def load_state(data: bytes) -> EntityState:
    """Inverse of dump_state."""
    kind, entity, events, ledgers, due = orjson.loads(data)
    return EntityState(
        kind, entity,
        tuple(Applied(_dt(at), eid, st, lv, bool(rp), cu, sv) for at, eid, st, lv, rp, cu, sv in events),
        {i: Ledger(v, {k: Published(s, e) for k, (s, e) in facts.items()}) for i, (v, facts) in ledgers.items()},
        None if due is None else _dt(due),
    )
