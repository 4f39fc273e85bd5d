"""Every query the portal runs: parameterised (values never pasted into SQL), one per table shown."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.clickhouse import tables_end


# ClickHouse compiles an expression (LLVM) the third time it sees it: a few hundred ms in the
# middle of a page view, once per query shape (seen as p99 spikes in bench/portal.py). These
# small queries gain nothing from it.
_SETTINGS = {"compile_expressions": 0, "compile_aggregate_expressions": 0, "compile_sort_description": 0}


@dataclass(frozen=True)
class Table:
    """Rows as shown on a page and exported as CSV."""

    name: str  # the CSV export's name (?csv=name)
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Db:
    """One ClickHouse client shared by the server's threads (embedded chDB allows one per
    process, and its client is not made for concurrent use: queries take turns)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lock = threading.Lock()

    def table(self, name: str, title: str, sql: str, **params: Any) -> Table:
        with self.lock:
            result = self.client.query(sql, parameters=params, settings=_SETTINGS)
        return Table(name, title, list(result.column_names), [tuple(r) for r in result.result_rows])

    def value(self, sql: str, **params: Any) -> Any:
        with self.lock:
            rows = self.client.query(sql, parameters=params, settings=_SETTINGS).result_rows
        return rows[0][0] if rows else None


def customers(db: Db, month: date) -> Table:
    return db.table("customers", "Customers", """
        SELECT customer, sum(instances) AS sla_instances, sum(breached) AS breached, max(credit) AS highest_credit_pct
        FROM (
            SELECT customer, count() AS instances, countIf(breached) AS breached, 0 AS credit
            FROM sla_instances_current WHERE toStartOfMonth(started_at) = {month:Date} GROUP BY customer
            UNION ALL
            SELECT customer, 0, 0, ifNull(credit_percent, 0) FROM service_credits_monthly WHERE month = {month:Date}
            UNION ALL
            SELECT customer, 0, 0, credit_percent FROM contact_credits_monthly WHERE month = {month:Date}
            UNION ALL
            SELECT customer, 0, 0, 0 FROM slo_contracts FINAL
        ) GROUP BY customer ORDER BY customer""", month=month)


def known_customer(db: Db, customer: str) -> bool:
    return bool(db.value("""
        SELECT count() FROM (SELECT customer FROM sla_instance_status WHERE customer = {c:String} LIMIT 1
                             UNION ALL SELECT customer FROM slo_contracts WHERE customer = {c:String} LIMIT 1)""",
                         c=customer))


def contract_of(db: Db, customer: str, contract: str) -> bool:
    """True when `contract` is one of `customer`'s (by its SLA instances or probe objectives)."""
    return bool(db.value("""
        SELECT count() FROM (
            SELECT contract_id FROM sla_instance_status WHERE contract_id = {k:String} AND customer = {c:String} LIMIT 1
            UNION ALL
            SELECT contract_id FROM slo_contracts WHERE contract_id = {k:String} AND customer = {c:String} LIMIT 1)""",
                         c=customer, k=contract))


def sla_month(db: Db, customer: str, month: date, contract: str | None = None) -> Table:
    return db.table("sla", "SLA instances by contract, metric and priority (started this month)", """
        SELECT contract_id AS contract, metric, level, any(target_s) AS target_s, count() AS instances,
               countIf(outcome = 'met') AS met, countIf(outcome = 'missed') AS missed,
               if(met + missed = 0 OR target_s IS NULL, NULL, round(100 * met / (met + missed), 2)) AS met_pct,
               countIf(breached) AS breached, countIf(state != 'stopped') AS open
        FROM sla_instances_current
        WHERE customer = {c:String} AND toStartOfMonth(started_at) = {month:Date}
          AND ({k:String} = '' OR contract_id = {k:String})
        GROUP BY contract_id, metric, level ORDER BY contract_id, metric, level""",
                    c=customer, month=month, k=contract or "")


