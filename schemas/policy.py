"""SLA policy files: calendars, contracts, targets, probe and contact objectives and credit tiers.

`load_policy` validates a YAML file and reports every problem with its line. The result
is immutable and carries compiled calendars, so the hot path never re-parses anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError, field_validator,
    model_validator,
)

from schemas.durations import Duration, format_duration, parse_duration
from schemas.events import Channel, Priority, Severity, TicketStatus

ALWAYS = "24x7"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _day_set(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.lower().split(","):
        part = part.strip()
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"unknown day {part!r}: use mon..sun, ranges like mon-fri, or lists like sat,sun")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        if b < a:
            raise ValueError(f"day range {part!r} runs backwards")
        days.extend(range(a, b + 1))
    return days


def _ranges(value: str | list[str]) -> list[tuple[int, int]]:
    items = value.split(",") if isinstance(value, str) else value
    out = []
    for item in items:
        m = _RANGE.match(item.strip())
        if not m:
            raise ValueError(f"bad opening hours {item!r}: use HH:MM-HH:MM")
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 86400:
            raise ValueError(f"bad time in {item!r}")
        if end <= start:
            raise ValueError(f"opening hours {item!r} end before they start")
        out.append((start, end))
    return out


class HolidaySpec(_Model):
    country: str | None = Field(default=None, description="ISO country code for the `holidays` package")
    subdiv: str | None = None
    extra: tuple[date, ...] = ()


class CalendarSpec(_Model):
    timezone: str
    hours: dict[str, str | list[str]]
    holidays: HolidaySpec = HolidaySpec()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        weekly(value)  # raises on bad days, inverted or overlapping ranges
        return value

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, value: HolidaySpec) -> HolidaySpec:
        if value.country:
            import holidays as holidays_lib

            try:
                holidays_lib.country_holidays(value.country, subdiv=value.subdiv)
            except NotImplementedError as exc:
                raise ValueError(str(exc)) from None
        return value

    def weekly(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Opening ranges (seconds after local midnight) for Monday..Sunday."""
        return weekly(self.hours)


