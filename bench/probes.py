"""Probe SLO benchmark: 1,000 services, one probe result every 10 s each.

Engine (in process, one core): results in event-time order through ProbeTracker with a
dict as its table, a tick every simulated second; each service starts with error series
at their 30-day bound, so the figures are those of a worker that has run for a month.
Prints events/s beside the parse + validate rate of the same JSON (baseline), the state
per service and in total, and peak RSS.

Live (with --live N): N results sent to Kafka, then the pipeline: one worker (6 partitions,
the worker's default) counts them, closes their minutes and publishes them; then the sink
stores inputs and outputs in embedded chDB. Prints results/s, CPU seconds per 1,000 results
and peak RSS of each, the pipeline's CPU per result as a share of a bare Faust agent's CPU
per record, and the sink's rows/s as a share of the raw consume + JSON decode rate; both
baselines read the same results as single-result records, in the same run. A second,
smaller run (N/5, everything again) gives the marginal CPU per result of each process:
what a result costs once the process has started. With --batch K the pipeline reads them
K to a record (a probe batch).

    python bench/probes.py [--minutes 30] [--services 1000] [--live 200000] [--batch 100]
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
from typing import NamedTuple

import orjson
from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_PARTITIONS, Measured, bare_faust, isolated_run, measure, processes, raw_consume, start_all  # noqa: E402
from schemas.events import ProbeEvent  # noqa: E402
from schemas.policy import parse_policy  # noqa: E402
from streams.engine.service_slo import ServiceEntry  # noqa: E402
from streams.engine.slo import ErrorSeries, epoch_minute  # noqa: E402
from streams.engine.slo_plan import SloPlan  # noqa: E402
from sinks.kafka_sink import sink_topics  # noqa: E402
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


def results(services: int, minutes: int, per_service: int = 1) -> list[bytes]:
    """Every 10 s, `per_service` results per service (one per probe), in event-time order;
    1 in 500 fails, 1 in 50 is slow."""
    out = []
    for step in range(minutes * 6):
        at = (START + timedelta(seconds=10 * step)).isoformat()
        for s in range(services):
            for probe in range(per_service):
                n = (step * services + s) * per_service + probe
                out.append(orjson.dumps({
                    "kind": "probe", "event_id": f"s{s}-{step}-{probe}", "occurred_at": at, "source": "bench",
                    "probe_id": f"p{probe}", "service": f"svc-{s}", "region": "eu", "ok": n % 500 != 0,
                    "latency_ms": 900.0 if n % 50 == 0 else 80.0, "status_code": 200,
                }))
    return out


def batched(values: list[bytes], size: int) -> list[bytes]:
    """Consecutive results of one service, `size` to a record (a JSON array)."""
    out: list[bytes] = []
    run: list[bytes] = []
    for value in values:
        if run and (len(run) == size or orjson.loads(run[0])["service"] != orjson.loads(value)["service"]):
            out.append(b"[" + b",".join(run) + b"]")
            run = []
        run.append(value)
    return out + [b"[" + b",".join(run) + b"]"] if run else out


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

    async def stored() -> None:
        return None  # in-process: nothing to wait for

    wall = [START]
    tracker = ProbeTracker(plan, table, publish, lambda: wall[0], stored=stored)
    before = peak_rss_mib(os.getpid(), "VmRSS")
    asyncio.run(tracker.on_tick(0, True))  # takes the partition over: every entry parsed into memory
    in_memory = peak_rss_mib(os.getpid(), "VmRSS") - before

    async def run() -> None:
        for i, event in enumerate(events):
            tracker.on_event(event, 0, i)
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


class Pipeline(NamedTuple):
    """One live run: both baselines and the pipeline's processes over the same results."""

    results: int
    raw_s: float  # seconds of the raw consume + decode
    bare: Measured
    worker: Measured
    sink: Measured
    rows: int  # rows the sink stored
    minutes: int
    statuses: int
    records: int
    services: int
    per_service: int


