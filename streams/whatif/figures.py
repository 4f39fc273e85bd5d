"""The figures analysts read, from ClickHouse views: the live tables, or a scratch database
holding a simulation's outputs (written with the sink's own row builders and migrations,
so both are computed by the same SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Hashable

from clickhouse_connect.driver.client import Client

from schemas.policy import Policy
from sinks.clickhouse import connect, insert_json
from sinks.contracts import write_contracts
from sinks.migrate import migrate
from sinks.rows import COLUMNS, Rows, breach_rows, contact_interval_rows, instance_rows, minute_rows
from streams.verdict import Consumed
from streams.whatif.simulate import Outputs

SlaKey = tuple[str, str, str, date]  # contract, metric, level (priority or severity), month of the instance's start
ProbeKey = tuple[str, str, str, date]  # contract, customer, service, month
ContactKey = tuple[str, str, str, str, str, date]  # contract, customer, objective, queue, measure, month


@dataclass(frozen=True)
class SlaFigures:
    customer: str
    instances: int
    met: int
    missed: int
    breached: int
    warnings: int
    mean_elapsed_s: float | None  # of stopped instances: MTTA / MTTR for incidents, in SLA time

    @property
    def met_pct(self) -> float | None:
        decided = self.met + self.missed
        return None if decided == 0 else 100.0 * self.met / decided


@dataclass(frozen=True)
class ProbeFigures:
    availability: float | None
    latency: float | None
    availability_budget_used: float | None
    latency_budget_used: float | None
    credit_percent: float | None


@dataclass(frozen=True)
class ContactFigures:
    intervals: int  # judged
    met: int
    attainment: float  # share of judged intervals that met
    value: float | None  # the month's service level, ASA (s) or abandonment rate
    target: float | None
    month_met: bool
    credit_percent: float | None


@dataclass(frozen=True)
class Instance:
    contract_id: str
    customer: str
    metric: str
    level: str
    started_at: datetime
    state: str
    outcome: str | None
    breached: bool


@dataclass
class Figures:
    sla: dict[SlaKey, SlaFigures]
    probes: dict[ProbeKey, ProbeFigures]
    instances: dict[str, Instance]
    contacts: dict[ContactKey, ContactFigures]


# SLA instances, and OLA instances under their team ("ola:<team>" where a contract id goes;
# the customer of an OLA's figures is left empty: a team's month spans customers).
_SOURCES = (
    ("sla_events", "sla_instances_current", "contract_id", "any(customer)"),
    ("ola_events", "(SELECT * FROM ola_instance_status FINAL)", "concat('ola:', ola)", "''"),
)


def read(client: Client) -> Figures:
    """Figures per contract (or OLA), metric, level and month, probe attainment and credits per
    month, and every SLA and OLA instance, from the views of `client`'s database."""
    sla = {}
    instances = {}
    for events, current, contract, customer in _SOURCES:
        warnings: dict[tuple[Any, ...], int] = {
            tuple(r[:4]): r[4] for r in client.query(
                f"SELECT {contract} AS c, i.metric, i.level, toStartOfMonth(i.started_at) AS month, count() "
                f"FROM {events} AS e INNER JOIN {current} AS i ON e.instance_id = i.instance_id "
                "WHERE e.type = 'warning' GROUP BY c, i.metric, i.level, month").result_rows}
        for key_contract, metric, level, month, who, n, met, missed, breached, elapsed in client.query(
                f"SELECT {contract} AS c, metric, level, toStartOfMonth(started_at) AS month, {customer}, count(), "
                "countIf(outcome = 'met'), countIf(outcome = 'missed'), countIf(breached), "
                f"avgIf(elapsed_s, state = 'stopped') FROM {current} "
                "GROUP BY c, metric, level, month").result_rows:
            key = (key_contract, metric, level, month)
            sla[key] = SlaFigures(who, n, met, missed, breached, warnings.get(key, 0), _number(elapsed, 3))
        instances.update({
            r[0]: Instance(r[1], r[2], r[3], r[4], r[5].replace(tzinfo=timezone.utc), r[6], r[7], bool(r[8]))
            for r in client.query(f"SELECT instance_id, {contract}, customer, metric, level, started_at, state, "
                                  f"outcome, breached FROM {current}").result_rows
        })
    credits = {tuple(r[:3]): r[3] for r in client.query(
        "SELECT contract_id, service, month, credit_percent FROM service_credits_monthly").result_rows}
    probes = {
        (contract, customer, service, month): ProbeFigures(
            _number(avail, 9), _number(latency, 9), _number(avail_used, 9), _number(latency_used, 9),
            _number(credits.get((contract, service, month)), 9))
        for contract, customer, service, month, avail, latency, avail_used, latency_used in client.query(
            "SELECT contract_id, customer, service, month, availability, latency_attainment, "
            "availability_budget_used, latency_budget_used FROM slo_attainment_monthly").result_rows
    }
    contacts = {
        (r[0], r[1], r[2], r[3], r[4], r[5]): ContactFigures(r[6], r[7], round(float(r[8]), 9), _number(r[9], 9),
                                                             _number(r[10], 9), bool(r[11]), _number(r[12], 9))
        for r in client.query(
            "SELECT a.contract_id, a.customer, a.objective, a.queue, a.measure, a.month, a.intervals, a.intervals_met, "
            "a.attainment, a.value, a.target, a.month_met, c.credit_percent FROM contact_attainment_monthly AS a "
            "LEFT JOIN contact_credits_monthly AS c USING (contract_id, customer, objective, queue, measure, month)"
        ).result_rows
    }
    return Figures(sla, probes, instances, contacts)