def weekly(hours: dict[str, str | list[str]]) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Normalise a day-spec -> ranges mapping; refuses overlaps and inverted ranges."""
    per_day: list[list[tuple[int, int]]] = [[] for _ in _DAYS]
    for spec, value in hours.items():
        for day in _day_set(spec):
            per_day[day].extend(_ranges(value))
    for day, ranges in enumerate(per_day):
        ranges.sort()
        for (s1, e1), (s2, _e2) in zip(ranges, ranges[1:]):
            if s2 < e1:
                raise ValueError(f"opening hours overlap on {_DAYS[day]}")
    if not any(per_day):
        raise ValueError("a calendar needs opening hours on at least one day")
    return tuple(tuple(r) for r in per_day)


def _thresholds(value: tuple[float, ...]) -> tuple[float, ...]:
    for t in value:
        if not 0 < t < 1:
            raise ValueError(f"warning threshold {t} must be between 0 and 1 (a fraction of the target)")
    if list(value) != sorted(set(value)):
        raise ValueError("warning thresholds must be increasing and distinct")
    return value


class TicketTarget(_Model):
    response: Duration | None = None
    resolution: Duration | None = None


class IncidentTarget(_Model):
    acknowledge: Duration | None = None
    resolve: Duration | None = None


class TicketPolicy(_Model):
    calendar: str = ALWAYS
    pause_statuses: tuple[TicketStatus, ...] = (TicketStatus.pending, TicketStatus.on_hold)
    warn_at: tuple[float, ...] = ()
    targets: dict[Priority, TicketTarget]

    _check_warn = field_validator("warn_at")(_thresholds)


class IncidentPolicy(_Model):
    calendar: str = ALWAYS
    warn_at: tuple[float, ...] = ()
    targets: dict[Severity, IncidentTarget]

    _check_warn = field_validator("warn_at")(_thresholds)


def _objective(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError(f"objective {value} must be strictly between 0 and 1, e.g. 0.999")
    return value


def _window(value: Any) -> Any:
    try:
        return value if value == "month" else parse_duration(value)
    except ValueError as exc:
        raise ValueError(f'{exc}, or "month" for the calendar month') from None


# A rolling window such as 30d, or "month": the calendar month (UTC).
SloWindow = Annotated[
    Union[Literal["month"], timedelta],
    BeforeValidator(_window),
    PlainSerializer(lambda v: v if v == "month" else format_duration(v), return_type=str),
]


class _SloObjective(_Model):
    objective: float
    window: SloWindow = timedelta(days=30)
    timeslice_target: float | None = Field(
        default=None, gt=0, le=1,
        description="budget by minutes (OpenSLO Timeslices): a minute is good when this share of its results is",
    )

    _check = field_validator("objective")(_objective)


class AvailabilityObjective(_SloObjective):
    """Share of probe results that are ok."""


class LatencyObjective(_SloObjective):
    """Share of probe results at or under `threshold_ms`."""

    threshold_ms: float = Field(gt=0)


class BurnRateAlert(_Model):
    """One multi-window rule: alert when the burn rate is >= factor over both windows."""

    name: str = Field(min_length=1)
    severity: Literal["page", "ticket"]
    factor: float = Field(gt=0)
    long: Duration
    short: Duration

    @model_validator(mode="after")
    def _short_inside_long(self) -> "BurnRateAlert":
        if self.short >= self.long:
            raise ValueError("the short window must be shorter than the long one")
        return self


# The Google SRE workbook's multi-window, multi-burn-rate alerts for a 30-day window.
GOOGLE_SRE_DEFAULT = (
    {"name": "page-1h", "severity": "page", "factor": 14.4, "long": "1h", "short": "5m"},
    {"name": "page-6h", "severity": "page", "factor": 6.0, "long": "6h", "short": "30m"},
    {"name": "ticket-3d", "severity": "ticket", "factor": 1.0, "long": "3d", "short": "6h"},
)
_NAMED_RULES: dict[str, tuple[dict[str, Any], ...]] = {"google-sre-default": GOOGLE_SRE_DEFAULT, "none": ()}


def _named_rules(value: Any) -> Any:
    if isinstance(value, str):
        if value not in _NAMED_RULES:
            raise ValueError(f"unknown alert set {value!r}: use {' or '.join(map(repr, _NAMED_RULES))} or a list of rules")
        return _NAMED_RULES[value]
    return value


class MaintenanceWindow(_Model):
    """Planned work excluded from error budgets and credits: one-off or weekly."""

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    weekly: str | None = Field(default=None, description='e.g. "sun 02:00-04:00" in `timezone`')
    timezone: str = "UTC"

    def schedule(self) -> tuple[set[int], list[tuple[int, int]]]:
        """For a weekly window: weekdays (0 = Monday) and ranges in seconds after local midnight."""
        assert self.weekly is not None
        day, _, hours = self.weekly.strip().partition(" ")
        return set(_day_set(day)), _ranges(hours)

    @model_validator(mode="after")
    def _one_kind(self) -> "MaintenanceWindow":
        if self.weekly is not None:
            if self.start or self.end:
                raise ValueError("a window is either weekly or has start and end, not both")
            self.schedule()  # raises on a bad day or range
            CalendarSpec._known_zone(self.timezone)
        elif self.start is None or self.end is None:
            raise ValueError("a one-off window needs start and end (or use weekly)")
        elif self.end <= self.start:
            raise ValueError("a maintenance window must end after it starts")
        return self


class ProbePolicy(_Model):
    availability: AvailabilityObjective | None = None
    latency: LatencyObjective | None = None
    burn_rate_alerts: Annotated[tuple[BurnRateAlert, ...], BeforeValidator(_named_rules)] = Field(
        default_factory=lambda: _named_rules("google-sre-default"), validate_default=True
    )
    # A burn-rate rule starts to fire only with at least this many results in its long window:
    # a window holding one result (after a maintenance window, say) must not page on it.
    alert_min_results: int = Field(default=5, ge=1)
    maintenance: tuple[MaintenanceWindow, ...] = ()
    no_data_after: Duration = timedelta(minutes=5)


class ServiceLevelObjective(_Model):
    """At least `target` of the contacts answered within `within` (e.g. 80/20: 0.8 within 20s)."""

    target: float = Field(gt=0, le=1, description="share of contacts, e.g. 0.8")
    within: Duration = Field(description="answered within this wait, e.g. 20s")


ServiceLevelFormula = Literal["offered", "offered_minus_short_abandons", "answered"]


class ContactObjective(_Model):
    """Service levels of a customer's queue (or every queue, or one channel of them), judged
    per 15-minute interval and per month."""

    name: str | None = Field(default=None, min_length=1, description='what outputs call it; default "<queue>" or '
                                                                     '"<queue>/<channel>"')
    queue: str = Field(min_length=1, description='the queue, or "*" for each of the customer\'s queues')
    channel: Channel | None = Field(default=None, description="only this channel's contacts; default all")
    service_level: ServiceLevelObjective | None = None
    max_asa: Duration | None = Field(default=None, description="average speed of answer at most this")
    max_abandonment: float | None = Field(default=None, gt=0, lt=1, description="abandonment rate at most this")

    @property
    def label(self) -> str:
        """The objective's name in outputs."""
        if self.name is not None:
            return self.name
        return self.queue if self.channel is None else f"{self.queue}/{self.channel.value}"

    def covers(self, queue: str, channel: str) -> bool:
        return self.queue in ("*", queue) and (self.channel is None or self.channel.value == channel)


