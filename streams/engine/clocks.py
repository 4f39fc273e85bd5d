"""The SLA clock engine (pure): ticket and incident events in, lifecycle events out.

Per entity (a ticket or an incident) the state keeps the applied events in event-time
order and, per SLA instance, a ledger of the facts already published and the walk of its
clock over the events (a `Run`, which also holds when the running clock next reaches a
threshold, so that time passing costs nothing until then). Every call derives each
instance's facts up to `now`, then reconciles them with the ledger:

- a fact not yet published is published (warning, breached, met, missed);
- a published fact that no longer holds (a late event changed history) gets a
  `correction` that names it, followed by the fact that holds now.

This makes duplicates no-ops, makes the outcome independent of arrival order, and keeps
the state small (a ticket has tens of events). An event that sorts after all others (the
usual case) continues each walk from its `Run`; a late one walks the whole history again,
and both give the same state (the property tests check it, and that every call publishes
what a straightforward walk from the first event gives). `now` is the clock: the
watermark in replay, wall time in live mode; nothing fires after it.

Built for speed (replay and what-if run it over millions of events): each policy is
compiled once (calendars to interval tables, targets and thresholds per level to integer
microseconds), instants are integers (instants.py) and datetimes appear only at the edges,
a step re-derives thresholds only when one is due within it or the target or the running
state changes, and lifecycle events are plain records (`Lifecycle`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Iterable, Literal, cast, final

import orjson
from mypy_extensions import mypyc_attr

from schemas.compact import compact
from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import InstanceStatus, Lifecycle, LifecycleType
from schemas.policy import IncidentPolicy, Ola, Policy, TicketPolicy
from streams.engine.calendar import Calendar, build_calendars
from streams.engine.instants import SECOND, instant, iso, micros, span, zulu

Kind = Literal["ticket", "incident"]
Metric = Literal["response", "resolution", "acknowledge", "resolve"]
METRICS: dict[str, tuple[Metric, Metric]] = {"ticket": ("response", "resolution"), "incident": ("acknowledge", "resolve")}
_TERMINAL = {"ticket": frozenset({"solved", "closed"}), "incident": frozenset({"resolved"})}
_STOPS: dict[Metric, frozenset[str]] = {  # statuses that stop each metric's clock
    "response": _TERMINAL["ticket"], "resolution": _TERMINAL["ticket"],
    "acknowledge": frozenset({"acknowledged", "resolved"}), "resolve": _TERMINAL["incident"],
}


@mypyc_attr(acyclic=True)
class _Record:
    """A part of the engine's state: compiled, read-only, compared and shown by its fields.
    The state's classes are `acyclic`: the cyclic collector does not track them, as they never
    refer back to what holds them and nothing is written into them once built. A worker keeps
    tens of thousands of states, and tracked, every state a change replaced was scanned again
    by each young collection (docs/architecture.md, sixteenth round)."""

    __slots__ = ()

    def _fields(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == cast(_Record, other)._fields()

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._fields()!r}"


@final
@mypyc_attr(acyclic=True)  # each class says so itself (mypyc does not inherit it)
class Applied(_Record):
    """The part of an input event the engine needs."""

    __slots__ = ("at", "event_id", "status", "level", "reply", "customer", "service", "group", "supplier")

    def __init__(self, at: int, event_id: str, status: str, level: str, reply: bool, customer: str, service: str,
                 group: str = "", supplier: str = "") -> None:
        self.at: Final = at  # microseconds since the epoch (instants.py)
        self.event_id: Final = event_id
        self.status: Final = status
        self.level: Final = level
        self.reply: Final = reply
        self.customer: Final = customer
        self.service: Final = service
        self.group: Final = group  # the ticket's assignment group after the event ("" none)
        self.supplier: Final = supplier  # its supplier after the event ("" none)

    def team(self, field: int) -> str:
        """The team the event names in `field` (_GROUP or _SUPPLIER)."""
        return self.group if field == _GROUP else self.supplier

    def _fields(self) -> tuple[object, ...]:
        return (self.at, self.event_id, self.status, self.level, self.reply, self.customer, self.service, self.group,
                self.supplier)


def entry(event: TicketEvent | IncidentEvent) -> tuple[Kind, str, Applied]:
    """The kind, the entity id and the `Applied` of an event. Fields are read from the model's
    `__dict__` (where pydantic keeps them) in one go: an attribute read on a model walks its
    class first, and these reads were a tenth of replay time."""
    fields = event.__dict__
    # Enum members' `_value_` (a plain attribute) rather than `.value` (a descriptor call).
    status = fields["status"]._value_
    if isinstance(event, TicketEvent):
        return "ticket", fields["ticket_id"], Applied(
            micros(fields["occurred_at"]), fields["event_id"], status, fields["priority"]._value_,
            fields["public_reply"], fields["customer"], fields["service"], fields["assignment_group"] or "",
            fields["supplier"] or "")
    return "incident", fields["incident_id"], Applied(
        micros(fields["occurred_at"]), fields["event_id"], status, fields["severity"]._value_, False,
        fields["customer"], fields["service"])


_GROUP: Final = 7  # team fields of `Applied` (`Applied.team`), as their place in its stored list (state_codec)
_SUPPLIER: Final = 8
_TEAM_FIELDS = {"group": _GROUP, "supplier": _SUPPLIER}


@final
@mypyc_attr(acyclic=True)
class Fact(_Record):
    """A fact of an instance's walk. Times in microseconds; `type` a LifecycleType value."""

    __slots__ = ("key", "type", "at", "level", "target", "elapsed", "threshold")

    def __init__(self, key: str, type: str, at: int, level: str, target: int | None, elapsed: int,
                 threshold: float | None) -> None:
        self.key: Final = key  # what the fact is about: warning:<fraction>, breached, outcome:<cycle>
        self.type: Final = type
        self.at: Final = at
        self.level: Final = level
        self.target: Final = target
        self.elapsed: Final = elapsed
        self.threshold: Final = threshold

    def _fields(self) -> tuple[object, ...]:
        return self.key, self.type, self.at, self.level, self.target, self.elapsed, self.threshold