def simulated(policy: Policy, outputs: Outputs, scratch: Path, now: datetime) -> Figures:
    """Store `outputs` in a new embedded ClickHouse at `scratch` (migrations, the policy's
    contracts, the sink's rows) and read the figures back."""
    client = connect(f"chdb://{scratch}")
    try:
        for _ in migrate(client):
            pass
        write_contracts(client, policy, now)
        tables: dict[str, dict[Hashable, tuple[Any, ...]]] = {}
        blocks: dict[str, list[bytes]] = {}
        for topic, rows, values in (("breaches", breach_rows, outputs.lifecycle),
                                    ("instances", instance_rows, outputs.statuses),
                                    ("minutes", minute_rows, outputs.minutes),
                                    ("contact_intervals", contact_interval_rows, outputs.contact_intervals)):
            _convert(tables, blocks, topic, rows, values, now)
        for table, keyed in tables.items():
            client.insert(table, data=list(keyed.values()), column_names=list(COLUMNS[table]))
        for table, lines in blocks.items():
            insert_json(client, table, list(COLUMNS[table]), b"\n".join(lines))
        return read(client)
    finally:
        client.close()


def _convert(tables: dict[str, dict[Hashable, tuple[Any, ...]]], blocks: dict[str, list[bytes]], topic: str,
             rows: Rows, values: list[bytes], now: datetime) -> None:
    for offset, value in enumerate(values):
        for table, key, row in rows(Consumed(topic, 0, offset, None, value, now), now):
            if isinstance(row, bytes):  # records stored as they are (JSONEachRow)
                blocks.setdefault(table, []).append(row)
            else:
                tables.setdefault(table, {}).setdefault(key, row)


def _number(value: Any, digits: int) -> float | None:
    """A ClickHouse number as a float rounded to `digits` (sums and averages differ in their
    last bits with the order rows are read in); NULL and NaN (an average of nothing) as None."""
    return None if value is None or value != value else round(float(value), digits)


def live_end(end: datetime | None) -> datetime | None:
    """Just after `end`, the last instant the live tables know of (`tables_end`): the live
    worker had fired every deadline up to and including it, and a replay fires those before
    the instant it is given (up to now, --check fired deadlines a stopped worker never reached)."""
    return None if end is None else end + timedelta(milliseconds=1)