def probes_month(db: Db, customer: str, month: date, contract: str | None = None) -> Table:
    return db.table("probes", "Probe SLOs: attainment, error budget and service credits", """
        SELECT a.contract_id AS contract, a.service AS service, a.total AS results,
               round(100 * a.availability, 3) AS availability_pct, round(100 * a.availability_objective, 3) AS objective_pct,
               round(100 * a.latency_attainment, 3) AS latency_ok_pct,
               round(100 * (1 - a.availability_budget_used), 1) AS budget_left_pct, c.credit_percent AS credit_pct
        FROM slo_attainment_monthly AS a
        LEFT JOIN service_credits_monthly AS c
          ON c.contract_id = a.contract_id AND c.service = a.service AND c.month = a.month
        WHERE a.customer = {c:String} AND a.month = {month:Date} AND ({k:String} = '' OR a.contract_id = {k:String})
        ORDER BY contract, service""", c=customer, month=month, k=contract or "")


def contracts(db: Db, customer: str) -> list[str]:
    rows = db.table("contracts", "", """
        SELECT DISTINCT contract_id FROM (
            SELECT contract_id FROM sla_instance_status WHERE customer = {c:String}
            UNION ALL SELECT contract_id FROM slo_contracts FINAL WHERE customer = {c:String})
        ORDER BY contract_id""", c=customer).rows
    return [r[0] for r in rows]


def attainment_by_day(db: Db, contract: str, month: date) -> Table:
    return db.table("attainment", "Probe results per day", """
        SELECT toDate(minute) AS day, sumIf(total, NOT excluded) AS results, sumIf(good, NOT excluded) AS good,
               if(results = 0, NULL, round(100 * good / results, 3)) AS availability_pct
        FROM slo_minutes FINAL WHERE contract_id = {k:String} AND toStartOfMonth(minute) = {month:Date}
        GROUP BY day ORDER BY day""", k=contract, month=month)


def availability_days(db: Db, contract: str, last: date, days: int = 90) -> list[tuple[date, float | None]]:
    """Availability (percent) of each of the `days` days up to `last`; None for a day without results."""
    first = date.fromordinal(last.toordinal() - days + 1)
    rows = db.table("availability_days", "", """
        SELECT toDate(minute) AS day, sumIf(good, NOT excluded) / sumIf(total, NOT excluded) AS availability
        FROM slo_minutes FINAL WHERE contract_id = {k:String} AND toDate(minute) BETWEEN {a:Date} AND {b:Date}
        GROUP BY day HAVING sumIf(total, NOT excluded) > 0""", k=contract, a=first, b=last).rows
    known = {day: 100 * value for day, value in rows}
    return [(d, known.get(d)) for d in (date.fromordinal(first.toordinal() + i) for i in range(days))]


def objective(db: Db, contract: str) -> float | None:
    return db.value("SELECT availability_objective FROM slo_contracts FINAL WHERE contract_id = {k:String}", k=contract)


def breaches_by_day(db: Db, contract: str, month: date) -> Table:
    return db.table("breaches_per_day", "Breaches per day", """
        SELECT toDate(at) AS day, count() AS breaches FROM sla_events
        WHERE contract_id = {k:String} AND type = 'breached' AND toStartOfMonth(at) = {month:Date}
        GROUP BY day ORDER BY day""", k=contract, month=month)


def breach_lifecycles(db: Db, contract: str, month: date) -> Table:
    return db.table("breaches", "Breaches this month and their lifecycle", """
        SELECT instance_id AS instance, type, at, level, round(elapsed_s) AS elapsed_s, threshold, corrects
        FROM breaches FINAL
        WHERE contract_id = {k:String} AND instance_id IN (
            SELECT instance_id FROM sla_events
            WHERE contract_id = {k:String} AND type = 'breached' AND toStartOfMonth(at) = {month:Date})
        ORDER BY instance, version""", k=contract, month=month)


def data_as_of(db: Db) -> datetime | None:
    """The last instant the tables know of (sinks/clickhouse.py); None when they are empty."""
    with db.lock:
        return tables_end(db.client)