@final
@mypyc_attr(acyclic=True)
class Published(_Record):
    """A fact already on the breach topic: what it said (to detect change) and its event id."""

    __slots__ = ("type", "at", "event_id", "summary")

    def __init__(self, type: str, at: int, event_id: str, summary: str) -> None:
        self.type: Final = type
        self.at: Final = at
        self.event_id: Final = event_id
        # What identifies the fact (its event id is derived from it): type and instant, as
        # "type|ISO instant". Kept, not derived: every write of the entity's state holds it.
        self.summary: Final = summary

    def _fields(self) -> tuple[object, ...]:
        return self.type, self.at, self.event_id, self.summary


@final
@mypyc_attr(acyclic=True)
class Ledger(_Record):
    """What an instance published."""

    __slots__ = ("version", "facts", "retracted")

    def __init__(self, version: int = 0, facts: dict[str, Published] | None = None,
                 retracted: frozenset[str] = frozenset()) -> None:
        self.version: Final = version
        self.facts: Final[dict[str, Published]] = {} if facts is None else facts
        self.retracted: Final = retracted  # ids corrections took back: a fact that holds again needs a new one

    def _fields(self) -> tuple[object, ...]:
        return self.version, self.facts, self.retracted


@final
@mypyc_attr(acyclic=True)
class Run(_Record):
    """Where the walk over an entity's events left one instance's clock: an event that sorts
    after all of them continues from here instead of walking the whole history again.
    Times in microseconds.

    A compiled class with read-only (`Final`) attributes, like the rest of the state: two or
    three are built per event, and a class keeps its integers as machine words where a tuple
    boxes each one (a run is built in a seventh of a NamedTuple's time)."""

    __slots__ = ("n", "started", "prev", "elapsed", "level", "running", "stopped_at", "cycle", "facts", "due", "rolled")

    def __init__(self, n: int, started: int, prev: int, elapsed: int, level: str, running: bool,
                 stopped_at: int | None, cycle: int, facts: dict[str, Fact], due: int | None,
                 rolled: bool = False) -> None:
        self.n: Final = n  # events walked
        self.started: Final = started
        self.prev: Final = prev  # time of the last event walked
        self.elapsed: Final = elapsed  # SLA time elapsed at `prev`
        self.level: Final = level
        self.running: Final = running
        self.stopped_at: Final = stopped_at
        self.cycle: Final = cycle  # reopenings so far
        self.facts: Final = facts  # the walk's facts, and those time fired since `prev` (`rolled`)
        # When the running clock reaches its lowest threshold not yet fired (None: not running,
        # no target, or all fired): until then time alone changes nothing.
        self.due: Final = due
        self.rolled: Final = rolled  # `facts` holds facts fired by time after `prev` (a new event may undo them)

    def _fields(self) -> tuple[object, ...]:
        return (self.n, self.started, self.prev, self.elapsed, self.level, self.running, self.stopped_at, self.cycle,
                self.facts, self.due, self.rolled)


@final
@mypyc_attr(acyclic=True)
class EntityState(_Record):
    """Everything the engine keeps for one ticket or incident: read-only attributes, like
    `Run` (one is built per event). Its dicts (and those of its runs and ledgers) are never
    written once a state is built: a change copies them. They are typed `dict`, not `Mapping`,
    because compiled code reads a dict natively and a Mapping through method calls (a sixth
    of replay time went into `.get`, `.items` and `.values`)."""

    __slots__ = ("kind", "entity_id", "events", "ledgers", "due", "runs", "teams", "named")

    def __init__(self, kind: Kind, entity_id: str, events: tuple[Applied, ...] = (),
                 ledgers: dict[str, Ledger] | None = None, due: int | None = None, runs: dict[str, Run] | None = None,
                 teams: tuple[tuple[int, str], ...] = (),
                 named: tuple[tuple[_Plan, ...], tuple[str, ...]] | None = None) -> None:
        self.kind: Final = kind
        self.entity_id: Final = entity_id
        self.events: Final = events
        self.ledgers: Final[dict[str, Ledger]] = {} if ledgers is None else ledgers
        self.due: Final = due  # when `advance` will next publish something (microseconds)
        self.runs: Final[dict[str, Run]] = {} if runs is None else runs  # per instance: the walk over `events`
        self.teams: Final = teams  # (`Applied` field, name) of every team in `events`, sorted (OLAs)
        # The plans the engine last found for the entity and their instance ids (`_named`):
        # derived, neither compared nor stored.
        self.named: Final = named

    @property
    def next_due(self) -> datetime | None:
        """When `advance` will next publish something."""
        return None if self.due is None else instant(self.due)

    def replace(self, *, runs: dict[str, Run] | None = None, teams: tuple[tuple[int, str], ...] | None = None
                ) -> "EntityState":
        """The state with other runs or teams."""
        return EntityState(self.kind, self.entity_id, self.events, self.ledgers, self.due,
                           self.runs if runs is None else runs, self.teams if teams is None else teams, self.named)

    def _fields(self) -> tuple[object, ...]:
        return self.kind, self.entity_id, self.events, self.ledgers, self.due, self.runs, self.teams