def run_live(services: int, n: int, workers: int, partitions: int, batch: int) -> Pipeline:
    """N results through the whole pipeline: the worker(s) count them (the probe feed), close
    their minutes and publish them; then the sink stores inputs and outputs in chDB. Each is
    timed by its group's commits; the worker's figure ends when every result is acknowledged
    (the last ones 2 s after the input ends, when the idle partitions follow the wall clock).

    Baselines, on the same results as single-result records, in the same run: raw
    confluent-kafka consume with JSON decoding, and a bare Faust agent. With `batch` > 1 the
    pipeline reads the same results `batch` to a record (services get `batch` probes each)."""
    per_service = max(batch, 1)
    services = max(services // per_service, 1)
    env, settings, tmp = isolated_run("pb", partitions, policy=POLICY, PROBE_IDLE_S="2")
    base_env, base, base_tmp = isolated_run("pbs", partitions) if batch > 1 else (env, settings, tmp)
    singles = results(services, -(-n // (services * per_service * 6)), per_service)[:n]
    records = batched(singles, batch) if batch > 1 else singles
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 5, "max.in.flight.requests.per.connection": 1})
    wait_for_topics(producer, [settings.topic_probes, base.topic_probes])
    sends = OrderedSends(producer)
    for value in records:
        sends.send(settings.topic_probes, _service(value), value)
    if batch > 1:
        for value in singles:
            sends.send(base.topic_probes, orjson.loads(value)["service"].encode(), value)
    producer.flush(60)
    raw_s, _ = raw_consume(base, [base.topic_probes], n, decode=True)
    bare = bare_faust(base_env, base, [base.topic_probes], n, base_tmp)
    group = processes(env, tmp, "worker", workers)
    worker = measure(lambda: start_all(group), settings, settings.probe_group, [settings.topic_probes], len(records))
    stored = sink_topics(settings)
    sink_records = sum(topic_size(settings, t) for t in stored)
    sink = measure(lambda: start_all(processes(env, tmp, "sink", 1)), settings, settings.sink_group, stored,
                   sink_records)
    minutes, statuses = topic_size(settings, settings.topic_minutes), topic_size(settings, settings.topic_slo_status)
    rows = n + 2 * minutes + statuses + topic_size(settings, settings.topic_breaches)  # a minute: probe_ and slo_minutes
    return Pipeline(n, raw_s, bare, worker, sink, rows, minutes, statuses, len(records), services, per_service)


def live(services: int, n: int, workers: int, partitions: int, batch: int) -> dict[str, str]:
    """The figures of a run of N results, and the marginal CPU per result from it and a run of N/5."""
    run = run_live(services, n, workers, partitions, batch)
    small = run_live(services, n // 5, workers, partitions, batch)
    raw_rate = n / run.raw_s
    rows_s = run.rows / run.sink.wall_s
    out = {
        f"records: {run.records:,} holding {n:,} results ({run.services:,} services, {run.per_service} probe(s) "
        "each)": "",
        "baseline: raw consume + JSON decode (confluent-kafka, orjson), records/s": f"{raw_rate:,.0f}",
    }
    for what, m in (("baseline: bare Faust agent", run.bare), (f"{workers} worker(s)", run.worker),
                    ("sink (all inputs and outputs into chDB)", run.sink)):
        out[f"{what}: results/s (records/s after the first commit)"] = f"{n / m.wall_s:,.0f} ({m.steady:,.0f})"
        out[f"{what}: CPU ms per result / peak RSS MiB (of it anonymous)"] = (
            f"{m.cpu_s / n * 1000:.4f} / {m.peak_mib:,.0f} ({m.anon_mib:,.0f})")
        out[f"{what}: cores busy, with the broker's share"] = m.cores()
    per_result = (run.worker.cpu_s + run.sink.cpu_s) / n
    out["pipeline (worker + sink): CPU ms per result, % of bare Faust's per record"] = (
        f"{per_result * 1000:.4f}, {per_result / (run.bare.cpu_s / n):.1%}")
    # Start-up (imports, joining the group, opening chDB, migrations) is a cost per process,
    # not per result: the difference between the two runs divided by the results between them is.
    extra = n - small.results
    marginal = {what: (getattr(run, what).cpu_s - getattr(small, what).cpu_s) / extra
                for what in ("bare", "worker", "sink")}
    out[f"marginal CPU ms per result (runs of {n:,} and {small.results:,}): bare Faust / worker / sink"] = (
        f"{marginal['bare'] * 1000:.4f} / {marginal['worker'] * 1000:.4f} / {marginal['sink'] * 1000:.4f}")
    out["pipeline marginal, % of bare Faust's marginal"] = (
        f"{(marginal['worker'] + marginal['sink']) / marginal['bare']:.1%}")
    out["sink: rows/s into chDB, % of raw consume + decode"] = f"{rows_s:,.0f}, {rows_s / raw_rate:.1%}"
    out["worker restarts (stopped themselves to resume from the committed offsets)"] = (
        f"{run.worker.restarts + small.worker.restarts}")
    out["minute records published / status records"] = f"{run.minutes:,} / {run.statuses:,}"
    return out


def _service(value: bytes) -> bytes:
    """The Kafka key of a result or a batch: its service."""
    obj = orjson.loads(value)
    return (obj[0] if isinstance(obj, list) else obj)["service"].encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=30, help="event time simulated by the engine run")
    parser.add_argument("--live", type=int, default=0, help="also send this many results through Kafka")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in one group for --live")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="per topic, for --live")
    parser.add_argument("--batch", type=int, default=1, help="results per record for --live (a probe batch)")
    args = parser.parse_args()
    rows = engine(args.services, args.minutes)
    if args.live:
        rows |= live(args.services, args.live, args.workers, args.partitions, args.batch)
    table = Table(title=f"probe SLOs: {args.services:,} services, one result every 10 s each")
    table.add_column("what")
    table.add_column("value", justify="right")
    for what, value in rows.items():
        table.add_row(what, value)
    Console().print(table)


if __name__ == "__main__":
    main()
