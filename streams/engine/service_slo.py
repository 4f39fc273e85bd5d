"""One service's probe SLO state, and what closing its minutes produces (pure).

`ServiceEntry` is what closed minutes leave behind for a service (error series per
objective, rules firing, silences); `ServiceSlo` applies closed minute buckets to it in
event-time order and builds the outputs: closed-minute records, burn-rate and no-data
alerts, status rows. The worker's ProbeTracker (streams/worker/probe_tracking.py) keeps
the buckets, the table and the publishing around it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Sequence

import orjson

from schemas.compact import dumps_kept
from schemas.outputs import SloAlert, alert_id
from streams.engine.probes import Bucket
from streams.engine.slo import ErrorSeries, budget_remaining, epoch_minute, evaluate, minute_start
from streams.engine.slo_plan import ContractProbes, Objective, SloPlan

_RATES = {"5m": timedelta(minutes=5), "30m": timedelta(minutes=30), "1h": timedelta(hours=1),
          "6h": timedelta(hours=6), "1d": timedelta(days=1), "3d": timedelta(days=3)}


@dataclass
class ServiceEntry:
    """A table value: what closed minutes left behind for one service."""

    partition: int
    closed_until: int  # epoch minute: the partition's minutes before it were closed at the last write
    offset: int  # highest input offset of the partition counted at the last write
    last_data: int | None = None  # epoch minute ending the last closed minute with results
    series: dict[str, ErrorSeries] = field(default_factory=dict)  # per objective key
    firing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # objective key -> rules firing
    silent: tuple[str, ...] = ()  # contracts whose no_data alert fires
    status_as_of: int | None = None  # epoch minute of the last status published (its as_of)
    # Rules firing at `last_data`, what a status shows: later minutes without data may still
    # turn rules (alerts), but a status is as of its last data whichever tick publishes it.
    data_firing: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def dump(self) -> bytes:
        return dumps_kept([
            self.partition, self.closed_until, self.offset, self.last_data,
            {k: s.to_json() for k, s in self.series.items()}, self.firing, self.silent, self.status_as_of,
            self.data_firing,
        ])

    @classmethod
    def load(cls, data: bytes, fine: timedelta, horizon: timedelta) -> "ServiceEntry":
        p, until, offset, last, series, firing, silent, *rest = orjson.loads(data)  # rest: absent in older entries
        return cls(
            p, until, offset, last, {k: ErrorSeries.from_json(v, fine, horizon) for k, v in series.items()},
            {k: tuple(v) for k, v in firing.items()}, tuple(silent), rest[0] if rest else None,
            {k: tuple(v) for k, v in (rest[1] if len(rest) > 1 else firing).items()},
        )

    def alerting(self) -> bool:
        return any(self.firing.values())

    def status_stale(self) -> bool:
        """A minute with results closed since the last status was published."""
        return self.last_data is not None and self.status_as_of != self.last_data


class ServiceSlo:
    """Closes minutes of one service at a time under a plan."""

    def __init__(self, plan: SloPlan, fine: timedelta = timedelta(hours=6)) -> None:
        self.plan = plan
        self.fine = fine  # error series keep minutes this far back, hours beyond

    def close(
        self, entry: ServiceEntry, service: str, buckets: Sequence[Bucket], old: int, new: int
    ) -> tuple[list[dict[str, Any]], list[SloAlert]]:
        """Apply the service's closed `buckets` (minutes before epoch minute `new`) to `entry`
        in order, evaluating rules minute by minute (from `old` while any fires); returns the
        closed-minute records (ProbeMinute's fields) and the alerts. `entry` is changed in place."""
        objectives = self.plan.objectives(service)
        contracts = self.plan.contracts(service)
        by_minute = {epoch_minute(b.minute): b for b in buckets}
        minutes: list[dict[str, Any]] = []
        alerts: list[SloAlert] = []
        with_data = sorted(by_minute)
        m = with_data[0] if with_data else new
        if entry.alerting():
            m = min(m, old)
        while m < new:
            bucket = by_minute.get(m)
            if bucket is not None:
                alerts += self._silence(entry, service, contracts, until=m, returned=True)
                fast = dict(bucket.fast)
                for o in objectives:
                    if not o.maintenance.covers(bucket.minute):
                        series = entry.series.get(o.key)
                        if series is None:  # not setdefault: a series is two rings of a month of cells
                            series = entry.series[o.key] = ErrorSeries(self.fine, self.plan.horizon)
                        series.add(bucket.minute, *o.counts(bucket.total, bucket.good, fast))
                entry.last_data = m + 1
                minutes.append(_minute_record(bucket, contracts))
            if bucket is not None or entry.alerting():
                alerts += self._evaluate(entry, service, objectives, minute_start(m + 1))
            if bucket is not None:
                entry.data_firing = dict(entry.firing)
            # Rules firing are evaluated minute by minute (their windows slide); otherwise
            # nothing can change before the next minute with data, however far that is.
            later = bisect_right(with_data, m)
            m = m + 1 if entry.alerting() else min(with_data[later] if later < len(with_data) else new, new)
        alerts += self._silence(entry, service, contracts, until=new, returned=False)
        return minutes, alerts

    def _silence(
        self, entry: ServiceEntry, service: str, contracts: Sequence[ContractProbes], until: int, returned: bool
    ) -> list[SloAlert]:
        """no_data alerts: fire for silences of `no_data_after` before `until`; resolve when data returns."""
        out = []
        silent = set(entry.silent)
        for c in contracts:
            after = int(c.no_data_after // timedelta(minutes=1))
            if c.contract_id not in silent and entry.last_data is not None and entry.last_data + after <= until:
                silent.add(c.contract_id)
                out.append(self._no_data(c, service, "firing", minute_start(entry.last_data + after)))
            if returned and c.contract_id in silent:
                silent.discard(c.contract_id)
                out.append(self._no_data(c, service, "resolved", minute_start(until)))
        entry.silent = tuple(sorted(silent))
        return out

    @staticmethod
    def _no_data(o: ContractProbes, service: str, state: Literal["firing", "resolved"], at: datetime) -> SloAlert:
        return SloAlert(
            event_id=alert_id(o.contract_id, service, "", "no_data", state, at.isoformat()), type=state,
            alert="no_data", severity="page", at=at, contract_id=o.contract_id, customer=o.customer,
            service=service, sli=None, objective=None,
        )

    def _evaluate(
        self, entry: ServiceEntry, service: str, objectives: Sequence[Objective], end: datetime
    ) -> list[SloAlert]:
        out = []
        for o in objectives:
            series = entry.series.get(o.key)
            if series is None:
                continue
            firing, changes = evaluate(series, o.objective, o.rules, end, frozenset(entry.firing.get(o.key, ())),
                                       o.min_results)
            if firing:
                entry.firing[o.key] = tuple(sorted(firing))
            else:
                entry.firing.pop(o.key, None)
            for c in changes:
                out.append(SloAlert(
                    event_id=alert_id(o.contract_id, service, o.sli, c.rule.name, c.state, end.isoformat()),
                    type=c.state, alert=c.rule.name, severity=c.rule.severity, at=end,
                    contract_id=o.contract_id, customer=o.customer, service=service, sli=o.sli,
                    objective=o.objective, factor=c.rule.factor, long_window_s=c.rule.long.total_seconds(),
                    short_window_s=c.rule.short.total_seconds(), long_burn=c.long_burn, short_burn=c.short_burn,
                    budget_remaining=budget_remaining(series, o.objective, end, end - o.window_start(end)),
                ))
        return out

    def status(self, entry: ServiceEntry, service: str, o: Objective, end: datetime) -> dict[str, Any]:
        """The status row of objective `o` as of `end`, with the rules firing at the last data:
        an SloStatus's fields, built as a plain dict (a test holds it to the model's JSON)."""
        series = entry.series.get(o.key) or ErrorSeries(self.fine, self.plan.horizon)
        stop = epoch_minute(end)
        rates = {f"error_rate_{name}": series.error_rate_before(stop, w) for name, w in _RATES.items()}
        in_window = series.error_rate_before(stop, end - o.window_start(end))
        return {
            "contract_id": o.contract_id, "customer": o.customer, "service": service, "sli": o.sli,
            "objective": o.objective, "window": o.window_name, "as_of": end, **rates, "error_rate_window": in_window,
            "burn_rate_1h": (rates["error_rate_1h"] or 0.0) / (1 - o.objective),
            "budget_remaining": 1 - (in_window or 0.0) / (1 - o.objective),
            "firing": list(entry.data_firing.get(o.key, ())),
        }


def _minute_record(bucket: Bucket, contracts: Sequence[ContractProbes]) -> dict[str, Any]:
    """A closed bucket as published (a ProbeMinute, built as a plain dict: one per service and
    minute is the worker's most frequent output; a test holds the two to the same JSON): its
    counts and how it counts for each covering contract."""
    fast = dict(bucket.fast)
    return {
        "schema_version": 1, "service": bucket.service, "minute": bucket.minute, "total": bucket.total,
        "good": bucket.good, "latency_sum_ms": bucket.latency_sum_ms, "latency_max_ms": bucket.latency_max_ms,
        "fast_le_ms": [t for t, _ in bucket.fast], "fast": [n for _, n in bucket.fast],
        "contracts": [{"contract_id": c.contract_id, "customer": c.customer,
                       "fast": None if c.threshold_ms is None else fast.get(c.threshold_ms, 0),
                       "excluded": c.maintenance.covers(bucket.minute)} for c in contracts],
    }