Threshold = tuple[int, str, str, "float | None"]  # needed time (µs), fact key, type, fraction (None: the breach)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One (contract, metric), or (OLA, metric), compiled for the hot path; times in microseconds."""

    contract_id: str  # "" for an OLA
    ola: str | None  # an OLA's team, "group:<name>" or "supplier:<name>"
    slot: str  # what instance ids name it by: the contract id, or "ola:<team>"
    metric: Metric
    calendar: Calendar
    targets: dict[str, int]  # level -> target
    pause: frozenset[str]
    stops: frozenset[str]  # statuses that stop the clock
    reply_stops: bool  # a public reply stops it too (response)
    reopens: bool  # a stopped clock runs on when the entity leaves a terminal status (resolution)
    terminal: frozenset[str]
    thresholds: dict[str, tuple[Threshold, ...]]  # level -> thresholds, rising, ending with the breach
    fractions: tuple[tuple[float, str], ...]  # (fraction, fact key), rising, ending with (1.0, "breached")
    # The clock runs only while the event's team field `team_at` (`Applied.team`; -1: always)
    # is `team`: an OLA's team, or one group of an SLA's elapsed split (`_held`).
    team_at: int = -1
    team: str = ""
    acts_stop: bool = False  # an OLA response: the team's first act (reply, status change) or hand-on stops it


@final
@mypyc_attr(acyclic=True)
class _Derived:
    """An instance as of an instant (`ClockEngine._finish`). A compiled class, like `Run`: one
    is built per status row and lifecycle check."""

    __slots__ = ("facts", "state", "level", "target", "elapsed", "deadline", "next_due")

    def __init__(self, facts: dict[str, Fact], state: Literal["running", "paused", "stopped"], level: str,
                 target: int | None, elapsed: int, deadline: int | None, next_due: int | None) -> None:
        self.facts: Final = facts
        self.state: Final = state
        self.level: Final = level
        self.target: Final = target
        self.elapsed: Final = elapsed
        self.deadline: Final = deadline
        self.next_due: Final = next_due  # when facts next change by time alone (a threshold, or a fact ahead of `now`)


