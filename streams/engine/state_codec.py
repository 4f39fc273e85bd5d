"""Compact bytes for engine state (Faust table values, size measurements).

Times are integer microseconds since the epoch, as in the engine (instants.py). The
layout is the one earlier versions wrote (they kept datetimes and converted them here; an
event's reply flag is now JSON true/false where they wrote 1/0, read as a bool either way), so
entries written by either read back the same. Events of a ticket assigned to a group or a
supplier (OLAs, 2026-12-06) have two more fields, which only later versions read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from streams.engine.clocks import Applied, EntityState, Fact, Ledger, Published, Run, teams_of
from streams.engine.instants import micros


def state_to_json(state: EntityState) -> list[Any]:
    """An entity's state as JSON-ready lists."""
    return [
        state.kind, state.entity_id,
        # An event's team fields only when it has a team: the layout of earlier versions otherwise.
        [[e.at, e.event_id, e.status, e.level, e.reply, e.customer, e.service,
          *((e.group, e.supplier) if e.group or e.supplier else ())] for e in state.events],
        {i: [lg.version, {k: [p.summary, p.event_id] for k, p in lg.facts.items()}, sorted(lg.retracted)]
         for i, lg in state.ledgers.items()},
        state.due,
        {i: [r.n, r.started, r.prev, r.elapsed, r.level, int(r.running), r.stopped_at, r.cycle,
             [[f.key, f.type, f.at, f.level, f.target, f.elapsed, f.threshold] for f in r.facts.values()]]
         for i, r in state.runs.items()},
        # Apart from the runs, so that a worker of an earlier version still reads the entry.
        {i: r.due for i, r in state.runs.items()},
    ]


def state_from_json(obj: list[Any]) -> EntityState:
    """Inverse of state_to_json."""
    kind, entity, events, ledgers, due, *rest = obj  # rest: absent in entries of earlier versions
    state = EntityState(
        kind, entity,
        tuple(Applied(at, eid, st, lv, bool(rp), cu, sv, *team) for at, eid, st, lv, rp, cu, sv, *team in events),
        {i: Ledger(v, {k: _published(s, e) for k, (s, e) in facts.items()}, frozenset(rest[0] if rest else ()))
         for i, (v, facts, *rest) in ledgers.items()},
        due,
        # Runs stored without their due time are left out: the engine walks them again.
        {i: _run(r, rest[1][i]) for i, r in rest[0].items() if i in rest[1]} if len(rest) > 1 else {},
    )
    return state.replace(teams=teams_of(state.events)) if any(len(e) > 7 for e in events) else state


def _published(summary: str, eid: str) -> Published:
    type_, _, at = summary.partition("|")
    return Published(type_, micros(datetime.fromisoformat(at)), eid, summary)


def _run(obj: list[Any], due: int | None) -> Run:
    n, started, prev, elapsed, level, running, stopped_at, cycle, facts = obj
    walked = {k: Fact(k, t, at, lv, tg, el, th) for k, t, at, lv, tg, el, th in facts}
    return Run(n, started, prev, elapsed, level, bool(running), stopped_at, cycle, walked, due,
               any(f.at > prev for f in walked.values()))


def dump_state(state: EntityState) -> bytes:
    """Serialised state (its size is what the benchmarks report)."""
    return orjson.dumps(state_to_json(state))


def load_state(data: bytes) -> EntityState:
    """Inverse of dump_state."""
    return state_from_json(orjson.loads(data))
