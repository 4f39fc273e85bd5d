"""Ingest benchmark: Kafka -> worker (validation, dead-letter) and Kafka -> sink -> ClickHouse
events_raw, beside raw consume baselines.

Prints events/s of the worker (no policy) and of the sink, each alone on the same
messages, the raw confluent-kafka consume rate in the same run, the in-process
validation rate, and each process's peak RSS. Needs a broker: KAFKA_BOOTSTRAP_SERVERS (make bench starts one).

    python bench/ingest.py [--events 150000] [--partitions 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import isolated_run  # noqa: E402
from sinks.kafka_sink import sink_group  # noqa: E402
from streams.kafka_util import lag  # noqa: E402
from streams.produce import produce  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.validate import validate  # noqa: E402
from streams.workerproc import WorkerProcess, peak_rss_mib  # noqa: E402


def raw_consume(settings: Settings, total: int) -> tuple[float, list[tuple[str, bytes]]]:
    """Seconds to consume `total` records with a bare confluent-kafka consumer."""
    kinds = {topic: kind for kind, topic in settings.input_topics.items()}
    consumer = Consumer({
        **settings.kafka_client_config(), "group.id": f"bench-raw-{uuid.uuid4()}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.subscribe(list(kinds))
    seen: list[tuple[str, bytes]] = []
    started = None
    while len(seen) < total:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error():
                continue
            started = started or time.perf_counter()
            seen.append((kinds[msg.topic()], msg.value()))
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed, seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    env, settings, tmp = isolated_run("bench", args.partitions, STORE="memory://")
    name = settings.app_id

    t0 = time.perf_counter()
    produce(settings, rate=args.events / 10, duration=10, time_scale=30, paced=False, progress=False)
    produce_s = time.perf_counter() - t0
    total = args.events

    raw_s, records = raw_consume(settings, total)
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    for kind, value in records:
        validate(kind, value, now)
    validate_s = time.perf_counter() - t0

    topics = list(settings.input_topics.values())
    figures = {}
    for command, group in (("worker", name), ("sink", sink_group(settings))):
        process = WorkerProcess(env, tmp / f"{command}.log", command=command).start()
        try:
            t0 = time.perf_counter()
            process.wait_until(lambda: lag(settings, group, topics) < total, 120, "first commit")
            t_first = time.perf_counter()
            lag_first = lag(settings, group, topics)
            process.wait_until(lambda: lag(settings, group, topics) == 0, 900, "input drained")
            t_done = time.perf_counter()
            figures[command] = (total / (t_done - t0), lag_first / (t_done - t_first), t_first - t0,
                                peak_rss_mib(process.pid))
        finally:
            process.stop()

    table = Table(title=f"ingest, {total} events, {args.partitions} partitions per topic, one process each")
    table.add_column("what")
    table.add_column("events/s", justify="right")
    table.add_column("note")
    table.add_row("produce (confluent-kafka, acks=all)", f"{total / produce_s:,.0f}", "synthetic mix")
    table.add_row("baseline: raw consume (confluent-kafka)", f"{total / raw_s:,.0f}", "same messages, same run")
    table.add_row("baseline: validate() in-process", f"{total / validate_s:,.0f}", "orjson + pydantic, no I/O")
    for command, what in (("worker", "Kafka -> validate (-> dead-letter)"), ("sink", "Kafka -> events_raw")):
        whole, steady, startup, rss = figures[command]
        table.add_row(f"{command}: {what}", f"{whole:,.0f}", f"incl. start-up and group join ({startup:.1f} s)")
        table.add_row(f"{command}: steady state", f"{steady:,.0f}", f"first commit to drained; peak RSS {rss:,.0f} MiB")
    console.print(table)
    console.print(f"data: {tmp}")


if __name__ == "__main__":
    main()
