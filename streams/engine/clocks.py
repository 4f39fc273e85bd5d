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
and both give the same state (the property tests check it). `now` is the clock: the
watermark in replay, wall time in live mode; nothing fires after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal, Mapping, NamedTuple

from schemas.events import IncidentEvent, TicketEvent
from schemas.outputs import InstanceStatus, LifecycleType, SlaEvent, event_id
from schemas.policy import Contract, IncidentPolicy, Policy, TicketPolicy
from streams.engine.calendar import ZERO, Calendar, build_calendars

Kind = Literal["ticket", "incident"]
Metric = Literal["response", "resolution", "acknowledge", "resolve"]
METRICS: dict[str, tuple[Metric, Metric]] = {"ticket": ("response", "resolution"), "incident": ("acknowledge", "resolve")}
_TERMINAL = {"ticket": frozenset({"solved", "closed"}), "incident": frozenset({"resolved"})}


class Applied(NamedTuple):
    """The part of an input event the engine needs (a NamedTuple: one is built per event)."""

    at: datetime
    event_id: str
    status: str
    level: str
    reply: bool
    customer: str
    service: str

    @classmethod
    def of(cls, event: TicketEvent | IncidentEvent) -> "Applied":
        if isinstance(event, TicketEvent):
            return cls(event.occurred_at, event.event_id, event.status.value, event.priority.value,
                       event.public_reply, event.customer, event.service)
        return cls(event.occurred_at, event.event_id, event.status.value, event.severity.value,
                   False, event.customer, event.service)


@dataclass(frozen=True, slots=True)
class Published:
    """A fact already on the breach topic: its summary (to detect change) and event id."""

    summary: str
    event_id: str


@dataclass(frozen=True, slots=True)
class Ledger:
    version: int = 0
    facts: Mapping[str, Published] = field(default_factory=dict)
    retracted: frozenset[str] = frozenset()  # ids corrections took back: a fact that holds again needs a new one


@dataclass(frozen=True, slots=True)
class EntityState:
    """Everything the engine keeps for one ticket or incident."""

    kind: Kind
    entity_id: str
    events: tuple[Applied, ...] = ()
    ledgers: Mapping[str, Ledger] = field(default_factory=dict)
    next_due: datetime | None = None  # when `advance` will next publish something
    runs: Mapping[str, "Run"] = field(default_factory=dict)  # per instance: the walk over `events`


@dataclass(frozen=True, slots=True)
class Fact:
    key: str
    type: LifecycleType
    at: datetime
    level: str
    target: timedelta | None
    elapsed: timedelta
    threshold: float | None = None
    # What identifies the fact on the breach topic; compared on every apply, so made once.
    summary: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", f"{self.type.value}|{self.at.isoformat()}")


class Run(NamedTuple):
    """Where the walk over an entity's events left one instance's clock: an event that sorts
    after all of them continues from here instead of walking the whole history again.

    Immutable like the other state; a NamedTuple because one is built per instance per
    event, and it builds several times faster than a frozen dataclass."""

    n: int  # events walked
    started: datetime
    prev: datetime  # time of the last event walked
    elapsed: timedelta  # SLA time elapsed at `prev`
    level: str
    running: bool
    stopped_at: datetime | None
    cycle: int  # reopenings so far
    facts: Mapping[str, Fact]  # facts of the walk, including any ahead of a clock, and those time fired since (`_rolled`)
    # When the running clock reaches its lowest threshold not yet fired (None: not running,
    # no target, or all fired): until then time alone changes nothing.
    due: datetime | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """One (contract, metric) compiled for the hot path."""

    contract: Contract
    metric: Metric
    calendar: Calendar
    targets: Mapping[str, timedelta]  # level -> target
    pause: frozenset[str]
    thresholds: tuple[tuple[float, str], ...]  # (fraction, fact key), rising, ending with (1.0, "breached")