def at_risk(db: Db, contract: str, as_of: datetime | None) -> Table:
    """Warned, not breached, and the deadline still ahead of what the data knows (a deadline
    before that had breached, had a worker been running to see it)."""
    return db.table("at_risk", "Open instances at risk (warned, not breached yet)", """
        SELECT instance_id AS instance, metric, level, deadline, round(elapsed_s) AS elapsed_s, target_s
        FROM sla_instances_current
        WHERE contract_id = {k:String} AND state != 'stopped' AND NOT breached
          AND (deadline IS NULL OR deadline > {as_of:DateTime64(3)}) AND instance_id IN (
            SELECT instance_id FROM sla_events WHERE contract_id = {k:String} AND type = 'warning')
        ORDER BY deadline""", k=contract, as_of=as_of or datetime(1970, 1, 1))


def response_times(db: Db, contract: str, month: date) -> Table:
    return db.table("times", "Mean times of stopped instances (incidents: MTTA = acknowledge, MTTR = resolve)", """
        SELECT kind, metric, count() AS stopped, round(avg(elapsed_s)) AS mean_elapsed_s
        FROM sla_instances_current
        WHERE contract_id = {k:String} AND state = 'stopped' AND toStartOfMonth(started_at) = {month:Date}
        GROUP BY kind, metric ORDER BY kind, metric""", k=contract, month=month)


def instance_owner(db: Db, instance: str) -> tuple[str, str, str] | None:
    """(customer, kind, entity id) of an SLA instance; None when there is no such instance."""
    rows = db.table("owner", "", "SELECT customer, kind, entity_id FROM sla_instance_status "
                                 "WHERE instance_id = {i:String} LIMIT 1", i=instance).rows
    return tuple(rows[0]) if rows else None  # type: ignore[return-value]


def instance_current(db: Db, instance: str) -> dict[str, Any] | None:
    """The latest status row of an SLA instance, by column."""
    t = db.table("current", "", "SELECT * FROM sla_instances_current WHERE instance_id = {i:String} LIMIT 1",
                 i=instance)
    return dict(zip(t.columns, t.rows[0])) if t.rows else None


def instance_status(db: Db, instance: str) -> Table:
    return db.table("status", "Status rows (every version received)", """
        SELECT DISTINCT version, state, round(elapsed_s) AS elapsed_s, deadline, breached, outcome, as_of
        FROM sla_instance_status WHERE instance_id = {i:String} ORDER BY version""", i=instance)


def instance_lifecycle(db: Db, instance: str) -> Table:
    return db.table("lifecycle", "Lifecycle events", """
        SELECT type, at, level, target_s, round(elapsed_s) AS elapsed_s, threshold, corrects, event_id
        FROM breaches FINAL WHERE instance_id = {i:String} ORDER BY version""", i=instance)


def instance_inputs(db: Db, customer: str, kind: str, entity: str) -> Table:
    """The input events of one customer's ticket or incident (another customer may use the same id)."""
    return db.table("inputs", "Input events of the ticket or incident", """
        SELECT occurred_at, event_id, source, JSONExtractString(payload, 'status') AS status,
               if(kind = 'ticket', JSONExtractString(payload, 'priority'), JSONExtractString(payload, 'severity')) AS level,
               toBool(JSONExtractBool(payload, 'public_reply')) AS public_reply
        FROM events WHERE kind = {kind:String} AND customer = {c:String} AND entity_id = {e:String}
        ORDER BY occurred_at, event_id""", kind=kind, c=customer, e=entity)


# Internal teams (OLAs): analysts only (server.py); these tables never hold a customer's own view.
def ola_attainment(db: Db, month: date) -> Table:
    return db.table("ola_attainment", "OLA attainment per team, measure and priority (outcomes this month)", """
        SELECT ola AS team, metric, priority AS level, met, missed, round(100 * attainment, 2) AS attainment_pct
        FROM ola_attainment_monthly WHERE month = {month:Date} ORDER BY team, metric, level""", month=month)