class ClockEngine:
    """Applies ticket and incident events to SLA instances under a policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.calendars: dict[str, Calendar] = build_calendars(policy.doc.calendars)
        self._plans: dict[tuple[str, Kind], list[_Plan]] = {}
        for contract in policy.contracts:
            for kind in ("ticket", "incident"):
                section = contract.tickets if kind == "ticket" else contract.incidents
                if section is not None:
                    self._plans[(contract.id, kind)] = [self._plan(kind, section, m, contract.id) for m in METRICS[kind]]
        # OLAs by (`Applied` field, team name): a ticket has those of the teams that held it.
        self._olas: dict[tuple[int, str], tuple[_Plan, ...]] = {
            (_TEAM_FIELDS["group" if ola.group is not None else "supplier"], ola.group or ola.supplier or ""):
                tuple(self._plan("ticket", ola, m, "", ola) for m in METRICS["ticket"])
            for ola in policy.doc.olas
        }
        # Plans by (kind, customer, service, teams of a ticket), remembered (a dict, not lru_cache:
        # compiled code calls a cache as Python) and forgotten when full: they come from input,
        # so the memo is bounded. The same key gives the same tuple, which `_named` relies on.
        self._covering: dict[tuple[str, str, str, tuple[tuple[int, str], ...]], tuple[_Plan, ...]] = {}

    def _plan(self, kind: Kind, section: TicketPolicy | IncidentPolicy | Ola, metric: Metric, contract_id: str,
              ola: Ola | None = None) -> _Plan:
        targets = {level.value: t for level, tgt in section.targets.items() if (t := getattr(tgt, metric)) is not None}
        pause = frozenset(s.value for s in section.pause_statuses) if not isinstance(section, IncidentPolicy) else frozenset()
        fractions = (*((t, f"warning:{t}") for t in section.warn_at), (1.0, "breached"))
        thresholds = {
            level: tuple(
                # timedelta * float rounds as the reference's (and earlier versions') thresholds did
                (span(target * fraction), key, "breached" if fraction == 1.0 else "warning",
                 None if fraction == 1.0 else fraction)
                for fraction, key in fractions)
            for level, target in targets.items()
        }
        compiled = {k: span(t) for k, t in targets.items()}
        calendar = self.calendars[section.calendar]
        reopens = metric in ("resolution", "resolve")
        if ola is None:
            return _Plan(contract_id, None, contract_id, metric, calendar, compiled, pause, _STOPS[metric],
                         metric == "response", reopens, _TERMINAL[kind], thresholds, fractions)
        # An OLA's clocks stop at a terminal status wherever the ticket is; its response also at
        # the team's first act or hand-on (`_walk`), not at another team's reply.
        field = "group" if ola.group is not None else "supplier"
        return _Plan("", ola.team, f"ola:{ola.team}", metric, calendar, compiled, pause, _TERMINAL[kind], False,
                     reopens, _TERMINAL[kind], thresholds, fractions, _TEAM_FIELDS[field], getattr(ola, field),
                     metric == "response")

    # -- public API ---------------------------------------------------------------

    def apply(
        self, state: EntityState | None, event: TicketEvent | IncidentEvent, now: datetime
    ) -> tuple[EntityState, list[Lifecycle]]:
        """Add one event (in any order; repeats are ignored) and publish what changed."""
        return self.apply_us(state, event, micros(now))

    def apply_us(
        self, state: EntityState | None, event: TicketEvent | IncidentEvent, now: int
    ) -> tuple[EntityState, list[Lifecycle]]:
        """`apply` with the clock in microseconds since the epoch (instants.py)."""
        return self.apply_entry(state, *entry(event), now)

    def apply_entry(
        self, state: EntityState | None, kind: Kind, entity: str, applied: Applied, now: int
    ) -> tuple[EntityState, list[Lifecycle]]:
        """`apply_us` with the event as `entry` gives it (callers that key state by it first)."""
        state = state or EntityState(kind, entity)
        eid = applied.event_id
        for seen in state.events:
            if seen.event_id == eid:  # a repeat
                return state, []
        events = state.events
        group, supplier, teams = applied.group, applied.supplier, state.teams
        if (group and (_GROUP, group) not in teams) or (supplier and (_SUPPLIER, supplier) not in teams):
            state = state.replace(teams=teams_of((applied,), teams))
        if not events:
            return self._reconcile(state, now, (applied,), state.runs)
        last = events[-1]
        if last.customer != applied.customer:
            # Callers key state by customer and id; this guards against one that does not.
            raise ValueError(f"{kind} {entity!r} of customer {last.customer!r} cannot take an event of {applied.customer!r}")
        if (last.at, last.event_id) < (applied.at, eid):
            # In order (the usual case): each instance's walk goes on from the last event.
            return self._reconcile(state, now, (*events, applied), state.runs)
        # A late event changes history before it: the walks start again from the first.
        ordered = tuple(sorted((*events, applied), key=lambda e: (e.at, e.event_id)))
        return self._reconcile(state, now, ordered, {})

    def advance(self, state: EntityState, now: datetime) -> tuple[EntityState, list[Lifecycle]]:
        """Publish what became due by `now` (warnings, breaches) without a new event."""
        return self.advance_us(state, micros(now))

    def advance_us(self, state: EntityState, now: int) -> tuple[EntityState, list[Lifecycle]]:
        """`advance` with the clock in microseconds since the epoch."""
        return self._reconcile(state, now, state.events, state.runs)

    def snapshot(self, state: EntityState) -> list[InstanceStatus]:
        """Status rows, each as of the entity's latest event or the instance's latest published fact.

        A function of what the row's version counts (the entity's events, the instance's
        published facts) alone, never of the clock a caller runs by nor of another instance's
        facts: every run of the same input writes the same row for the same version, however
        late it is computed; `as_of` is never before `started_at`.
        """
        latest = state.events[-1].at
        return [InstanceStatus(**self._row(state, plan, instance, run,
                                           _as_of(latest, state.ledgers.get(instance, _NO_LEDGER))))
                for plan, instance, run in self._runs(state)]

    def status_json(self, state: EntityState, reuse: dict[str, tuple[int, bytes]] | None = None) -> bytes | None:
        """`snapshot` as the JSON of an `EntityStatus` record for the instances topic (the bytes
        `schemas.codec.dumps` writes for it; tests hold it to that), built without a pydantic
        model; None without instances.

        `reuse`: each instance's row as last written (its version and JSON), updated here. A
        row is a function of its version (see `snapshot`), so one of the same version is taken
        as it is, neither derived nor serialised again: a deadline changes one instance of
        the entity, and the worker writes a record per changed entity per tick."""
        rows = self._rows(state, reuse)
        if not rows:
            return None
        return b"".join((b'{"entity_id":', orjson.dumps(state.entity_id), b',"instances":[', b",".join(rows),
                         b'],"kind":', orjson.dumps(state.kind), b',"schema_version":1}'))

    def status(self, state: EntityState, now: datetime) -> list[InstanceStatus]:
        """Current status of every SLA instance of the entity."""
        at = micros(now)
        return [InstanceStatus(**self._row(state, plan, instance, run, at))
                for plan, instance, run in self._runs(state)]

    def _rows(self, state: EntityState, reuse: dict[str, tuple[int, bytes]] | None = None) -> list[bytes]:
        """The JSON of each instance's `InstanceStatus` (as `snapshot` has it); rows of `reuse`
        that have the instance's version are taken as they are (kept rows are compacted:
        orjson's bytes hold its whole buffer)."""
        out = []
        latest = state.events[-1].at if state.events else 0
        for plan, instance, run in self._instances(state):
            version = _version(state, instance)
            if reuse is not None:
                kept = reuse.get(instance)
                if kept is not None and kept[0] == version:
                    out.append(kept[1])
                    continue
            now = _as_of(latest, state.ledgers.get(instance, _NO_LEDGER))
            walked = self._walk(state.events, plan, run)
            # Keys in name order and instants as text: orjson writes the model's sorted JSON
            # without sorting or a datetime per instant (a third of a row's time).
            row = compact(orjson.dumps(self._row(state, plan, instance, walked, now, True)))
            out.append(row)
            if reuse is not None:
                reuse[instance] = (version, row)
        return out

    def _row(self, state: EntityState, plan: _Plan, instance: str, run: Run, now: int,
             text: bool = False) -> dict[str, Any]:
        """The fields of one instance's `InstanceStatus` as of `now`, in name order (their
        sorted JSON); instants as datetimes, or with `text` as orjson writes them (`zulu`)."""
        events = state.events
        last = events[-1]
        d = self._finish(run, plan, now)
        outcome = None
        if d.state == "stopped":  # the latest outcome (a reopened instance has one per cycle)
            outcome = next((f.type for f in sorted(d.facts.values(), key=lambda f: f.at, reverse=True)
                            if f.type in ("met", "missed")), None)
        grouped = state.kind == "ticket" and any(e.group for e in events)
        return {
            "as_of": _stamp(now, text), "breached": "breached" in d.facts, "contract_id": plan.contract_id,
            "customer": last.customer, "deadline": None if d.deadline is None else _stamp(d.deadline, text),
            "elapsed_s": d.elapsed / SECOND, "entity_id": state.entity_id,
            "held_s": self._held(events, plan, now) if grouped and plan.ola is None else None,
            "instance_id": instance, "kind": state.kind, "level": d.level, "metric": plan.metric, "ola": plan.ola,
            "outcome": outcome, "service": last.service, "started_at": _stamp(run.started, text), "state": d.state,
            "stopped_at": None if run.stopped_at is None else _stamp(run.stopped_at, text), "target_s": _secs(d.target),
            "version": _version(state, instance),
        }

    def _held(self, events: tuple[Applied, ...], plan: _Plan, now: int) -> dict[str, float]:
        """An SLA instance's elapsed time as of `now`, split by the assignment group holding the
        ticket meanwhile ("" for none; groups whose time did not count left out): its clock
        walked once per group, running only while that group holds the ticket (the parts add
        up to the instance's elapsed time)."""
        out = {}
        for group in sorted({e.group for e in events}):
            part = replace(plan, team_at=_GROUP, team=group)
            held = self._finish(self._walk(events, part, None), part, now).elapsed
            if held:
                out[group] = held / SECOND
        return out

    def deadlines(self, state: EntityState) -> dict[str, datetime | None]:
        """Per instance, when its clock reaches its target: the breach instant if it did; for
        a clock stopped (or paused) before that, the instant it would reach the target had it
        run on from the stop (or the last event). None without a target for its level."""
        out: dict[str, datetime | None] = {}
        for plan, instance, run in self._runs(state):
            target = plan.targets.get(run.level)
            if target is None:
                out[instance] = None
            elif "breached" in run.facts:
                out[instance] = instant(run.facts["breached"].at)
            else:
                start = run.prev if run.stopped_at is None else run.stopped_at
                out[instance] = instant(plan.calendar.add_us(start, target - run.elapsed))
        return out

    # -- derivation -----------------------------------------------------------------

    def _runs(self, state: EntityState) -> Iterable[tuple[_Plan, str, Run]]:
        """Each SLA and OLA instance of the entity with its clock walked over every event."""
        for plan, instance, run in self._instances(state):
            yield plan, instance, self._walk(state.events, plan, run)

    def _instances(self, state: EntityState) -> Iterable[tuple[_Plan, str, Run | None]]:
        """Each SLA and OLA instance of the entity with its run as kept (None: not walked yet)."""
        events = state.events
        if not events:
            return
        plans, ids = self._named(state, events[-1])
        for i, plan in enumerate(plans):
            instance = ids[i]
            run = state.runs.get(instance)
            if run is None and _start(plan, events) is None:
                continue
            yield plan, instance, run

    def _plans_of(self, kind: Kind, customer: str, service: str) -> tuple[_Plan, ...]:
        """The (contract, metric) plans of a customer's service (remembered in `_covering`)."""
        return tuple(plan for contract in self.policy.contracts_for(customer, service)
                     for plan in self._plans.get((contract.id, kind), ()))

    def _named(self, state: EntityState, last: Applied) -> tuple[tuple[_Plan, ...], tuple[str, ...]]:
        """The plans of an entity (its contracts', then the OLAs of every team that held it;
        `last` its latest event) and the instance id each would have: `state.named` when the
        plans are the same (building and hashing the ids anew on every event was 3 % of replay's
        instructions)."""
        kind, teams = state.kind, state.teams
        key = (kind, last.customer, last.service, teams)
        plans = self._covering.get(key)
        if plans is None:
            plans = self._plans_of(kind, last.customer, last.service)
            if teams:
                plans += tuple(p for team in teams for p in self._olas.get(team, ()))
            plans = _remember(self._covering, key, plans)
        named = state.named
        if named is not None and named[0] is plans:
            return named
        entity = state.entity_id
        return plans, tuple([f"{kind}:{entity}:{plan.slot}:{plan.metric}" for plan in plans])

    @staticmethod
    def _walk(events: tuple[Applied, ...], plan: _Plan, run: Run | None) -> Run:
        """The instance's clock over `events`, continued from `run` (which covers the first
        `run.n` of them) or from the first event. Independent of the clock's `now`."""
        if run is not None:
            if run.n == len(events):
                return run
            if run.stopped_at is not None and not plan.reopens:
                # Stopped for good (a response or acknowledge clock): later events change nothing
                # but where the walk stands.
                last = events[-1]
                return Run(len(events), run.started, last.at, run.elapsed, last.level, False, run.stopped_at,
                                  run.cycle, run.facts, None, False)
            if plan.team_at >= 0 and not run.running and run.stopped_at is None and run.n + 1 == len(events):
                # A team's clock that waits for the ticket to come back: an event of another team's
                # (not a stop) moves only where the walk stands.
                ev, before = events[-1], events[-2]
                if ev.team(plan.team_at) != plan.team and before.team(plan.team_at) != plan.team and ev.status not in plan.stops:
                    return Run(len(events), run.started, ev.at, run.elapsed, ev.level, False, None, run.cycle,
                                      run.facts, None, False)
        calendar, targets, levels = plan.calendar, plan.targets, plan.thresholds
        team_at, team = plan.team_at, plan.team
        if run is None:
            start = _start(plan, events) or 0  # callers know there is one
            first = events[start]
            run = Run(start, first.at, first.at, 0, first.level, False, None, 0, _NO_FACTS, None)
        prev, elapsed, level, running, stopped_at, cycle, due = (
            run.prev, run.elapsed, run.level, run.running, run.stopped_at, run.cycle, run.due)
        facts = run.facts  # written only once copied (`own`)
        target = targets.get(level)
        thresholds = levels.get(level, ())
        own = False  # whether `facts` is this walk's copy (copied on the first change)
        if run.rolled:
            # Facts after the last event walked were fired by time passing (`_rolled`); the new
            # events may stop, pause or re-target the clock before them, so the walk fires them again.
            facts, own = {k: f for k, f in facts.items() if f.at <= prev}, True
            due = _next_threshold(facts, calendar, thresholds, prev, elapsed) if running else None
        for n in range(run.n, len(events)):
            ev = events[n]
            at = ev.at
            stops = ev.status in plan.stops or (ev.reply and plan.reply_stops)
            held = team_at < 0 or ev.team(team_at) == team
            if plan.acts_stop and n and not stops:
                before = events[n - 1]
                if before.team(team_at) == team and (ev.reply or ev.status != before.status or not held):
                    stops = True  # the team acted (a reply, a status change) or handed the ticket on
            fired = False  # whether this step added facts
            if n:
                if running:
                    used = calendar.elapsed_us(prev, at)
                    if due is not None and (due < at or (due == at and not stops)):  # a threshold in [prev, at]
                        if not own:
                            facts, own = dict(facts), True
                        _segment(facts, calendar, thresholds, prev, at, elapsed, used, level, target, not stops)
                        fired = True
                    elapsed += used
                prev = at
            old_target, was_running = target, running
            level = ev.level
            target = targets.get(level)
            thresholds = levels.get(level, ())
            if stopped_at is None and stops:
                if not own:
                    facts, own = dict(facts), True
                stopped_at, fired = at, True
                if target is not None and elapsed > target and "breached" not in facts:
                    facts["breached"] = Fact("breached", "breached", at, level, target, elapsed, None)  # re-targeted below elapsed
                key = f"outcome:{cycle}"
                facts[key] = Fact(key, "missed" if "breached" in facts else "met", at, level, target, elapsed, None)
            elif stopped_at is not None and plan.reopens and ev.status not in plan.terminal:
                stopped_at, cycle = None, cycle + 1
            running = stopped_at is None and ev.status not in plan.pause and held
            if not running or target is None:
                due = None
            elif fired or not was_running or target != old_target:
                # A re-target or a restart can put elapsed past thresholds at once; either way (or
                # after a threshold fired) the next one due is another.
                for needed, key, type_, fraction in thresholds:
                    if elapsed >= needed and key not in facts:
                        if not own:
                            facts, own = dict(facts), True
                        facts[key] = Fact(key, type_, at, level, target, elapsed, fraction)
                due = _next_threshold(facts, calendar, thresholds, prev, elapsed)
        return Run(len(events), run.started, prev, elapsed, level, running, stopped_at, cycle, facts, due, False)

    @staticmethod
    def _rolled(run: Run, plan: _Plan, now: int) -> Run:
        """The run with the thresholds its running clock crossed before `now` fired and `due`
        moved on to the next one: without it every later call derives them again (a deadline
        fired by a tick stays due in the run until the entity's next event). Called with
        `run.due < now`, so the clock runs and has a target."""
        calendar, thresholds = plan.calendar, plan.thresholds[run.level]
        facts = dict(run.facts)
        _segment(facts, calendar, thresholds, run.prev, now, run.elapsed, calendar.elapsed_us(run.prev, now),
                 run.level, plan.targets[run.level], False)  # a fact at `now` itself may still be undone by an event at `now`
        return Run(run.n, run.started, run.prev, run.elapsed, run.level, run.running, run.stopped_at, run.cycle,
                          facts, _next_threshold(facts, calendar, thresholds, run.prev, run.elapsed), True)

    @staticmethod
    def _facts_at(run: Run, plan: _Plan, now: int) -> tuple[dict[str, Fact], int | None]:
        """The instance's facts up to `now` and when it next publishes something: what
        `_finish` derives, without its calendar work while no threshold is due by `now`."""
        due = run.due
        if due is not None and due <= now:
            derived = ClockEngine._finish(run, plan, now)
            return derived.facts, derived.next_due
        if run.prev <= now:  # every fact of the walk is at or before its last event
            return run.facts, due
        # Events ahead of the clock (skew, replay held back): their facts wait for it.
        facts = run.facts
        ahead = [f.at for f in facts.values() if f.at > now]
        if ahead:
            facts = {k: f for k, f in facts.items() if f.at <= now}
            due = min(ahead if due is None else [due, *ahead])
        return facts, due

    @staticmethod
    def _finish(run: Run, plan: _Plan, now: int) -> _Derived:
        """The instance as of `now`: the walk's facts up to `now`, and the running clock's."""
        calendar = plan.calendar
        target = plan.targets.get(run.level)
        facts: dict[str, Fact] = run.facts
        elapsed = run.elapsed
        deadline = None
        dues = []
        if run.running:
            used = calendar.elapsed_us(run.prev, now)
            if target is not None:
                thresholds = plan.thresholds[run.level]
                if now > run.prev:
                    facts = dict(facts)
                    _segment(facts, calendar, thresholds, run.prev, now, elapsed, used, run.level, target, True)
                due = _next_threshold(facts, calendar, thresholds, run.prev, elapsed)
                if due is not None:
                    dues.append(due)
                deadline = calendar.add_us(run.prev, target - elapsed) if elapsed < target else None
            elapsed += used
        ahead = [f.at for f in facts.values() if f.at > now]
        if ahead:  # events ahead of the clock (skew, replay held back): their facts wait for it
            dues += ahead
            facts = {k: f for k, f in facts.items() if f.at <= now}
        if run.running and "breached" in facts:
            deadline = facts["breached"].at
        state: Literal["running", "paused", "stopped"] = (
            "stopped" if run.stopped_at is not None else ("running" if run.running else "paused"))
        return _Derived(facts, state, run.level, target, elapsed, deadline, min((d for d in dues if d > now), default=None))

    # -- reconciliation ---------------------------------------------------------------

    def _publish(self, state: EntityState, last: Applied, plan: _Plan, instance: str, run: Run,
                 holding: dict[str, Fact], ledger: Ledger, now: int, outputs: list[Lifecycle]) -> Ledger:
        """Append to `outputs` what makes the published facts `holding` (the instance's facts
        at `now`, `last` the entity's latest event); returns the new ledger."""
        version = ledger.version
        facts = dict(ledger.facts)
        retracted = ledger.retracted
        gone = [key for key, seen in facts.items()
                if (f := holding.get(key)) is None or f.at != seen.at or f.type != seen.type]
        if gone:
            # Retract each published fact that no longer holds; the fact that holds now (if any) follows.
            derived = self._finish(run, plan, now)  # the clock as of now, which the notices carry
            taken = set(retracted)
            for key in sorted(gone):
                corrects = facts.pop(key).event_id
                taken.add(corrects)
                version += 1
                outputs.append(_lifecycle(
                    state, last, plan, instance, version, LifecycleType.correction, instant(now), derived.level,
                    derived.target, derived.elapsed, None, event_id(instance, "correction", corrects), corrects))
            retracted = frozenset(taken)
        new = [f for f in holding.values() if f.key not in facts]
        for fact in sorted(new, key=lambda f: (f.at, _ORDER[f.type], f.key)) if len(new) > 1 else new:
            summary = f"{fact.type}|{iso(fact.at)}"
            n = 0  # a fact published, retracted and holding again gets a new id
            while (eid := event_id(instance, fact.key, summary, str(n))) in retracted:
                n += 1
            version += 1
            outputs.append(_lifecycle(state, last, plan, instance, version, _TYPES[fact.type], instant(fact.at), fact.level,
                                      fact.target, fact.elapsed, fact.threshold, eid))
            facts[fact.key] = Published(fact.type, fact.at, eid, summary)
        return Ledger(version, facts, retracted)

    def _reconcile(self, state: EntityState, now: int, events: tuple[Applied, ...],
                   runs: dict[str, Run]) -> tuple[EntityState, list[Lifecycle]]:
        """The state with `events` (walks continued from `runs`) and what to publish by `now`."""
        kind, entity = state.kind, state.entity_id
        ledgers = state.ledgers
        changed: dict[str, Ledger] | None = None  # copied on the first change
        outputs: list[Lifecycle] = []
        next_due: int | None = None
        walked: dict[str, Run] = {}
        last = events[-1]
        named = self._named(state, last)
        plans, ids = named
        for i, plan in enumerate(plans):
            instance = ids[i]
            run = runs.get(instance)
            if run is None:
                if _start(plan, events) is None:
                    continue
                run = self._walk(events, plan, None)
            elif run.n != len(events):
                run = self._walk(events, plan, run)
            due = run.due
            if due is not None and due < now:
                run = self._rolled(run, plan, now)
                due = run.due
            walked[instance] = run
            if (due is not None and due <= now) or run.prev > now:
                facts, due = self._facts_at(run, plan, now)
            else:  # the usual case, what `_facts_at` gives without a call
                facts = run.facts
            if due is not None and (next_due is None or due < next_due):
                next_due = due
            ledger = ledgers.get(instance, _NO_LEDGER)
            if not _holds(facts, ledger.facts):  # most events change no published fact
                if changed is None:
                    changed = dict(ledgers)
                changed[instance] = self._publish(state, last, plan, instance, run, facts, ledger, now, outputs)
        return EntityState(kind, entity, events, ledgers if changed is None else changed, next_due, walked,
                           state.teams, named), outputs