class _Derived(NamedTuple):
    facts: dict[str, Fact]
    state: Literal["running", "paused", "stopped"]
    level: str
    target: timedelta | None
    elapsed: timedelta
    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime | None
    next_due: datetime | None


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
                    self._plans[(contract.id, kind)] = [self._plan(contract, section, m) for m in METRICS[kind]]
        # Customers and services come from input, so the memo of their plans is bounded.
        self._covering = lru_cache(maxsize=_COVERS_KEPT)(self._plans_of)

    def _plan(self, contract: Contract, section: TicketPolicy | IncidentPolicy, metric: Metric) -> _Plan:
        targets = {level.value: t for level, tgt in section.targets.items() if (t := getattr(tgt, metric)) is not None}
        pause = frozenset(s.value for s in section.pause_statuses) if isinstance(section, TicketPolicy) else frozenset()
        thresholds = (*((t, f"warning:{t}") for t in section.warn_at), (1.0, "breached"))
        return _Plan(contract, metric, self.calendars[section.calendar], targets, pause, thresholds)

    # -- public API ---------------------------------------------------------------

    def apply(
        self, state: EntityState | None, event: TicketEvent | IncidentEvent, now: datetime
    ) -> tuple[EntityState, list[SlaEvent]]:
        """Add one event (in any order; repeats are ignored) and publish what changed."""
        kind: Kind = event.kind  # type: ignore[assignment]
        entity = event.ticket_id if isinstance(event, TicketEvent) else event.incident_id
        state = state or EntityState(kind, entity)
        for seen in state.events:
            if seen.event_id == event.event_id:
                return state, []
        applied = Applied.of(event)
        last = state.events[-1] if state.events else None
        if last is not None and last.customer != applied.customer:
            # Callers key state by customer and id; this guards against one that does not.
            raise ValueError(f"{kind} {entity!r} of customer {last.customer!r} cannot take an event of {applied.customer!r}")
        if last is None or (last.at, last.event_id) < (applied.at, applied.event_id):
            # In order (the usual case): each instance's walk goes on from the last event.
            events, runs = (*state.events, applied), state.runs
        else:
            # A late event changes history before it: the walks start again from the first.
            events, runs = tuple(sorted((*state.events, applied), key=lambda e: (e.at, e.event_id))), {}
        return self._reconcile(state, now, events, runs)

    def advance(self, state: EntityState, now: datetime) -> tuple[EntityState, list[SlaEvent]]:
        """Publish what became due by `now` (warnings, breaches) without a new event."""
        return self._reconcile(state, now, state.events, state.runs)

    def snapshot(self, state: EntityState) -> list[InstanceStatus]:
        """Status rows, each as of the entity's latest event or the instance's latest published fact.

        A function of what the row's version counts (the entity's events, the instance's
        published facts) alone, never of the clock a caller runs by nor of another instance's
        facts: every run of the same input writes the same row for the same version, however
        late it is computed; `as_of` is never before `started_at`.
        """
        return [InstanceStatus(**row) for row in self._rows(state, self._as_of(state))]

    def snapshot_record(self, state: EntityState) -> dict[str, Any] | None:
        """`snapshot` as an `EntityStatus` record for the instances topic, built as a plain dict
        (the worker writes one per changed entity per tick: a pydantic model per instance was
        a tenth of its time); None without instances. Its JSON is `EntityStatus`'s (tests)."""
        rows = self._rows(state, self._as_of(state))
        if not rows:
            return None
        return {"schema_version": 1, "kind": state.kind, "entity_id": state.entity_id, "instances": rows}

    @staticmethod
    def _as_of(state: EntityState) -> Callable[[Ledger], datetime]:
        latest = state.events[-1].at
        return lambda ledger: max(
            [latest, *(datetime.fromisoformat(f.summary.partition("|")[2]) for f in ledger.facts.values())])

    def status(self, state: EntityState, now: datetime) -> list[InstanceStatus]:
        """Current status of every SLA instance of the entity."""
        return [InstanceStatus(**row) for row in self._rows(state, lambda ledger: now)]

    def _rows(self, state: EntityState, as_of: Callable[[Ledger], datetime]) -> list[dict[str, Any]]:
        """The fields of each instance's `InstanceStatus`, as of `as_of(its ledger)`."""
        out = []
        last = state.events[-1]
        for contract, plan, instance, run in self._runs(state):
            ledger = state.ledgers.get(instance, _NO_LEDGER)
            now = as_of(ledger)
            d = self._finish(run, plan, now)
            outcome = None
            if d.state == "stopped":  # the latest outcome (a reopened instance has one per cycle)
                outcome = next(
                    (f.type.value for f in sorted(d.facts.values(), key=lambda f: f.at, reverse=True)
                     if f.type in (LifecycleType.met, LifecycleType.missed)),
                    None,
                )
            out.append({
                "instance_id": instance, "version": len(state.events) + ledger.version, "kind": state.kind,
                "entity_id": state.entity_id, "contract_id": contract.id, "customer": last.customer,
                "service": last.service, "metric": plan.metric, "level": d.level, "state": d.state,
                "started_at": d.started_at, "stopped_at": d.stopped_at, "target_s": _secs(d.target),
                "elapsed_s": d.elapsed.total_seconds(), "deadline": d.deadline, "breached": "breached" in d.facts,
                "outcome": outcome, "as_of": now,
            })
        return out

    def deadlines(self, state: EntityState) -> dict[str, datetime | None]:
        """Per instance, when its clock reaches its target: the breach instant if it did; for
        a clock stopped (or paused) before that, the instant it would reach the target had it
        run on from the stop (or the last event). None without a target for its level."""
        out: dict[str, datetime | None] = {}
        for contract, plan, instance, run in self._runs(state):
            target = plan.targets.get(run.level)
            if target is None:
                out[instance] = None
            elif "breached" in run.facts:
                out[instance] = run.facts["breached"].at
            else:
                out[instance] = plan.calendar.add(run.stopped_at or run.prev, target - run.elapsed)
        return out

    # -- derivation -----------------------------------------------------------------

    def _runs(self, state: EntityState) -> Iterable[tuple[Contract, _Plan, str, Run]]:
        """Each SLA instance of the entity with its clock walked over every event."""
        return self._walks(state.kind, state.entity_id, state.events, state.runs)

    def _walks(self, kind: Kind, entity: str, events: tuple[Applied, ...],
               runs: Mapping[str, Run]) -> Iterable[tuple[Contract, _Plan, str, Run]]:
        if not events:
            return
        last = events[-1]
        for contract, plan in self._covering(kind, last.customer, last.service):
            instance = f"{kind}:{entity}:{contract.id}:{plan.metric}"
            run = runs.get(instance)
            if run is None and not any(e.level in plan.targets for e in events):
                continue
            yield contract, plan, instance, self._walk(kind, events, plan, run)

    def _plans_of(self, kind: Kind, customer: str, service: str) -> tuple[tuple[Contract, _Plan], ...]:
        """The (contract, metric) plans of a customer's service (memoised as `_covering`)."""
        return tuple((contract, plan) for contract in self.policy.contracts_for(customer, service)
                     for plan in self._plans.get((contract.id, kind), ()))

    def _walk(self, kind: Kind, events: tuple[Applied, ...], plan: _Plan, run: Run | None) -> Run:
        """The instance's clock over `events`, continued from `run` (which covers the first
        `run.n` of them) or from the first event. Independent of the clock's `now`."""
        if run is not None and run.n == len(events):
            return run
        calendar, thresholds, metric = plan.calendar, plan.thresholds, plan.metric
        target_of = plan.targets.get
        if run is None:
            first = events[0]
            run = Run(0, first.at, first.at, ZERO, first.level, False, None, 0, {}, None)
        # Facts after the last event walked were fired by time passing (`_rolled`); the new
        # events may stop, pause or re-target the clock before them, so the walk fires them again.
        facts = {k: f for k, f in run.facts.items() if f.at <= run.prev}
        prev, elapsed, level, running, stopped_at, cycle = (
            run.prev, run.elapsed, run.level, run.running, run.stopped_at, run.cycle)
        target = target_of(level)
        for n in range(run.n, len(events)):
            ev = events[n]
            stops = self._stops(kind, metric, ev)
            if n:
                if running:
                    used = calendar.elapsed(prev, ev.at)
                    _run_segment(facts, calendar, thresholds, prev, ev.at, elapsed, used, level, target,
                                 inclusive=not stops)
                    elapsed += used
                prev = ev.at
            level, target = ev.level, target_of(ev.level)
            if stopped_at is None and stops:
                stopped_at = ev.at
                if target is not None and elapsed > target and "breached" not in facts:
                    _fire(facts, 1.0, "breached", ev.at, level, target, elapsed)  # re-targeted below elapsed at the stop itself
                key = f"outcome:{cycle}"
                outcome = LifecycleType.missed if "breached" in facts else LifecycleType.met
                facts[key] = Fact(key, outcome, ev.at, level, target, elapsed)
            elif stopped_at is not None and metric in ("resolution", "resolve") and ev.status not in _TERMINAL[kind]:
                stopped_at, cycle = None, cycle + 1
            running = stopped_at is None and ev.status not in plan.pause
            if running and target is not None:  # a re-target can put elapsed past thresholds at once
                for thr, key in thresholds:
                    if key not in facts and elapsed >= target * thr:
                        _fire(facts, thr, key, ev.at, level, target, elapsed)
        due = _next_threshold(facts, plan, prev, elapsed, target) if running and target is not None else None
        return Run(len(events), run.started, prev, elapsed, level, running, stopped_at, cycle, facts, due)

    @staticmethod
    def _rolled(run: Run, plan: _Plan, now: datetime) -> Run:
        """The run with the thresholds its running clock crossed before `now` fired and `due`
        moved on to the next one: without it every later call derives them again (a deadline
        fired by a tick stays due in the run until the entity's next event)."""
        if not run.running or run.due is None or run.due >= now:
            return run
        calendar, thresholds = plan.calendar, plan.thresholds
        target = plan.targets.get(run.level)
        if target is None:
            return run
        facts = dict(run.facts)
        _run_segment(facts, calendar, thresholds, run.prev, now, run.elapsed, calendar.elapsed(run.prev, now),
                     run.level, target, inclusive=False)  # a fact at `now` itself may still be undone by an event at `now`
        return run._replace(facts=facts, due=_next_threshold(facts, plan, run.prev, run.elapsed, target))

    @staticmethod
    def _facts_at(run: Run, plan: _Plan, now: datetime) -> tuple[Mapping[str, Fact], datetime | None]:
        """The instance's facts up to `now` and when it next publishes something: what
        `_finish` derives, without its calendar work while no threshold is due by `now`."""
        if run.due is not None and run.due <= now:
            derived = ClockEngine._finish(run, plan, now)
            return derived.facts, derived.next_due
        facts, due = run.facts, run.due
        ahead = [f.at for f in facts.values() if f.at > now]
        if ahead:  # events ahead of the clock (skew, replay held back): their facts wait for it
            facts = {k: f for k, f in facts.items() if f.at <= now}
            due = min(ahead if due is None else [due, *ahead])
        return facts, due

    @staticmethod
    def _finish(run: Run, plan: _Plan, now: datetime) -> _Derived:
        """The instance as of `now`: the walk's facts up to `now`, and the running clock's."""
        calendar, thresholds = plan.calendar, plan.thresholds
        target = plan.targets.get(run.level)
        facts = dict(run.facts)
        elapsed = run.elapsed
        deadline = None
        dues = []
        if run.running:
            used = calendar.elapsed(run.prev, now)
            if now > run.prev:
                _run_segment(facts, calendar, thresholds, run.prev, now, elapsed, used, run.level, target,
                             inclusive=True)
            if target is not None:
                due = _next_threshold(facts, plan, run.prev, elapsed, target)
                if due is not None:
                    dues.append(due)
                deadline = calendar.add(run.prev, target - elapsed) if elapsed < target else None
            elapsed += used
        # Events may lie ahead of the clock (skew, replay held back): their facts wait for it.
        ahead = [f.at for f in facts.values() if f.at > now]
        if ahead:
            dues += ahead
            facts = {k: f for k, f in facts.items() if f.at <= now}
        if run.running and "breached" in facts:
            deadline = facts["breached"].at
        next_due = min((d for d in dues if d > now), default=None)
        stopped = run.stopped_at is not None
        state: Literal["running", "paused", "stopped"] = "stopped" if stopped else ("running" if run.running else "paused")
        return _Derived(facts, state, run.level, target, elapsed, run.started, run.stopped_at, deadline, next_due)

    @staticmethod
    def _stops(kind: Kind, metric: Metric, ev: Applied) -> bool:
        if metric == "response":
            return ev.reply or ev.status in _TERMINAL["ticket"]
        if metric == "acknowledge":
            return ev.status in ("acknowledged", "resolved")
        return ev.status in _TERMINAL[kind]

    # -- reconciliation ---------------------------------------------------------------

    def _publish(self, state: EntityState, last: Applied, contract: Contract, plan: _Plan, instance: str, run: Run,
                 holding: Mapping[str, Fact], ledger: Ledger, now: datetime, outputs: list[SlaEvent]) -> Ledger:
        """Append to `outputs` what makes the published facts `holding` (the instance's facts
        at `now`, `last` the entity's latest event); returns the new ledger."""
        version = ledger.version
        facts = dict(ledger.facts)
        retracted = set(ledger.retracted)

        def emit(type_: LifecycleType, fact: Fact, eid: str, corrects: str | None = None) -> None:
            nonlocal version
            version += 1
            outputs.append(SlaEvent(
                event_id=eid, instance_id=instance, version=version, type=type_, at=fact.at,
                kind=state.kind, entity_id=state.entity_id, contract_id=contract.id,
                customer=last.customer, service=last.service, metric=plan.metric, level=fact.level,
                target_s=_secs(fact.target), elapsed_s=fact.elapsed.total_seconds(),
                threshold=fact.threshold, corrects=corrects,
            ))

        gone = [key for key, seen in facts.items() if (f := holding.get(key)) is None or f.summary != seen.summary]
        if gone:
            # Retract each published fact that no longer holds; the fact that holds now (if any) follows.
            derived = self._finish(run, plan, now)  # the clock as of now, which the notices carry
            for key in sorted(gone):
                notice = Fact(key, LifecycleType.correction, now, derived.level, derived.target, derived.elapsed)
                corrects = facts.pop(key).event_id
                retracted.add(corrects)
                emit(LifecycleType.correction, notice, event_id(instance, "correction", corrects), corrects)
        new = [f for f in holding.values() if f.key not in facts]
        for fact in sorted(new, key=lambda f: (f.at, _ORDER[f.type], f.key)) if len(new) > 1 else new:
            n = 0  # a fact published, retracted and holding again gets a new id
            while (eid := event_id(instance, fact.key, fact.summary, str(n))) in retracted:
                n += 1
            emit(fact.type, fact, eid)
            facts[fact.key] = Published(fact.summary, eid)
        return Ledger(version, facts, frozenset(retracted))

    def _reconcile(self, state: EntityState, now: datetime, events: tuple[Applied, ...],
                   runs: Mapping[str, Run]) -> tuple[EntityState, list[SlaEvent]]:
        """The state with `events` (walks continued from `runs`) and what to publish by `now`."""
        changed: dict[str, Ledger] | None = None  # copied on the first change
        outputs: list[SlaEvent] = []
        dues: list[datetime] = []
        walked: dict[str, Run] = {}
        for contract, plan, instance, run in self._walks(state.kind, state.entity_id, events, runs):
            run = walked[instance] = self._rolled(run, plan, now)
            facts, due = self._facts_at(run, plan, now)
            if due is not None:
                dues.append(due)
            ledger = state.ledgers.get(instance, _NO_LEDGER)
            if not _holds(facts, ledger.facts):  # most events change no published fact
                if changed is None:
                    changed = dict(state.ledgers)
                changed[instance] = self._publish(
                    state, events[-1], contract, plan, instance, run, facts, ledger, now, outputs)
        ledgers = state.ledgers if changed is None else changed
        return EntityState(state.kind, state.entity_id, events, ledgers, min(dues, default=None), walked), outputs


