"""`slastream demo`: the whole pipeline once, on the local broker and embedded ClickHouse."""

from __future__ import annotations

import collections
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from sinks.clickhouse import connect
from streams.kafka_util import lag, read_all
from streams.produce import produce
from streams.settings import Settings, topic_env
from streams.topics import create_topics
from streams.workerproc import WorkerProcess

DEMO_DIR = Path("var/demo")
DEMO_POLICY = Path(__file__).resolve().parents[1] / "examples" / "demo-policy.yaml"


def run_demo(seconds: float, rate: float, time_scale: float) -> int:
    """Create topics, run a worker, produce synthetic traffic with bad records, report."""
    console = Console()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    run = f"demo{int(time.time())}"
    env = {
        "APP_ID": run,
        "DATA_DIR": str((DEMO_DIR / "worker").resolve()),
        "CLICKHOUSE_DSN": f"chdb://{(DEMO_DIR / 'chdb').resolve()}",
        "WEB_ENABLED": "false",
        "SLA_POLICY_FILE": str(DEMO_POLICY),
        "PROBE_IDLE_S": "3",  # the last probe minutes close soon after the traffic stops
        **topic_env(f"{run}.sla"),
    }
    os.environ.update(env)
    settings = Settings()
    console.rule("topics")
    for name, state in create_topics(settings).items():
        console.print(f"{name}: {state}")
    console.rule("worker")
    worker = WorkerProcess(env, DEMO_DIR / "worker.log").start()
    try:
        console.print(f"worker pid {worker.pid}, log {worker.log_path}")
        console.rule(f"producing {seconds:g} s at {rate:g}/s, event time x{time_scale:g}")
        # Event time ends two minutes ago, so the last probe minutes can close right after the traffic.
        report = produce(settings, rate=rate, duration=seconds, time_scale=time_scale, bad=True,
                         ends_ago=timedelta(minutes=2))
        console.print(f"{report.events} events spanning {report.last_event_time - report.first_event_time}, {report.bad} bad records")
        started = time.monotonic()
        worker.wait_drained(settings)
        console.print(f"worker drained the topics {time.monotonic() - started:.1f} s after the last send")
        outputs = [settings.topic_breaches, settings.topic_instances, settings.topic_minutes, settings.topic_slo_status]
        worker.wait_until(lambda: lag(settings, settings.app_id, outputs) == 0, 60, "SLA and SLO outputs stored")
    finally:
        worker.stop()
    _report(console, settings)
    return 0


def _report(console: Console, settings: Settings) -> None:
    client = connect(settings.clickhouse_dsn)
    try:
        table = Table(title="ClickHouse")
        for column in ("table", "rows", "detail"):
            table.add_column(column)
        tables = [r[0] for r in client.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View' ORDER BY name").result_rows]
        for name in tables:
            rows = client.command(f"SELECT count() FROM {name} FINAL" if name == "events_raw" else f"SELECT count() FROM {name}")
            detail = ""
            if name == "events_raw":
                kinds = client.query("SELECT kind, count() FROM events GROUP BY kind ORDER BY kind").result_rows
                detail = ", ".join(f"{k}: {n}" for k, n in kinds)
            elif name == "breaches":
                types = client.query("SELECT type, count() FROM sla_events GROUP BY type ORDER BY type").result_rows
                detail = ", ".join(f"{k}: {n}" for k, n in types)
            elif name == "sla_instances":
                states = client.query(
                    "SELECT state, countIf(breached), count() FROM sla_instances_current GROUP BY state ORDER BY state"
                ).result_rows
                detail = ", ".join(f"{s}: {n} ({b} breached)" for s, b, n in states)
            elif name == "slo_alerts":
                alerts = client.query("SELECT alert, type, count() FROM slo_alerts FINAL GROUP BY alert, type ORDER BY alert, type").result_rows
                detail = ", ".join(f"{a} {t}: {n}" for a, t, n in alerts)
            table.add_row(name, str(rows), detail)
        console.print(table)
        monthly = Table(title="slo_attainment_monthly + service_credits_monthly")
        for column in ("contract / service", "month", "results", "avail.", "latency", "budget used", "credit %"):
            monthly.add_column(column)
        for row in client.query(
            "SELECT a.contract_id, a.service, a.month, a.total, a.availability, a.latency_attainment,"
            " a.availability_budget_used, c.credit_percent FROM slo_attainment_monthly AS a"
            " JOIN service_credits_monthly AS c USING (contract_id, service, month) ORDER BY a.service, a.month"
        ).result_rows:
            contract, service, month, total, availability, latency, used, credit = row
            monthly.add_row(f"{contract} / {service}", f"{month:%Y-%m}", str(total), f"{availability:.4f}",
                            f"{latency:.4f}", f"{used:.2f}", f"{credit:g}")
        console.print(monthly)
    finally:
        client.close()
    breaches = collections.Counter(orjson.loads(m.value() or b"{}")["type"] for m in read_all(settings, settings.topic_breaches))
    console.print(f"breach topic {settings.topic_breaches}: " + ", ".join(f"{t}: {n}" for t, n in sorted(breaches.items())))
    reasons = collections.Counter(orjson.loads(m.value() or b"{}")["reason"] for m in read_all(settings, settings.topic_deadletter))
    dead = Table(title=f"dead-letter topic {settings.topic_deadletter}")
    dead.add_column("reason")
    dead.add_column("records")
    for reason, n in sorted(reasons.items()):
        dead.add_row(reason, str(n))
    console.print(dead)
