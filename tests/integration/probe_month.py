"""A synthetic month of probe results (October 2026) and what it must produce, computed here
from the generated events by brute force, independently of the worker's code.

Two services, one result every 10 minutes each. Injected: an outage of checkout (2 h of
failures), a latency slowdown of checkout (1 h at 800 ms), failures of checkout inside a
one-off and a weekly maintenance window (excluded), and a 3-hour silence of search.
A final result per service on 1 November moves the watermark past the month's end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson

from schemas.policy import GOOGLE_SRE_DEFAULT

UTC = timezone.utc
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
SERVICES = ("checkout", "search")
OBJECTIVES = {"availability": 0.999, "latency": 0.99}
THRESHOLD_MS = 300.0
NO_DATA_AFTER = 30  # minutes
MIN_RESULTS = 5  # alert_min_results, the default: a rule starts to fire only on this many in its long window
CREDITS = [(0.999, 10.0), (0.99, 25.0)]
OUTAGE = (datetime(2026, 10, 10, 2, 0, tzinfo=UTC), datetime(2026, 10, 10, 4, 0, tzinfo=UTC))
SLOW = (datetime(2026, 10, 15, 12, 0, tzinfo=UTC), datetime(2026, 10, 15, 13, 0, tzinfo=UTC))
MAINTENANCE = (datetime(2026, 10, 20, 1, 0, tzinfo=UTC), datetime(2026, 10, 20, 3, 0, tzinfo=UTC))
WEEKLY_TZ = ZoneInfo("Europe/Berlin")  # weekly window: Sundays 03:00-03:30 Berlin time
SILENCE = (datetime(2026, 10, 5, 6, 0, tzinfo=UTC), datetime(2026, 10, 5, 9, 0, tzinfo=UTC))
SENTINEL = datetime(2026, 11, 1, 0, 2, tzinfo=UTC)

POLICY = f"""
contracts:
  - id: gold
    customer: acme
    services: [checkout, search]
    probes:
      availability: {{objective: {OBJECTIVES["availability"]}, window: month}}
      latency: {{threshold_ms: {THRESHOLD_MS}, objective: {OBJECTIVES["latency"]}, window: month}}
      burn_rate_alerts: google-sre-default
      maintenance:
        - {{start: "{MAINTENANCE[0].isoformat()}", end: "{MAINTENANCE[1].isoformat()}"}}
        - {{weekly: "sun 03:00-03:30", timezone: Europe/Berlin}}
      no_data_after: {NO_DATA_AFTER}m
    credits:
      - {{below: {CREDITS[0][0]}, credit: {CREDITS[0][1]}}}
      - {{below: {CREDITS[1][0]}, credit: {CREDITS[1][1]}}}
