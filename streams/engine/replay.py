"""Batch replay: run the clock engine over a JSONL file as a Kafka partition would deliver it.

Deadlines fire from the event-time watermark (the largest `occurred_at` seen so far), so
the same file always gives the same output, byte for byte.

Memory grows with the entities whose clocks still run, not with history: once a day of
event time, the entities whose every SLA instance stopped (solved, closed, resolved) more
than a day before are put away on disk (shelf.py: a temporary SQLite file, about 1.3 kB a
ticket), without their walks (`runs`, which the engine derives again from the events), and
read back only if another event for one of them comes (a reopen, a late event). Putting one
away and reading it back gives the same outputs (state_codec; the property tests), so the
outputs do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Iterable, Iterator

import orjson
from pydantic import ValidationError

from schemas import codec
from schemas.events import EVENT_MODELS, ContactEvent, IncidentEvent, ProbeEvent, TicketEvent, implied_kind
from schemas.outputs import InstanceStatus, Lifecycle, entity_key
from streams.engine.clocks import ClockEngine, EntityState, entry
from streams.engine.instants import micros, span
from streams.engine.schedule import Schedule
from streams.engine.shelf import Shelf
from streams.engine.state_codec import dump_state, load_state
from streams.validate import AnyEvent, describe

Key = tuple[str, str, str]  # kind, customer, entity id: ids are scoped by customer
PUT_AWAY_AFTER = timedelta(days=1)  # of event time since an entity's last event, every instance stopped


@dataclass
class BadLine:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Replay:
    """Engine driver for an ordered stream of ticket and incident events."""

    engine: ClockEngine
    states: dict[Key, EntityState] = field(default_factory=dict)  # in memory; those put away are on `shelf`
    shelf: Shelf = field(default_factory=Shelf)
    watermark: datetime | None = None
    _now: int = -(2**63)  # the watermark in microseconds (instants.py), before any instant until the first event
    _schedule: Schedule[Key] = field(default_factory=Schedule)  # when entities are next due
    put_away_after: int = span(PUT_AWAY_AFTER)  # microseconds
    _swept: int | None = None  # the watermark at the last sweep (microseconds)

    def feed(self, event: TicketEvent | IncidentEvent) -> list[Lifecycle]:
        """Apply one event at the current watermark, then fire what became due elsewhere."""
        kind, entity, applied = entry(event)
        if applied.at > self._now:
            self.watermark, self._now = event.occurred_at, applied.at
        key = (kind, applied.customer, entity)
        state, out = self.engine.apply_entry(self._state(key), kind, entity, applied, self._now)
        self._store(key, state)
        return self._moved(out)

    def advance(self, until: datetime) -> list[Lifecycle]:
        """Move the watermark on to `until` (no event came meanwhile) and fire what became due."""
        at = micros(until)
        if at > self._now:
            self.watermark, self._now = until, at
        return self._moved([])

    def _moved(self, out: list[Lifecycle]) -> list[Lifecycle]:
        """`out` and what became due by the watermark; put away what stopped long before."""
        now = self._now
        for other in self._schedule.pop_due(now):
            state, more = self.engine.advance_us(self.states[other], now)  # one with a schedule is never away
            self._store(other, state)
            out += more
        if self._swept is None or now - self._swept >= self.put_away_after:
            self._sweep(now)
        return out

    def _store(self, key: Key, state: EntityState) -> None:
        self.states[key] = state
        self._schedule.set(key, state.due)

    def _sweep(self, now: int) -> None:
        """Put away the entities whose every instance stopped over PUT_AWAY_AFTER ago (nothing
        is due for them: only a new event can change them)."""
        self._swept = now
        before = now - self.put_away_after
        away = [key for key, state in self.states.items()
                if state.due is None and state.events[-1].at < before
                and all(run.stopped_at is not None for run in state.runs.values())]
        if away:
            self.shelf.put([(entity_key(*key), dump_state(self.states.pop(key).replace(runs={}))) for key in away])

    def _state(self, key: Key) -> EntityState | None:
        state = self.states.get(key)
        if state is None and self.shelf.count:
            data = self.shelf.take(entity_key(*key))
            if data is not None:
                state = load_state(data)
        return state

    def entities(self) -> Iterator[EntityState]:
        """The state of every entity seen: those in memory in the order first seen, then those
        put away (read back one at a time, left on the shelf)."""
        yield from self.states.values()
        for data in self.shelf.states():
            yield load_state(data)

    def final(self) -> list[InstanceStatus]:
        """Status of every SLA instance at the watermark, ordered by instance id."""
        if self.watermark is None:
            return []
        rows = [s for st in self.entities() for s in self.engine.status(st, self.watermark)]
        return sorted(rows, key=lambda s: s.instance_id)


def parse_lines(lines: Iterable[bytes], kind: str | None = None) -> Iterator[AnyEvent | BadLine]:
    """Events of a JSONL file; a bad line yields a BadLine with its number and reason.

    A line's kind is its `kind` field, else `kind` (the --kind option), else the kind whose
    entity id field it has (docs/events.md).
    """
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield BadLine(number, f"not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield BadLine(number, f"expected a JSON object, got {type(obj).__name__}")
            continue
        line_kind = obj.get("kind") or kind or implied_kind(obj)
        if kind is not None and line_kind != kind:
            yield BadLine(number, f"kind {line_kind!r} is not the --kind {kind!r}")
        elif line_kind not in EVENT_MODELS:
            yield BadLine(number, "cannot tell the event kind: add `kind`, one of ticket_id / incident_id / contact_id / "
                                  "probe_id, or pass --kind")
        else:
            try:
                yield EVENT_MODELS[line_kind].model_validate(obj)
            except ValidationError as exc:
                yield BadLine(number, describe(exc))


@dataclass(frozen=True)
class Counts:
    applied: int  # ticket and incident events fed to the engine
    ignored: int  # probe results and contacts (not part of the SLA clock engine)
    bad: int  # lines skipped as unreadable or invalid


def run(
    engine: ClockEngine, source: IO[bytes], out: IO[bytes], errors: IO[str], final: bool, kind: str | None = None
) -> Counts:
    """Replay `source` into `out` as JSON lines."""
    replay = Replay(engine)
    applied = ignored = bad = 0
    for item in parse_lines(source, kind):
        if isinstance(item, BadLine):
            bad += 1
            errors.write(f"skipped {item}\n")
        elif isinstance(item, (ProbeEvent, ContactEvent)):
            ignored += 1
        else:
            applied += 1
            for output in replay.feed(item):
                out.write(codec.dumps(output) + b"\n")
    if final:
        for row in replay.final():
            out.write(codec.dumps(row) + b"\n")
    return Counts(applied, ignored, bad)