_NO_LEDGER = Ledger()
_NO_FACTS: dict[str, Fact] = {}
_COVERS_KEPT = 65_536  # (kind, customer, service) plan lists remembered
_TYPES = {t.value: t for t in LifecycleType}
_ORDER = {"warning": 0, "breached": 1, "met": 2, "missed": 2, "correction": 3}


def _lifecycle(state: EntityState, last: Applied, plan: _Plan, instance: str, version: int, type_: LifecycleType,
               at: datetime, level: str, target: int | None, elapsed: int, threshold: float | None, eid: str,
               corrects: str | None = None) -> Lifecycle:
    """One lifecycle record of an instance (`last`: the entity's latest event)."""
    return Lifecycle(  # by position: the fields in name order
        at, plan.contract_id, corrects, last.customer, elapsed / SECOND, state.entity_id, eid, instance, state.kind,
        level, plan.metric, plan.ola, 1, last.service, None if target is None else target / SECOND, threshold, type_,
        version)


def event_id(instance_id: str, *parts: str) -> str:
    """Deterministic id of a lifecycle event: the instance and what identifies the fact."""
    return hashlib.sha256("|".join((instance_id, *parts)).encode()).hexdigest()[:32]


def published_until(state: EntityState) -> int | None:
    """The latest instant of a fact the entity's instances published (None: none yet). A
    caller whose clock stands behind it would see those facts as not yet due and retract them."""
    return max((p.at for ledger in state.ledgers.values() for p in ledger.facts.values()), default=None)


