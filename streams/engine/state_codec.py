"""Compact bytes for engine state (Faust table values, size measurements)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from schemas.outputs import LifecycleType
from streams.engine.clocks import Applied, EntityState, Fact, Ledger, Published, Run

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Microseconds since the epoch (exact, unlike float timestamps)."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)  # twice as fast as fromtimestamp(...).replace(...)


def state_to_json(state: EntityState) -> list[Any]:
    """An entity's state as JSON-ready lists; times as integer microseconds since the epoch."""
    return [
        state.kind, state.entity_id,
        [[micros(e.at), e.event_id, e.status, e.level, int(e.reply), e.customer, e.service] for e in state.events],
        {i: [lg.version, {k: [p.summary, p.event_id] for k, p in lg.facts.items()}, sorted(lg.retracted)]
         for i, lg in state.ledgers.items()},
        None if state.next_due is None else micros(state.next_due),
        {i: _run_to_json(r) for i, r in state.runs.items()},
        # Apart from the runs, so that a worker of the previous version still reads the entry.
        {i: None if r.due is None else micros(r.due) for i, r in state.runs.items()},
    ]


def state_from_json(obj: list[Any]) -> EntityState:
    """Inverse of state_to_json."""
    kind, entity, events, ledgers, due, *rest = obj  # rest: absent in entries of earlier versions
    return EntityState(
        kind, entity,
        tuple(Applied(_dt(at), eid, st, lv, bool(rp), cu, sv) for at, eid, st, lv, rp, cu, sv in events),
        {i: Ledger(v, {k: Published(s, e) for k, (s, e) in facts.items()}, frozenset(rest[0] if rest else ()))
         for i, (v, facts, *rest) in ledgers.items()},
        None if due is None else _dt(due),
        # Runs stored without their due time are left out: the engine walks them again.
        {i: _run_from_json(r, rest[1][i]) for i, r in rest[0].items() if i in rest[1]} if len(rest) > 1 else {},
    )


def _us(value: timedelta | None) -> int | None:
    return None if value is None else value // _MICRO


def _td(us: int | None) -> timedelta | None:
    return None if us is None else timedelta(microseconds=us)


def _opt_dt(us: int | None) -> datetime | None:
    return None if us is None else _dt(us)


def _run_to_json(run: Run) -> list[Any]:
    return [
        run.n, micros(run.started), micros(run.prev), _us(run.elapsed), run.level, int(run.running),
        None if run.stopped_at is None else micros(run.stopped_at), run.cycle,
        [[f.key, f.type.value, micros(f.at), f.level, _us(f.target), _us(f.elapsed), f.threshold]
         for f in run.facts.values()],
    ]


def _run_from_json(obj: list[Any], due: int | None) -> Run:
    n, started, prev, elapsed, level, running, stopped_at, cycle, facts = obj
    return Run(
        n, _dt(started), _dt(prev), timedelta(microseconds=elapsed), level, bool(running), _opt_dt(stopped_at), cycle,
        {k: Fact(k, LifecycleType(t), _dt(at), lv, _td(tg), timedelta(microseconds=el), th)
         for k, t, at, lv, tg, el, th in facts},
        _opt_dt(due),
    )


def dump_state(state: EntityState) -> bytes:
    """Serialised state (its size is what the benchmarks report)."""
    return orjson.dumps(state_to_json(state))


def load_state(data: bytes) -> EntityState:
    """Inverse of dump_state."""
    return state_from_json(orjson.loads(data))
