"""Ingest benchmark: Kafka -> worker (validation, dead-letter) and Kafka -> sink -> ClickHouse
input_events, beside raw consume baselines.

Prints events/s of the worker (no policy) and of the sink, each alone on the same
messages, the raw confluent-kafka consume rate in the same run, the in-process
validation rate, and each process's peak RSS; then the worker again with its /metrics
served (the cost of the counters). Needs a broker: KAFKA_BOOTSTRAP_SERVERS (make bench starts one).

    python bench/ingest.py [--events 150000] [--partitions 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_PARTITIONS, bare_faust, isolated_run, measure, processes, raw_consume, start_all  # noqa: E402
from streams.metrics import ACKED, CONSUMED  # noqa: E402
from streams.tools.produce import produce  # noqa: E402
from streams.tools.workerproc import free_ports  # noqa: E402
from streams.validate import validate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--workers", type=int, default=1, help="worker processes in one group (one per core)")
    args = parser.parse_args()
    console = Console()
    env, settings, tmp = isolated_run("bench", args.partitions, STORE="memory://")
    name = settings.app_id

    t0 = time.perf_counter()
    produce(settings, rate=args.events / 10, duration=10, time_scale=30, paced=False, progress=False)
    produce_s = time.perf_counter() - t0
    total = args.events

    kinds = {topic: kind for kind, topic in settings.input_topics.items()}
    raw_s, records = raw_consume(settings, list(kinds), total)
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    for topic, value in records:
        validate(kinds[topic], value, now)
    validate_s = time.perf_counter() - t0

    topics = list(settings.input_topics.values())
    figures = {"baseline: bare Faust agent (only iterates)": bare_faust(env, settings, topics, total, tmp)}
    for command, group, what in (("worker", None, "Kafka -> validate (-> dead-letter)"),
                                 ("sink", settings.sink_group, "Kafka -> input_events")):
        group_of = processes(env, tmp, command, args.workers if command == "worker" else 1)
        figures[f"{command}: {what}"] = measure(lambda: start_all(group_of), settings, group, topics, total)
    # The same workers with /metrics served (a group of their own reads the same messages).
    ports = free_ports(args.workers)
    metered = [w for i, port in enumerate(ports) for w in processes(
        {**env, "APP_ID": f"{name}-metrics", "METRICS_PORT": str(port)}, tmp, "worker", 1, f"metered{i}-")]
    figures["worker: the same with metrics on (METRICS_PORT)"] = measure(
        lambda: start_all(metered), settings.model_copy(update={"app_id": f"{name}-metrics"}), None, topics, total)

    table = Table(title=f"ingest, {total} events, {args.partitions} partitions per topic, {args.workers} worker process(es), one sink")
    table.add_column("what")
    table.add_column("events/s", justify="right")
    table.add_column("note")
    table.add_column("CPU s / 1,000", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    table.add_column("cores busy (broker)", justify="right")
    table.add_row("produce (confluent-kafka, acks=all)", f"{total / produce_s:,.0f}", "synthetic mix")
    table.add_row("baseline: raw consume (confluent-kafka)", f"{total / raw_s:,.0f}", "same messages, same run")
    table.add_row("baseline: validate() in-process", f"{total / validate_s:,.0f}", "orjson + pydantic, no I/O")
    for what, m in figures.items():
        restarted = f"; {m.restarts} restart(s)" if m.restarts else ""
        table.add_row(what, f"{m.rate:,.0f}", f"steady {m.steady:,.0f}/s after the first commit ({m.first_commit_s:.1f} s)"
                      f"{restarted}",
                      f"{m.cpu_s / total * 1000:.3f}", f"{m.peak_mib:,.0f}", m.cores())
    console.print(table)
    # Counting happens with or without METRICS_PORT (only serving is optional): what the
    # worker does per record, timed in-process.
    acked = ACKED.labels("bench")
    t0 = time.process_time()
    for _ in range(100_000):
        CONSUMED.labels("bench").inc()
        acked.inc()
    per_record_us = (time.process_time() - t0) / 100_000 * 1e6
    worker_cpu_us = figures["worker: Kafka -> validate (-> dead-letter)"].cpu_s / total * 1e6
    console.print(f"metric counting per input record: {per_record_us:.1f} µs CPU, "
                  f"{per_record_us / worker_cpu_us:.1%} of the worker's {worker_cpu_us:,.0f} µs")
    console.print(f"data: {tmp}")


if __name__ == "__main__":
    main()
