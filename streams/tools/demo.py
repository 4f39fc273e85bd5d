"""`slastream demo`: the whole pipeline once, on the local broker and embedded ClickHouse."""

from __future__ import annotations

import collections
import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import orjson
from rich.console import Console
from rich.table import Table

from schemas.errors import RunFailed
from sinks.clickhouse import connect
from sinks.kafka_sink import sink_topics
from streams.kafka_util import read_all
from streams.portal.access import new_token
from streams.settings import Settings, load_settings, topic_env
from streams.tools.produce import produce
from streams.tools.workerproc import WorkerProcess, WorkerStalled, free_ports
from streams.topics import create_topics

DEMO_DIR = Path("var/demo")
DEMO_POLICY = Path(__file__).resolve().parents[2] / "examples" / "demo-policy.yaml"
WIDTH = 100


def run_demo(seconds: float, rate: float, time_scale: float, workers: int = 1, stall_s: float = 90.0) -> int:
    """Create topics, run `workers` worker processes (one consumer group) and a sink, produce
    synthetic traffic with bad records, wait, report.

    The wait has no fixed deadline: it fails only when the worker dies or makes no progress
    for `stall_s` (a busy machine is slower, not broken).
    """
    terminal = Console()
    console = Console(width=min(WIDTH, terminal.width) if terminal.is_terminal else WIDTH)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    run = f"demo{int(time.time())}"
    env = {
        "APP_ID": run,
        "CLICKHOUSE_DSN": f"chdb://{(DEMO_DIR / 'chdb').resolve()}",
        "WEB_ENABLED": "false",
        "SLA_POLICY_FILE": str(DEMO_POLICY),
        "PROBE_IDLE_S": "3",  # the last probe minutes close soon after the traffic stops
        "CONTACT_IDLE_S": "3",  # and the last contact intervals
        **topic_env(f"{run}.sla"),
    }
    os.environ.update(env)
    settings = load_settings()
    began = time.monotonic()
    console.rule("1/4 topics")
    created = create_topics(settings)
    console.print(f"{len(created)} topics {run}.sla.* on {settings.kafka_bootstrap_servers}")
    console.rule("2/4 worker and sink")
    # Each worker keeps its state in a directory of its own; the group splits the partitions.
    # Free ports for each process's metrics: the defaults may be taken on a user's machine.
    # Supervised, as a worker must be: one that stops itself to resume from the committed
    # offsets (workers joining one group can make that happen) is started again.
    ports = free_ports(workers + 1)
    pool = [WorkerProcess({**env, "DATA_DIR": str((DEMO_DIR / f"worker-{i}").resolve()), "METRICS_PORT": str(ports[i])},
                          DEMO_DIR / f"worker-{i}.log", supervised=True).start() for i in range(workers)]
    worker = pool[0]
    sink = WorkerProcess({**env, "SINK_METRICS_PORT": str(ports[-1])}, DEMO_DIR / "sink.log", command="sink").start()
    try:
        for w, port in zip(pool, ports):
            console.print(f"worker pid {w.pid}, policy {DEMO_POLICY.name}, log {w.log_path}")
            console.print(f"  metrics http://{settings.metrics_bind}:{port}/metrics, /health, /ready")
        console.print(f"sink pid {sink.pid} (writes ClickHouse), log {sink.log_path}")
        console.print(f"  metrics http://{settings.metrics_bind}:{ports[-1]}/metrics, /health, /ready")
        console.rule(f"3/4 producing {seconds:g} s at {rate:g} events/s, event time x{time_scale:g}")
        # Event time ends two minutes ago, so the last probe minutes can close right after the traffic.
        report = produce(settings, rate=rate, duration=seconds, time_scale=time_scale, bad=True,
                         ends_ago=timedelta(minutes=2), contacts=True)
        console.print(f"{report.events - report.contacts:,} events spanning "
                      f"{report.last_event_time - report.first_event_time}, {report.contacts:,} finished contacts of "
                      f"the day before, and {report.bad} bad records")
        console.rule("4/4 waiting for the worker and the sink")
        started = time.monotonic()
        _wait(console, worker, settings, list(settings.input_topics.values()), "input records not yet processed",
              stall_s, pool[1:])
        _wait(console, sink, settings, sink_topics(settings), "records not yet stored in ClickHouse", stall_s)
        console.print(f"worker and sink done {time.monotonic() - started:.1f} s after the last send")
        if restarts := sum(w.restarts for w in pool):
            console.print(f"worker restarts: {restarts} (a worker stops itself to resume from the committed offsets; "
                          f"see {DEMO_DIR}/worker-*.log)")
    finally:
        for w in pool:
            w.stop()
        sink.stop()
    stopped = datetime.now(timezone.utc)
    _report(console, settings, report.events, report.bad)
    console.print(f"The demo's data stops at {stopped:%H:%M:%S} UTC, when its worker stopped: SLA clocks stand as of "
                  "then (deadlines after it never fire in this data), and `whatif --check` replays up to the last "
                  "instant the tables know of.")
    console.print(f"demo finished in {time.monotonic() - began:.0f} s")
    return 0


