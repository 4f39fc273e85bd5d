"""The policy's probe objectives and credit tiers as rows of `slo_contracts` (for the monthly views of
probe SLOs and contact objectives)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.policy import Policy

COLUMNS = (
    "contract_id", "customer", "availability_objective", "latency_objective", "latency_threshold_ms",
    "availability_timeslice", "latency_timeslice", "credit_below", "credit_percent", "updated_at",
)


def contract_rows(policy: Policy, now: datetime) -> list[tuple[Any, ...]]:
    """One row per contract with probe or contact objectives; the newest `updated_at` wins in the table."""
    rows = []
    for c in policy.contracts:
        if c.probes is None and c.contacts is None:
            continue
        availability = c.probes.availability if c.probes else None
        latency = c.probes.latency if c.probes else None
        rows.append((
            c.id, c.customer,
            availability.objective if availability else None,
            latency.objective if latency else None,
            latency.threshold_ms if latency else None,
            availability.timeslice_target if availability else None,
            latency.timeslice_target if latency else None,
            [t.below for t in c.credits], [t.credit for t in c.credits], now,
        ))
    return rows


def write_contracts(client: Client, policy: Policy, now: datetime) -> int:
    """Record the running policy's probe and contact contracts; returns how many."""
    rows = contract_rows(policy, now)
    if rows:
        client.insert("slo_contracts", rows, column_names=COLUMNS)
    return len(rows)
