"""Probe SLO benchmark: 1,000 services, one probe result every 10 s each.

Engine (in process, one core): results in event-time order through ProbeTracker with a
dict as its table, a tick every simulated second; each service starts with error series
at their 30-day bound, so the figures are those of a worker that has run for a month.
Prints events/s beside the parse + validate rate of the same JSON (baseline), the state
per service and in total, and peak RSS.

Live (with --live N): N results sent to Kafka, then one worker (6 partitions, the worker's default) counts
them, closes their minutes and publishes them; prints its events/s, CPU seconds per 1,000
events and peak RSS beside a bare Faust agent's and the raw confluent-kafka consume rate
of the same messages, measured in the same run.

    python bench/probes.py [--minutes 30] [--services 1000] [--live 60000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_PARTITIONS, bare_faust, isolated_run, measure, processes, raw_consume, start_all  # noqa: E402
from schemas.events import ProbeEvent  # noqa: E402
from schemas.policy import parse_policy  # noqa: E402
from streams.engine.service_slo import ServiceEntry  # noqa: E402
from streams.engine.slo import ErrorSeries, epoch_minute  # noqa: E402
from streams.engine.slo_plan import SloPlan  # noqa: E402
from streams.kafka_util import topic_size  # noqa: E402
from streams.tools.produce import OrderedSends, wait_for_topics  # noqa: E402
from streams.tools.workerproc import peak_rss_mib  # noqa: E402
from streams.worker.probe_tracking import ProbeTracker  # noqa: E402

POLICY = """
contracts:
  - id: bench
    customer: acme
    services: ["*"]
    probes:
      availability: {objective: 0.999}
      latency: {threshold_ms: 300, objective: 0.99}
"""
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def results(services: int, minutes: int) -> list[bytes]:
    """One result per service every 10 s, in event-time order; 1 in 500 fails, 1 in 50 is slow."""
    out = []
    for step in range(minutes * 6):
        at = (START + timedelta(seconds=10 * step)).isoformat()
        for s in range(services):
            n = step * services + s
            out.append(orjson.dumps({
                "kind": "probe", "event_id": f"s{s}-{step}", "occurred_at": at, "source": "bench", "probe_id": "p",
                "service": f"svc-{s}", "region": "eu", "ok": n % 500 != 0, "latency_ms": 900.0 if n % 50 == 0 else 80.0,
                "status_code": 200,
            }))
    return out


def seeded_table(plan: SloPlan, services: int) -> dict[bytes, bytes]:
    """Every service with 30 days of history: its series at their bound (6 h of minutes, 31 d of hours)."""
    now = epoch_minute(START)
    table = {}
    for s in range(services):
        series = {}
        for o in plan.objectives(f"svc-{s}"):
            series[o.key] = ErrorSeries(timedelta(hours=6), plan.horizon)
            for m in range(now - 360, now):
                series[o.key].minutes.add(m, 6, 0)
            for h in range(now // 60 - 31 * 24, now // 60):
                series[o.key].hours.add(h, 360, 0)
        table[f"svc-{s}".encode()] = ServiceEntry(0, now, -1, now, series).dump()
    return table


def engine(services: int, minutes: int) -> dict[str, str]:
    plan = SloPlan(parse_policy(POLICY))
    raw = results(services, minutes)
    t0 = time.process_time()
    events = [ProbeEvent.model_validate_json(r) for r in raw]
    baseline = len(raw) / (time.process_time() - t0)

    table = seeded_table(plan, services)
    published = 0

    async def publish(m, a, s) -> None:
        nonlocal published
        published += len(m) + len(a) + len(s)

    async def ack() -> None:
        return None

    wall = [START]
    tracker = ProbeTracker(plan, table, publish, lambda: wall[0], stored=ack)  # in-process: nothing to wait for
    before = peak_rss_mib(os.getpid(), "VmRSS")
    asyncio.run(tracker.on_tick(0, True))  # takes the partition over: every entry parsed into memory
    in_memory = peak_rss_mib(os.getpid(), "VmRSS") - before

    async def run() -> None:
        for i, event in enumerate(events):
            tracker.on_event(event, 0, i, ack)
            if i % services == services - 1:  # a tick per simulated 10 s of results
                wall[0] = event.occurred_at
                await tracker.on_tick(0, True)

    t0 = time.process_time()
    asyncio.run(run())
    rate = len(events) / (time.process_time() - t0)
    state = tracker.state_bytes()
    return {
        f"baseline: parse + validate {len(raw):,} results (pydantic), events/s": f"{baseline:,.0f}",
        f"engine: count, close minutes, series, alerts ({services:,} services, {minutes} min), events/s": f"{rate:,.0f}",
        "outputs published (minute records, alerts, statuses)": f"{published:,}",
        "state per service at the 30-day bound (bytes)": f"{state / services:,.0f}",
        "state for all services, serialised (MiB)": f"{state / 2**20:,.1f}",
        "state for all services, parsed in the worker's memory (MiB, RSS growth)": f"{in_memory:,.0f}",
        "bench process peak RSS (MiB)": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}",
    }


def live(services: int, n: int, workers: int, partitions: int) -> dict[str, str]:
    """N results sent first, then a bare Faust agent and the worker each read them all; the
    worker's figure ends when every result is acknowledged (its minute closed and published;
    the last ones 2 s after the input ends, when the idle partitions follow the wall clock)."""
    env, settings, tmp = isolated_run("pb", partitions, policy=POLICY, PROBE_IDLE_S="2")
    raw = results(services, -(-n // (services * 6)))[:n]
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 5, "max.in.flight.requests.per.connection": 1})
    wait_for_topics(producer, settings.input_topics.values())
    sends = OrderedSends(producer)
    for value in raw:
        sends.send(settings.topic_probes, orjson.loads(value)["service"].encode(), value)
    producer.flush(60)
    topics = [settings.topic_probes]
    bare = bare_faust(env, settings, topics, n, tmp)
    group = processes(env, tmp, "worker", workers)
    worker = measure(lambda: start_all(group), settings, settings.probe_group, topics, n)
    rows = {"baseline: raw consume (confluent-kafka), events/s": f"{n / raw_consume(settings, topics[:1], n)[0]:,.0f}"}
    for what, m in (("baseline: bare Faust agent", bare), (f"{workers} worker(s)", worker)):
        rows[f"{what}: events/s (steady after the first commit)"] = f"{m.rate:,.0f} ({m.steady:,.0f})"
        rows[f"{what}: CPU s per 1,000 events / peak RSS MiB"] = f"{m.cpu_s / n * 1000:.3f} / {m.peak_mib:,.0f}"
        rows[f"{what}: cores busy, with the broker's share"] = m.cores()
    rows["worker restarts (stopped themselves to resume from the committed offsets)"] = f"{worker.restarts}"
    rows["minute records published"] = f"{topic_size(settings, settings.topic_minutes):,}"
    rows["status records published"] = f"{topic_size(settings, settings.topic_slo_status):,}"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=30, help="event time simulated by the engine run")
    parser.add_argument("--live", type=int, default=0, help="also send this many results through Kafka")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in one group for --live")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="per topic, for --live")
    args = parser.parse_args()
    rows = engine(args.services, args.minutes)
    if args.live:
        rows |= live(args.services, args.live, args.workers, args.partitions)
    table = Table(title=f"probe SLOs: {args.services:,} services, one result every 10 s each")
    table.add_column("what")
    table.add_column("value", justify="right")
    for what, value in rows.items():
        table.add_row(what, value)
    Console().print(table)


if __name__ == "__main__":
    main()