def _wait(console: Console, process: WorkerProcess, settings: Settings, topics: list[str], what: str,
          stall_s: float, peers: Sequence[WorkerProcess] = ()) -> None:
    """Until the process's group has committed every record of `topics`, showing what is left."""
    with console.status("") as status:
        def show(left: int, stalled: float) -> None:
            status.update(f"{left:,} {what}" + (f" (no progress for {stalled:.0f} s)" if stalled > 5 else ""))

        try:
            process.wait_committed(settings, topics, stall_s, show, peers)
        except WorkerStalled as exc:
            raise RunFailed(f"{exc} ({what})") from None
    console.print(f"0 {what}")


def _report(console: Console, settings: Settings, produced: int, bad: int) -> None:
    client = connect(settings.clickhouse_dsn)
    try:
        def rows(sql: str) -> list[Any]:
            return list(client.query(sql).result_rows)

        console.rule("what landed")
        stored = dict(rows("SELECT kind, count() FROM events GROUP BY kind"))
        if sum(stored.values()) != produced:
            raise RunFailed(f"{produced:,} valid events were sent but {sum(stored.values()):,} are in input_events; "
                            f"see {settings.clickhouse_dsn} and var/demo/sink.log")
        dead = collections.Counter(orjson.loads(m.value() or b"{}")["reason"]
                                   for m in read_all(settings, settings.topic_deadletter))
        console.print(
            f"Input: {produced:,} valid events and {bad} bad records sent. Stored in input_events: "
            f"{sum(stored.values()):,} ({', '.join(f'{k} {n:,}' for k, n in sorted(stored.items()))}). "
            f"Dead-lettered on {settings.topic_deadletter}: {sum(dead.values())} "
            f"({', '.join(f'{r} {n}' for r, n in sorted(dead.items()))}).")

        instances = Table(title="SLA instances (view sla_instances_current: one row per instance)")
        for column in ("kind", "metric", "instances", "running", "met", "missed", "breached so far"):
            instances.add_column(column, justify="left" if column in ("kind", "metric") else "right")
        for kind, metric, n, running, met, missed, breached in rows(
            "SELECT kind, metric, count(), countIf(state = 'running'), countIf(outcome = 'met'),"
            " countIf(outcome = 'missed'), countIf(breached) FROM sla_instances_current"
            " GROUP BY kind, metric ORDER BY kind, metric"
        ):
            instances.add_row(kind, metric, *(f"{x:,}" for x in (n, running, met, missed, breached)))
        console.print(instances)

        facts = dict(rows("SELECT type, count() FROM sla_events GROUP BY type"))
        records = collections.Counter(orjson.loads(m.value() or b"{}")["type"]
                                      for m in read_all(settings, settings.topic_breaches))
        console.print(
            f"SLA lifecycle events that hold (view sla_events, one per fact): {sum(facts.values()):,} = "
            + ", ".join(f"{t} {n:,}" for t, n in sorted(facts.items())) + ".")
        console.print(
            f"Records on the breach topic {settings.topic_breaches} (what alerting consumes, SLO alerts "
            f"and corrections included): {sum(records.values()):,} = "
            + ", ".join(f"{t} {n:,}" for t, n in sorted(records.items())) + ".")
        if records.get("correction"):
            console.print(
                "Corrections retract facts that late events disproved: the demo puts minutes of event time "
                "into each second, so an update can arrive after the wall clock passed a deadline it stops.")

        olas = Table(title="OLAs: internal teams' attainment (view ola_attainment_monthly; analysts only)")
        for column in ("team", "metric", "met", "missed", "attainment"):
            olas.add_column(column, justify="left" if column in ("team", "metric") else "right")
        for team, metric, met, missed in rows(
            "SELECT ola, metric, sum(met), sum(missed) FROM ola_attainment_monthly GROUP BY ola, metric ORDER BY ola, metric"
        ):
            olas.add_row(team, metric, f"{met:,}", f"{missed:,}", _percent(met / (met + missed) if met + missed else None, 1))
        console.print(olas)
        ((moved, returned),) = rows("SELECT countIf(handoffs > 0), countIf(returns > 0) FROM ticket_handoffs")
        spent = rows("SELECT if(assignment_group = '', '(no group)', assignment_group) AS g, round(sum(held_s)) "
                     "FROM sla_time_split WHERE outcome = 'missed' GROUP BY g ORDER BY 2 DESC")
        console.print(
            f"Hand-offs (view ticket_handoffs): {moved:,} tickets moved between groups, {returned:,} came back to a "
            "group they had left. Time of the missed customer SLAs by the group holding the ticket (sla_time_split): "
            + (", ".join(f"{g} {s:,.0f} s" for g, s in spent) or "none") + ".")

        _contacts_report(console, rows)

        alerts = rows("SELECT alert, type, count() FROM slo_alerts FINAL GROUP BY alert, type ORDER BY alert, type")
        minutes = client.command("SELECT count() FROM probe_minutes FINAL")
        console.print(f"Probe SLOs: {minutes:,} service-minutes closed (probe_minutes); SLO alerts (slo_alerts): "
                      + (", ".join(f"{a} {t} {n}" for a, t, n in alerts) or "none") + ".")

        monthly = Table(title="Probe SLO attainment and service credits per month (views slo_attainment_monthly,"
                              " service_credits_monthly)")
        for column in ("contract / service", "month", "results", "availability", "latency ok",
                       "error budget used", "credit"):
            monthly.add_column(column, justify="left" if column in ("contract / service", "month") else "right",
                               no_wrap=True)
        for contract, service, month, total, availability, latency, used, credit in rows(
            "SELECT a.contract_id, a.service, a.month, a.total, a.availability, a.latency_attainment,"
            " a.availability_budget_used, c.credit_percent FROM slo_attainment_monthly AS a"
            " JOIN service_credits_monthly AS c USING (contract_id, service, month) ORDER BY a.service, a.month"
        ):
            monthly.add_row(f"{contract} / {service}", f"{month:%Y-%m}", f"{total:,}", _percent(availability),
                            _percent(latency), _percent(used, 1), f"{credit:g} %")
        console.print(monthly)
    finally:
        client.close()
    prefix = settings.topic_breaches.removesuffix("breaches")
    # An analyst token for the portal on this data (a local demo: the token is printed).
    token, digest = new_token()
    users = (DEMO_DIR / "portal-users.yaml").resolve()
    users.write_text(f"users:\n  - {{name: demo-analyst, role: analyst, token_sha256: \"{digest}\"}}\n")
    console.rule("where to look next")
    console.print(
        f"ClickHouse (embedded chDB; one process at a time may open it):\n"
        f"  export CLICKHOUSE_DSN={settings.clickhouse_dsn}\n"
        "  .venv/bin/slastream query \"SELECT type, count() FROM sla_events GROUP BY type\"\n"
        "  .venv/bin/slastream query \"SELECT entity_id, metric, deadline FROM sla_instances_current\n"
        "                              WHERE outcome = 'missed'\"\n"
        "  .venv/bin/slastream query \"SELECT * FROM service_credits_monthly ORDER BY service\"\n"
        "  .venv/bin/slastream query \"SELECT * FROM ola_attainment_monthly ORDER BY ola, metric\"\n"
        "  .venv/bin/slastream query \"SELECT * FROM contact_attainment_monthly ORDER BY queue, measure\"\n"
        f"Topics {prefix}*:\n"
        "  incidents, tickets, probes, contacts (input); breaches (SLA lifecycle events, SLO and contact\n"
        "  alerts); contact_intervals (15-minute contact intervals);\n"
        "  instances (SLA status); deadletter (rejected input with the reason)\n"
        "SLA portal on this data (then open http://127.0.0.1:8080/ and log in with the token):\n"
        f"  PORTAL_USERS_FILE={users} CLICKHOUSE_DSN={settings.clickhouse_dsn} \\\n"
        "    .venv/bin/slastream portal\n"
        f"  token: {token}\n"
        "What-if, a proposed policy over the same history:\n"
        f"  CLICKHOUSE_DSN={settings.clickhouse_dsn} .venv/bin/slastream whatif --policy {DEMO_POLICY} --proposed NEW.yaml\n"
        "The broker keeps running for a second look: `make kafka-stop` stops it.",
        markup=False, highlight=False, overflow="ignore", crop=False,
    )