class ContactPolicy(_Model):
    short_abandon: Duration = Field(default=timedelta(seconds=5), description="an abandon within this wait is short")
    service_level_formula: ServiceLevelFormula = Field(
        default="offered_minus_short_abandons",
        description="answered within the threshold over: offered, offered minus short abandons, or answered",
    )
    objectives: tuple[ContactObjective, ...] = Field(min_length=1)


class CreditTier(_Model):
    below: float = Field(gt=0, le=1, description="monthly availability below this earns the credit")
    credit: float = Field(gt=0, le=100, description="percent of the monthly fee")


class Contract(_Model):
    id: str = Field(min_length=1)
    customer: str = Field(min_length=1)
    services: tuple[str, ...] = Field(min_length=1, description='service names, or "*" for all')
    tickets: TicketPolicy | None = None
    incidents: IncidentPolicy | None = None
    probes: ProbePolicy | None = None
    contacts: ContactPolicy | None = None
    credits: tuple[CreditTier, ...] = ()


class Ola(_Model):
    """An operational-level agreement (a support group's targets) or an underpinning contract
    (an outside supplier's): targets for the time a ticket spends with that team."""

    group: str | None = Field(default=None, min_length=1, description="the tickets' assignment_group it measures")
    supplier: str | None = Field(default=None, min_length=1, description="the tickets' supplier it measures")
    calendar: str = ALWAYS
    pause_statuses: tuple[TicketStatus, ...] = (TicketStatus.pending, TicketStatus.on_hold)
    warn_at: tuple[float, ...] = ()
    targets: dict[Priority, TicketTarget]

    _check_warn = field_validator("warn_at")(_thresholds)  # exactly one of group and supplier: `_reference_checks`

    @property
    def team(self) -> str:
        """What OLA outputs name it by: "group:<name>" or "supplier:<name>"."""
        return f"group:{self.group}" if self.group is not None else f"supplier:{self.supplier}"