def teams_of(events: Iterable[Applied], teams: tuple[tuple[int, str], ...] = ()) -> tuple[tuple[int, str], ...]:
    """`teams` with those of `events` added (sorted, each once: any order of the same events gives the same)."""
    new = {(i, e.team(i)) for e in events for i in (_GROUP, _SUPPLIER) if e.team(i)}
    return teams if new <= set(teams) else tuple(sorted(new.union(teams)))


def _remember(memo: dict[Any, tuple[_Plan, ...]], key: Any, plans: tuple[_Plan, ...]) -> tuple[_Plan, ...]:
    """`plans` kept in `memo` under `key`; a full memo is emptied first."""
    if len(memo) >= _COVERS_KEPT:
        memo.clear()
    memo[key] = plans
    return plans


def _start(plan: _Plan, events: tuple[Applied, ...]) -> int | None:
    """Where an instance's walk starts: the first event, or for an OLA the first its team
    holds the ticket after; None when the plan has no instance here (no target for any level
    from there on, or a team that never held the ticket)."""
    start = 0
    if plan.ola is not None:
        team_at, team = plan.team_at, plan.team
        start = next((i for i, e in enumerate(events) if e.team(team_at) == team), -1)
        if start < 0:
            return None
    targets = plan.targets
    for i in range(start, len(events)):
        if events[i].level in targets:
            return start
    return None