def _contacts_report(console: Console, rows: Callable[[str], list[Any]]) -> None:
    """The contact centre's day: each objective measure per queue against its target."""
    table = Table(title="Contact centre, the day's objectives per queue (contact_objective_intervals; "
                        "credit: contact_credits_monthly)")
    for column in ("contract", "queue", "measure", "day", "target", "intervals met", "credit"):
        table.add_column(column, justify="left" if column in ("contract", "queue", "measure") else "right",
                         no_wrap=True)
    credits = {tuple(r[:4]): r[4] for r in rows(
        "SELECT contract_id, objective, queue, measure, max(credit_percent) FROM contact_credits_monthly"
        " GROUP BY contract_id, objective, queue, measure")}
    for contract, objective, queue, measure, num, den, target, met, judged in rows(
        "SELECT contract_id, objective, queue, measure, sum(num), sum(den), any(target), countIf(met), count()"
        " FROM contact_objective_intervals FINAL GROUP BY contract_id, objective, queue, measure ORDER BY 1, 2, 3, 4"
    ):
        credit = credits.get((contract, objective, queue, measure)) or 0.0
        day, goal = ((f"{num / den:.1f} s", f"{target:.1f} s") if measure == "asa"
                     else (_percent(num / den), _percent(target, 0)))
        table.add_row(contract, queue, _MEASURES[measure], day, goal, f"{met}/{judged}", f"{credit:g} %")
    console.print(table)
    breaches = dict(rows("SELECT type, count() FROM contact_events GROUP BY type"))
    worst = rows("SELECT toStartOfHour(interval_start) AS hour, count() FROM contact_events WHERE type = 'breached'"
                 " GROUP BY hour ORDER BY 2 DESC, hour LIMIT 1")
    console.print("Contact objective alerts that hold (view contact_events): "
                  + (", ".join(f"{t} {n:,}" for t, n in sorted(breaches.items())) or "none")
                  + "".join(f"; the most breaches in the hour from {hour:%H:%M} UTC ({n}): the day's bad hour"
                            for hour, n in worst) + ".")


_MEASURES = {"service_level": "service level", "asa": "ASA", "abandonment": "abandoned"}


def _percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"