_NO_LEDGER = Ledger()
_COVERS_KEPT = 65_536  # (kind, customer, service) plan lists remembered


def _holds(derived: Mapping[str, Fact], published: Mapping[str, Published]) -> bool:
    """Whether the published facts are exactly the derived ones (nothing to publish or correct)."""
    if len(derived) != len(published):
        return False
    for key, fact in derived.items():
        seen = published.get(key)
        if seen is None or seen.summary != fact.summary:
            return False
    return True


def _next_threshold(facts: Mapping[str, Fact], plan: _Plan, prev: datetime, elapsed: timedelta,
                    target: timedelta) -> datetime | None:
    """When a clock running from `prev` (with `elapsed` used) reaches its lowest threshold not
    in `facts`; thresholds rise, so that one is due first. None when all fired."""
    lowest = next((thr for thr, key in plan.thresholds if key not in facts), None)
    return None if lowest is None else plan.calendar.add(prev, target * lowest - elapsed)


def _fire(facts: dict[str, Fact], thr: float, key: str, at: datetime, level: str, target: timedelta,
          elapsed: timedelta) -> None:
    type_ = LifecycleType.breached if thr == 1.0 else LifecycleType.warning
    facts[key] = Fact(key, type_, at, level, target, elapsed, None if thr == 1.0 else thr)


def _run_segment(
    facts: dict[str, Fact], calendar: Calendar, thresholds: tuple[tuple[float, str], ...], t0: datetime,
    t1: datetime, e0: timedelta, used: timedelta, level: str, target: timedelta | None, inclusive: bool,
) -> None:
    """Fire thresholds reached in [t0, t1], where `used` SLA time passes from `e0`."""
    if target is None:
        return
    for thr, key in thresholds:
        needed = target * thr
        if key in facts or needed > e0 + used:
            continue  # already fired, or not reached in this segment (no need to locate it)
        at = t0 if e0 >= needed else calendar.add(t0, needed - e0)
        if at < t1 or (inclusive and at == t1):
            _fire(facts, thr, key, at, level, target, max(needed, e0))


_ORDER = {LifecycleType.warning: 0, LifecycleType.breached: 1, LifecycleType.met: 2, LifecycleType.missed: 2, LifecycleType.correction: 3}


def _secs(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()