def _holds(derived: dict[str, Fact], published: dict[str, Published]) -> bool:
    """Whether the published facts are exactly the derived ones (nothing to publish or correct)."""
    if len(derived) != len(published):
        return False
    for key, fact in derived.items():
        seen = published.get(key)
        if seen is None or seen.at != fact.at or seen.type != fact.type:
            return False
    return True


def _next_threshold(facts: dict[str, Fact], calendar: Calendar, thresholds: tuple[Threshold, ...], prev: int,
                    elapsed: int) -> int | None:
    """When a clock running from `prev` (with `elapsed` used) reaches its lowest threshold not
    in `facts`; thresholds rise, so that one is due first. None when all fired."""
    for needed, key, _, _ in thresholds:
        if key not in facts:
            return calendar.add_us(prev, needed - elapsed)
    return None


def _segment(facts: dict[str, Fact], calendar: Calendar, thresholds: tuple[Threshold, ...], t0: int, t1: int,
             e0: int, used: int, level: str, target: int | None, inclusive: bool) -> None:
    """Fire thresholds reached in [t0, t1] (t1 itself if `inclusive`), where `used` SLA time passes from `e0`."""
    for needed, key, type_, fraction in thresholds:
        if key in facts or needed > e0 + used:
            continue  # already fired, or not reached in this segment (no need to locate it)
        at = t0 if e0 >= needed else calendar.add_us(t0, needed - e0)
        if at < t1 or (inclusive and at == t1):
            facts[key] = Fact(key, type_, at, level, target, needed if needed > e0 else e0, fraction)


def _as_of(latest: int, ledger: Ledger) -> int:
    """A status row's instant: the entity's latest event (`latest`) or the instance's latest
    published fact, whichever is later."""
    at = latest
    for published in ledger.facts.values():
        if published.at > at:
            at = published.at
    return at


def _stamp(us: int, text: bool) -> datetime | str:
    """An instant of a status row: its datetime, or with `text` its JSON text (`zulu`); called
    directly, not passed as a function (a compiled call rather than a Python one)."""
    return zulu(us) if text else instant(us)


def _version(state: EntityState, instance: str) -> int:
    """An instance's row version: the entity's events and the instance's published facts."""
    return len(state.events) + state.ledgers.get(instance, _NO_LEDGER).version


def _secs(value: int | None) -> float | None:
    return None if value is None else value / SECOND