class PolicyDocument(_Model):
    calendars: dict[str, CalendarSpec] = {}
    contracts: tuple[Contract, ...]
    olas: tuple[Ola, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file."""

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used; lists every problem found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _reference_checks(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Names that must be unique or defined (contract ids, calendars), checked on the raw
    document: reported in the same pass as any structural problem wherever the structure
    around them is readable."""
    found: list[tuple[tuple[Any, ...], str]] = []
    raw_calendars, raw_contracts = data.get("calendars"), data.get("contracts")
    calendars: dict[Any, Any] = raw_calendars if isinstance(raw_calendars, dict) else {}
    if ALWAYS in calendars:
        found.append((("calendars", ALWAYS), f"{ALWAYS!r} is built in and cannot be redefined"))
    contracts: list[Any] = raw_contracts if isinstance(raw_contracts, list) else []
    seen: dict[str, int] = {}
    for i, contract in enumerate(contracts):
        if not isinstance(contract, dict):
            continue
        cid = contract.get("id")
        if isinstance(cid, str) and cid in seen:
            found.append((("contracts", i, "id"), f"duplicate contract id {cid!r} (first at contracts[{seen[cid]}])"))
        if isinstance(cid, str):
            seen.setdefault(cid, i)
        if isinstance(contract.get("contacts"), dict):
            found += _contact_checks(i, contract["contacts"])
        for section in ("tickets", "incidents"):
            part = contract.get(section)
            name = part.get("calendar", ALWAYS) if isinstance(part, dict) else ALWAYS
            if isinstance(name, str) and name != ALWAYS and name not in calendars:
                found.append((("contracts", i, section, "calendar"), f"unknown calendar {name!r}"))
    raw_olas = data.get("olas")
    teams: dict[tuple[str, str], int] = {}
    for i, ola in enumerate(raw_olas if isinstance(raw_olas, list) else []):
        if not isinstance(ola, dict):
            continue
        name = ola.get("calendar", ALWAYS)
        if isinstance(name, str) and name != ALWAYS and name not in calendars:
            found.append((("olas", i, "calendar"), f"unknown calendar {name!r}"))
        if ("group" in ola) == ("supplier" in ola):
            found.append((("olas", i), "an OLA names exactly one of `group` (a support group) or `supplier` "
                                       "(an underpinning contract)"))
        targets = ola.get("targets")
        if targets == {}:
            found.append((("olas", i, "targets"), "an OLA needs targets for at least one priority"))
        for level, target in targets.items() if isinstance(targets, dict) else ():
            if isinstance(target, dict) and not any(v is not None for v in target.values()):
                found.append((("olas", i, "targets", level), f"{level} has no target"))
        for field in ("group", "supplier"):
            team = ola.get(field)
            if not isinstance(team, str):
                continue
            if (field, team) in teams:
                found.append((("olas", i, field), f"{field} {team!r} has an OLA already (olas[{teams[(field, team)]}])"))
            teams.setdefault((field, team), i)
    return found


def _cross_checks(doc: PolicyDocument) -> list[tuple[tuple[Any, ...], str]]:
    """What only a valid document can be checked for."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if not doc.contracts:
        found.append((("contracts",), "a policy needs at least one contract"))
    for i, contract in enumerate(doc.contracts):
        for section in ("tickets", "incidents"):
            part = getattr(contract, section)
            if part is None:
                continue
            for level, target in part.targets.items():
                if not any(target.model_dump().values()):
                    found.append((("contracts", i, section, "targets", level.value), f"{level.value} has no target"))
        for j, (a, b) in enumerate(zip(contract.credits, contract.credits[1:]), start=1):
            if not (b.below < a.below and b.credit > a.credit):
                found.append((("contracts", i, "credits", j), "credit tiers must go from the highest `below` down, with rising credit"))
    return found


def _contact_checks(i: int, contacts: dict[Any, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """A contract's contact objectives (raw): each measures something, each name once."""
    found: list[tuple[tuple[Any, ...], str]] = []
    names: dict[str, int] = {}
    objectives = contacts.get("objectives")
    for j, objective in enumerate(objectives if isinstance(objectives, list) else []):
        if not isinstance(objective, dict):
            continue
        where = ("contracts", i, "contacts", "objectives", j)
        if not any(objective.get(m) is not None for m in ("service_level", "max_asa", "max_abandonment")):
            found.append((where, "an objective needs at least one of service_level, max_asa, max_abandonment"))
        queue, channel = objective.get("queue"), objective.get("channel")
        label = objective.get("name") or (queue if channel is None else f"{queue}/{channel}")
        if not isinstance(label, str):
            continue
        if label in names:
            found.append((where, f"objective {label!r} is defined twice (first at objectives[{names[label]}]); "
                                 f"give one a `name`"))
        names.setdefault(label, j)
    return found


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """YAML path -> 1-based line, for every mapping key and sequence item."""
    return node_lines(yaml.compose(text, Loader=yaml.SafeLoader))


def node_lines(root: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """Path -> 1-based line for every mapping key and sequence item under a composed YAML node."""
    index: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                index[path + (key.value,)] = key.start_mark.line + 1
                walk(value, path + (key.value,))
                index[path + (key.value,)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for n, item in enumerate(node.value):
                walk(item, path + (n,))

    if root is not None:
        walk(root, ())
    return index


def _locate(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    path = tuple(str(p) if not isinstance(p, int) else p for p in loc if p != "[key]")
    while path:
        if path in index:
            return index[path]
        path = path[:-1]
    return index.get(())


def _yaml_problem(exc: yaml.YAMLError, text: str) -> Problem:
    """A YAML syntax error in one line, at the line to fix. PyYAML notices an unclosed
    bracket or quote only where the text ends; the line to fix is where it was opened."""
    problem_mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    ran_off = problem_mark is not None and problem_mark.index >= len(text.rstrip())
    if context_mark is not None and (problem_mark is None or ran_off):
        what = re.sub(r"^while (parsing|scanning) ", "", context or "a value")
        return Problem(context_mark.line + 1, "", f"not valid YAML: {what} opened at column {context_mark.column + 1} "
                                                  f"is never closed ({problem})")
    if problem_mark is None:
        return Problem(None, "", f"not valid YAML: {problem}")
    after = f" ({context} from line {context_mark.line + 1})" if context and context_mark is not None else ""
    return Problem(problem_mark.line + 1, "", f"not valid YAML: {problem} at column {problem_mark.column + 1}{after}")


def parse_policy(text: str, source: str = "<policy>") -> "Policy":
    """Validate policy YAML text; raises PolicyError listing every problem with its line."""
    try:
        data = yaml.safe_load(text)
        index = _line_index(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [_yaml_problem(exc, text)]) from None
    if not isinstance(data, dict):
        raise PolicyError(source, [Problem(1, "", "a policy file is a mapping with `calendars` and `contracts`")])
    references = [Problem(_locate(index, loc), _dotted(loc), msg) for loc, msg in _reference_checks(data)]
    try:
        doc = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, index) + references
        raise PolicyError(source, sorted(problems, key=lambda p: p.line or 0)) from None
    cross = references + [Problem(_locate(index, loc), _dotted(loc), msg) for loc, msg in _cross_checks(doc)]
    if cross:
        raise PolicyError(source, sorted(cross, key=lambda p: p.line or 0))
    return Policy(doc)


def validation_problems(
    exc: ValidationError, index: dict[tuple[Any, ...], int], prefix: tuple[Any, ...] = ()
) -> list[Problem]:
    """pydantic errors as Problems located in the YAML source (`prefix` = where the model sits)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(
            p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("str", "list"))) or p == "[key]"
        )
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown or unsupported field"
        problems.append(Problem(_locate(index, loc), _dotted(loc), message))
    return problems


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Policy:
    """A validated policy with contract lookup by (customer, service)."""

    def __init__(self, doc: PolicyDocument) -> None:
        self.doc = doc
        self._by_customer: dict[str, list[Contract]] = {}
        for contract in doc.contracts:
            self._by_customer.setdefault(contract.customer, []).append(contract)

    @property
    def contracts(self) -> tuple[Contract, ...]:
        return self.doc.contracts

    def contracts_for(self, customer: str, service: str) -> list[Contract]:
        """Contracts covering this customer's service, in file order."""
        return [
            c for c in self._by_customer.get(customer, ())
            if service in c.services or "*" in c.services
        ]

    def summary(self) -> str:
        """A short human description."""
        doc = self.doc
        parts = [f"{len(doc.calendars)} calendar(s), {len(doc.contracts)} contract(s)"]
        for c in doc.contracts:
            kinds = [k for k in ("tickets", "incidents", "probes", "contacts") if getattr(c, k)]
            parts.append(f"  {c.id}: customer {c.customer}, services {', '.join(c.services)}; {', '.join(kinds) or 'no targets'}")
        if doc.olas:
            parts.append(f"  OLAs: {', '.join(o.team for o in doc.olas)}")
        return "\n".join(parts)