def breached_split(db: Db, month: date) -> Table:
    return db.table("time_split", "Customer SLAs breached (started this month): their time by the group holding "
                    "the ticket", """
        SELECT instance_id AS instance, customer, metric, round(elapsed_s) AS elapsed_s,
               if(assignment_group = '', '(no group)', assignment_group) AS team, round(held_s) AS held_s,
               round(100 * held_s / elapsed_s, 1) AS share_pct
        FROM sla_time_split
        WHERE breached AND instance_id IN (
            SELECT instance_id FROM sla_instance_status WHERE toStartOfMonth(started_at) = {month:Date})
        ORDER BY instance, held_s DESC, team LIMIT 1000""", month=month)


def group_handoffs(db: Db) -> Table:
    return db.table("handoffs", "Hand-offs per group, all time: tickets it handed on, and tickets that came back to it",
                    """SELECT assignment_group AS team, handed_on, came_back, tickets FROM group_handoffs
                       ORDER BY handed_on DESC, team""")


# Contact centre (docs/contacts.md): a customer's own queues.
def has_contacts(db: Db, customer: str) -> bool:
    return bool(db.value("SELECT count() FROM (SELECT 1 FROM contact_intervals WHERE customer = {c:String} LIMIT 1)",
                         c=customer))


def contact_queues(db: Db, customer: str, month: date) -> Table:
    return db.table("contact_queues", "Queues: contacts queued this month", """
        SELECT queue, channel, offered, answered, abandoned, asa_s, aht_s, round(100 * fcr, 1) AS fcr_pct
        FROM contact_levels_monthly WHERE customer = {c:String} AND month = {month:Date}
        ORDER BY queue, channel""", c=customer, month=month)


_FIGURE = "if(measure = 'asa', concat(toString(round({v}, 1)), ' s'), concat(toString(round(100 * {v}, 2)), ' %'))"


def contact_objectives(db: Db, customer: str, month: date) -> Table:
    """Each objective measure per queue: the month's figure against its target, and how many
    15-minute intervals met it (what service credits follow)."""
    return db.table("contact_objectives", "Contact objectives: the month, and its 15-minute intervals", f"""
        SELECT a.contract_id AS contract, a.objective, a.queue, a.measure,
               {_FIGURE.format(v="a.value")} AS month_figure, {_FIGURE.format(v="a.target")} AS objective_figure,
               a.month_met, a.intervals, a.intervals_met, round(100 * a.attainment, 2) AS intervals_met_pct,
               c.credit_percent AS credit_pct
        FROM contact_attainment_monthly AS a
        LEFT JOIN contact_credits_monthly AS c USING (contract_id, customer, objective, queue, measure, month)
        WHERE a.customer = {{c:String}} AND a.month = {{month:Date}}
        ORDER BY contract, objective, queue, measure""", c=customer, month=month)


def failing_intervals_by_day(db: Db, customer: str, month: date) -> list[tuple[date, int]]:
    """Per day of the month with contacts: the 15-minute intervals that missed an objective (any queue)."""
    rows = db.table("failing_days", "", """
        SELECT toDate(interval_start) AS day, uniqExactIf((queue, interval_start), NOT met) AS failing
        FROM contact_objective_intervals FINAL
        WHERE customer = {c:String} AND toStartOfMonth(interval_start) = {month:Date}
        GROUP BY day ORDER BY day""", c=customer, month=month).rows
    return [(day, n) for day, n in rows]


def failing_intervals(db: Db, customer: str, month: date) -> Table:
    return db.table("failing_intervals", "Intervals that missed an objective (first 500)", f"""
        SELECT interval_start, queue, objective, measure, {_FIGURE.format(v="value")} AS figure,
               {_FIGURE.format(v="target")} AS objective_figure
        FROM contact_objective_intervals FINAL
        WHERE customer = {{c:String}} AND toStartOfMonth(interval_start) = {{month:Date}} AND NOT met
        ORDER BY interval_start, queue, objective, measure LIMIT 500""", c=customer, month=month)
