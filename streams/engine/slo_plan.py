"""Probe objectives compiled from the policy: which SLOs cover a service (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from schemas.durations import format_duration
from schemas.outputs import Sli
from schemas.policy import BurnRateAlert, Contract, Policy
from streams.engine.maintenance import Maintenance


@dataclass(frozen=True)
class Objective:
    """One SLI objective of one contract."""

    contract_id: str
    customer: str
    sli: Sli
    objective: float
    window: timedelta | Literal["month"]
    threshold_ms: float | None  # latency SLIs: a result is good when at or under it
    rules: tuple[BurnRateAlert, ...]
    maintenance: Maintenance
    no_data_after: timedelta
    timeslice_target: float | None = None  # budget by minutes instead of by results
    min_results: int = 1  # a rule starts to fire only with this many results in its long window

    @property
    def key(self) -> str:
        return f"{self.contract_id}/{self.sli}"

    @property
    def window_name(self) -> str:
        return self.window if isinstance(self.window, str) else format_duration(self.window)

    def window_start(self, end: datetime) -> datetime:
        """Start of the SLO window ending at `end` (for calendar months the first instant of the
        month `end` closes: at a month's first instant, the month that just ended)."""
        if isinstance(self.window, str):
            last = end - timedelta(microseconds=1)
            return last.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return end - self.window

    def counts(self, total: int, good: int, fast: dict[float, int]) -> tuple[int, int]:
        """(events, bad events) of a minute bucket for this SLI: results, or the minute itself as one timeslice."""
        ok = good if self.threshold_ms is None else fast.get(self.threshold_ms, 0)
        if self.timeslice_target is None:
            return total, total - ok
        return 1, int(ok / total < self.timeslice_target)


@dataclass(frozen=True)
class ContractProbes:
    """What a contract says about a service's probes beyond its objectives."""

    contract_id: str
    customer: str
    threshold_ms: float | None  # of its latency objective
    maintenance: Maintenance
    no_data_after: timedelta


def _objectives(contract: Contract) -> list[Objective]:
    probes = contract.probes
    if probes is None:
        return []
    maintenance = Maintenance(probes.maintenance)
    out = []
    for sli, spec in (("availability", probes.availability), ("latency", probes.latency)):
        if spec is not None:
            out.append(Objective(
                contract.id, contract.customer, sli, spec.objective, spec.window,  # type: ignore[arg-type]
                getattr(spec, "threshold_ms", None), probes.burn_rate_alerts, maintenance, probes.no_data_after,
                spec.timeslice_target, probes.alert_min_results,
            ))
    return out


class SloPlan:
    """Probe objectives per service, from the contracts that list it (or "*")."""

    def __init__(self, policy: Policy) -> None:
        self._by_contract = [(c, _objectives(c)) for c in policy.contracts if c.probes is not None]
        self.horizon = max(
            [timedelta(days=31)] + [
                max([o.window if isinstance(o.window, timedelta) else timedelta(days=31)] + [r.long for r in o.rules])
                for _, objectives in self._by_contract for o in objectives
            ]
        )
        self.objectives = lru_cache(maxsize=None)(self._objectives)
        self.contracts = lru_cache(maxsize=None)(self._contracts)
        self.thresholds = lru_cache(maxsize=None)(self._thresholds)  # asked for every probe result

    def _objectives(self, service: str) -> tuple[Objective, ...]:
        return tuple(
            o for contract, objectives in self._by_contract
            if service in contract.services or "*" in contract.services
            for o in objectives
        )

    def _thresholds(self, service: str) -> tuple[float, ...]:
        """Latency thresholds of the objectives covering `service`, ascending."""
        return tuple(sorted({o.threshold_ms for o in self.objectives(service) if o.threshold_ms is not None}))

    def _contracts(self, service: str) -> tuple[ContractProbes, ...]:
        out = []
        for contract, objectives in self._by_contract:
            if objectives and (service in contract.services or "*" in contract.services):
                latency = [o.threshold_ms for o in objectives if o.threshold_ms is not None]
                first = objectives[0]
                out.append(ContractProbes(contract.id, contract.customer, latency[0] if latency else None,
                                          first.maintenance, first.no_data_after))
        return tuple(out)