"""


@dataclass(frozen=True)
class Probe:
    service: str
    at: datetime
    ok: bool
    latency_ms: float

    def record(self) -> tuple[str, str, bytes]:
        event = {
            "kind": "probe", "event_id": f"{self.service}-{self.at:%Y%m%d%H%M%S}", "occurred_at": self.at.isoformat(),
            "source": "synthetic", "probe_id": "p1", "service": self.service, "region": "eu",
            "ok": self.ok, "latency_ms": self.latency_ms, "status_code": 200 if self.ok else 503,
        }
        return "probe", self.service, orjson.dumps(event)


def in_maintenance(minute: datetime) -> bool:
    local = minute.astimezone(WEEKLY_TZ)
    weekly = local.weekday() == 6 and (local.hour, local.minute) >= (3, 0) and (local.hour, local.minute) < (3, 30)
    return MAINTENANCE[0] <= minute < MAINTENANCE[1] or weekly


@cache
def probes() -> list[Probe]:
    out = []
    at = START
    while at < END:
        for service in SERVICES:
            if service == "search" and SILENCE[0] <= at < SILENCE[1]:
                continue
            ok = not (service == "checkout" and (OUTAGE[0] <= at < OUTAGE[1] or in_maintenance(at)))
            slow = service == "checkout" and SLOW[0] <= at < SLOW[1]
            out.append(Probe(service, at, ok, 800.0 if slow else 40.0 + at.minute))
        at += STEP
    return out


# Sent after the month: its minute closed long before, so it is dead-lettered as late.
LATE = Probe("checkout", datetime(2026, 10, 2, 12, 0, 30, tzinfo=UTC), False, 10.0)


def records() -> list[tuple[str, str, bytes]]:
    # Two sentinels per service: one record alone never moves its partition's watermark.
    sentinels = [Probe(s, at, True, 10.0).record() for s in SERVICES for at in (SENTINEL, SENTINEL + timedelta(seconds=1))]
    return [p.record() for p in probes()] + sentinels + [LATE.record()]


def minute_rows() -> set[tuple]:
    """Expected probe_minutes rows: (service, minute, total, good, latency sum, max, fast)."""
    return {(p.service, p.at, 1, int(p.ok), p.latency_ms, p.latency_ms, int(p.latency_ms <= THRESHOLD_MS)) for p in probes()}


def _mins(at: datetime) -> int:
    return int((at - START) // timedelta(minutes=1))


@cache
def expected_alerts() -> set[tuple[str, str, str, str, datetime]]:
    """(service, sli or "", alert, firing|resolved, at) for the whole closed range."""
    rules = [(r["name"], r["factor"], _duration(r["long"]), _duration(r["short"])) for r in GOOGLE_SRE_DEFAULT]
    closed_until = _mins(SENTINEL - timedelta(minutes=1))  # watermark = sentinel - 60 s
    out: set[tuple[str, str, str, str, datetime]] = set()
    for service in SERVICES:
        data = {_mins(p.at): p for p in probes() if p.service == service}
        firing: dict[str, set[str]] = {sli: set() for sli in OBJECTIVES}
        last_data: int | None = None
        silent = False
        prefix = {sli: _Prefix(closed_until) for sli in OBJECTIVES}
        for m in range(min(data), closed_until):
            p = data.get(m)
            if p is not None:
                if last_data is not None and not silent and last_data + NO_DATA_AFTER <= m:
                    out.add((service, "", "no_data", "firing", _at(last_data + NO_DATA_AFTER)))
                    silent = True
                if silent:
                    out.add((service, "", "no_data", "resolved", _at(m)))
                    silent = False
                last_data = m + 1
                if not in_maintenance(p.at):
                    prefix["availability"].add(m, int(not p.ok))
                    prefix["latency"].add(m, int(p.latency_ms > THRESHOLD_MS))
            if p is None and not any(firing.values()):
                continue
            end = m + 1
            for sli, sums in prefix.items():
                for name, factor, long, short in rules:
                    on = all(sums.burn(end, w, OBJECTIVES[sli]) >= factor for w in (long, short)) and (
                        name in firing[sli] or sums.results(end, long) >= MIN_RESULTS)
                    if on != (name in firing[sli]):
                        out.add((service, sli, name, "firing" if on else "resolved", _at(end)))
                        (firing[sli].add if on else firing[sli].discard)(name)
        if last_data is not None and not silent and last_data + NO_DATA_AFTER <= closed_until:
            out.add((service, "", "no_data", "firing", _at(last_data + NO_DATA_AFTER)))
    return out


class _Prefix:
    """Counted results and bad ones per minute since START, with running sums for windows.

    Minutes are added in order, so the sums up to the minute being evaluated are final.
    """

    def __init__(self, minutes: int) -> None:
        self.total = [0] * (minutes + 1)  # total[m] = results in minutes before m
        self.bad = [0] * (minutes + 1)
        self.last = 0

    def add(self, m: int, bad: int) -> None:
        self._extend(m)
        self.total[m + 1] = self.total[m] + 1
        self.bad[m + 1] = self.bad[m] + bad
        self.last = m + 1

    def _extend(self, m: int) -> None:
        for i in range(self.last + 1, m + 1):
            self.total[i], self.bad[i] = self.total[self.last], self.bad[self.last]

    def _sums(self, end: int, window: int) -> tuple[int, int]:
        start = end - window
        if window > 6 * 60:  # longer windows are kept, and measured, in whole hours (START is on the hour)
            start, end = -(-start // 60) * 60, -(-end // 60) * 60
        start, end = max(start, 0), min(end, len(self.total) - 1)
        self._extend(end)
        return self.total[end] - self.total[start], self.bad[end] - self.bad[start]

    def burn(self, end: int, window: int, objective: float) -> float:
        total, bad = self._sums(end, window)
        return 0.0 if total == 0 else (bad / total) / (1 - objective)

    def results(self, end: int, window: int) -> int:
        return self._sums(end, window)[0]


def _at(m: int) -> datetime:
    return START + timedelta(minutes=m)


def _duration(text: str) -> int:
    return int(text[:-1]) * {"m": 1, "h": 60, "d": 1440}[text[-1]]


def monthly() -> dict[str, tuple]:
    """service -> (total, good, fast, excluded minutes, availability, latency attainment, credit %)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for p in probes():
        row = sums[p.service]
        if in_maintenance(p.at):
            row[3] += 1
            continue
        row[0] += 1
        row[1] += p.ok
        row[2] += p.latency_ms <= THRESHOLD_MS
    out = {}
    for service, (total, good, fast, excluded) in sums.items():
        availability = good / total
        credit = max([c for below, c in CREDITS if availability < below], default=0.0)
        out[service] = (total, good, fast, excluded, availability, fast / total, credit)
    return out


def rollup(key) -> set[tuple]:
    """Expected rollup rows: (service, key(minute), minutes with data, total, good, latency sum, max)."""
    groups: dict[tuple, list[Probe]] = defaultdict(list)
    for p in probes():
        groups[(p.service, key(p.at))].append(p)
    return {
        (s, k, len(ps), len(ps), sum(p.ok for p in ps), sum(p.latency_ms for p in ps), max(p.latency_ms for p in ps))
        for (s, k), ps in groups.items()
    }
