"""Live SLA benchmark: Kafka -> worker(s) (engine, tables, ticks) -> breach topic.

Phase 1 (throughput): a burst of ticket updates waits in Kafka; the raw confluent-kafka
consume rate, a bare Faust agent that only iterates and the worker(s) each read all of it
(same messages, same run): events/s, CPU seconds per 1,000 events, peak RSS. With
--workers N > 1, one worker alone (a group of its own) reads the burst first, for the ratio.
Phase 2 (latency): ticket lifecycles at steady rates in real time, each a fraction of the
worker's burst rate just measured (--fractions) or fixed (--rates, events/s); for every `breached` record the delay from
its deadline (`at`) to the record's broker timestamp (p50, p99, p99.9), beside the tick
interval, the floor of that delay. Peak RSS of the worker.

    python bench/tickets.py [--burst 30000] [--fractions 0.2,0.4,0.6 | --rates 1300] [--seconds 30] [--workers 1] [--partitions 6]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import orjson
from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_PARTITIONS, bare_faust, isolated_run, measure, processes, raw_consume, start_all  # noqa: E402
from streams.engine import build  # noqa: E402
from streams.kafka_util import group_assignments, read_all  # noqa: E402
from streams.tools.produce import OrderedSends, wait_for_topics  # noqa: E402
from streams.tools.workerproc import cpu_seconds, peak_rss_mib  # noqa: E402

POLICY = """
contracts:
  - id: bench
    customer: acme
    services: ["*"]
    tickets:
      warn_at: [0.5]
      targets:
        P1: {response: 3s, resolution: 10s}
        P2: {response: 6s, resolution: 20s}
"""
LONGEST_TARGET_S = 20  # P2 resolution above


def ticket(tid: str, n: int, status: str, reply: bool, prio: str) -> bytes:
    return orjson.dumps({
        "event_id": f"{tid}-{n}", "occurred_at": datetime.now(timezone.utc).isoformat(), "source": "bench",
        "ticket_id": tid, "customer": "acme", "service": "checkout", "priority": prio,
        "status": status, "public_reply": reply,
    })


def burst(sends: OrderedSends, topic: str, n: int) -> None:
    for i in range(n):
        tid = f"B{i // 5}"
        sends.send(topic, tid.encode(), ticket(tid, i % 5, ["new", "open", "pending", "open", "solved"][i % 5], i % 5 == 1, "P2"))
    sends.producer.flush(60)


EVENTS_PER_TICKET = 1.6  # of the paced load: a new ticket, and a reply for 60 % of them


@dataclass
class Paced:
    """One paced load and what it measured."""

    fraction: float  # of the worker's burst rate
    rate: float  # events/s
    sent: int
    busy: float  # worker cores busy while it was sent
    timed: list[tuple[float, float]] = field(default_factory=list)  # (deadline, delay) of each breach


def paced(sends: OrderedSends, topic: str, rate: float, seconds: float, rng: random.Random,
          tend: Callable[[], None], prefix: str) -> int:
    """New tickets at `rate`/s; 60% get a reply 1-5 s later (the rest breach), none is solved.
    `tend()` is called between sends (the workers' supervisor)."""
    pending: list[tuple[float, str, str]] = []
    start, sent, created = time.monotonic(), 0, 0
    while time.monotonic() - start < seconds or pending:
        now = time.monotonic() - start
        while created < rate * min(now, seconds):
            tid = f"{prefix}{created}"
            sends.send(topic, tid.encode(), ticket(tid, 0, "new", False, rng.choice(["P1", "P2"])))
            if rng.random() < 0.6:
                heapq.heappush(pending, (now + rng.uniform(1, 5), tid, "open"))
            created += 1
            sent += 1
        while pending and pending[0][0] <= now:
            _, tid, status = heapq.heappop(pending)
            sends.send(topic, tid.encode(), ticket(tid, 1, status, True, "P1"))
            sent += 1
        sends.producer.poll(0)
        tend()
        time.sleep(0.005)
    sends.producer.flush(60)
    return sent


def percentiles(values: list[float]) -> str:
    """p50 / p99 / p99.9 of `values`."""
    q = statistics.quantiles(values, n=1000) if len(values) >= 2 else [float("nan")] * 999
    return f"{q[499]:.2f} / {q[989]:.2f} / {q[998]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=30_000)
    parser.add_argument("--fractions", default="0.2,0.4,0.6",
                        help="paced loads, each a fraction of the worker's burst rate (events/s)")
    parser.add_argument("--rates", default="",
                        help="paced loads in events/s instead of --fractions (the same loads in A/B runs)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=1, help="worker processes in one group (one per core)")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="per topic; a multiple of --workers splits evenly")
    args = parser.parse_args()
    env, settings, tmp = isolated_run("tb", args.partitions, policy=POLICY)
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 5, "max.in.flight.requests.per.connection": 1})
    wait_for_topics(producer, settings.input_topics.values())
    sends = OrderedSends(producer)
    topics = [settings.topic_tickets]

    # The burst waits in Kafka; then each consumer reads all of it (deadlines pass meanwhile,
    # so the workers publish warnings and breaches too).
    burst(sends, settings.topic_tickets, args.burst)
    raw_rate = args.burst / raw_consume(settings, topics, args.burst)[0]
    bare = bare_faust(env, settings, topics, args.burst, tmp)
    one = None
    if args.workers > 1:  # the scaling baseline: one worker (a group of its own) on the same burst
        alone = {**env, "APP_ID": f"{settings.app_id}-one"}
        one = measure(lambda: start_all(processes(alone, tmp, "worker", 1, label="alone")), settings,
                      alone["APP_ID"], topics, args.burst)
    workers = processes(env, tmp, "worker", args.workers)
    measured = measure(lambda: start_all(workers), settings, None, topics, args.burst)

    workers = processes(env, tmp, "worker", args.workers)  # the same group goes on with live traffic
    start_all(workers)

    def tend() -> None:
        for w in workers:
            if not w.keep_alive():
                raise RuntimeError(f"a worker exited for good; see {w.log_path}")

    # events/s of each paced load; fixed rates make alternating runs of two versions comparable
    # (a fraction follows each run's own burst rate, which varies from run to run)
    rates = ([float(r) for r in args.rates.split(",")] if args.rates
             else [float(f) * measured.rate for f in args.fractions.split(",")])
    runs: list[Paced] = []
    try:
        workers[0].wait_until(lambda: len(group_assignments(settings, settings.app_id)) == args.workers, 60,
                              "workers joined")
        for n, rate in enumerate(rates):
            cpu0 = sum(cpu_seconds(w.pid) for w in workers)
            sent = paced(sends, settings.topic_tickets, rate / EVENTS_PER_TICKET, args.seconds, random.Random(3),
                         tend, prefix=f"L{n}-")
            busy = (sum(cpu_seconds(w.pid) for w in workers) - cpu0) / args.seconds
            for _ in range(50):  # the last resolution deadlines (20 s) pass and fire
                tend()
                time.sleep(0.5)
            runs.append(Paced(rate / measured.rate, rate, sent, busy))
        for msg in read_all(settings, settings.topic_breaches):
            record = orjson.loads(msg.value() or b"{}")
            if record["type"] == "breached" and record["entity_id"].startswith("L"):
                at = datetime.fromisoformat(record["at"]).timestamp()
                runs[int(record["entity_id"][1:].partition("-")[0])].timed.append((at, msg.timestamp()[1] / 1000 - at))
        rss = max(peak_rss_mib(w.pid) for w in workers)
        paced_restarts = sum(w.restarts for w in workers)
    finally:
        for w in workers:
            w.stop()

    table = Table(title=f"live SLA tracking, {args.workers} worker process(es), {args.partitions} partitions, "
                        f"engine {build()}")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("baseline: raw consume (confluent-kafka), events/s", f"{raw_rate:,.0f}")
    rows = [("baseline: bare Faust agent", bare), *([("one worker alone", one)] if one else []), ("worker(s)", measured)]
    for what, m in rows:
        table.add_row(f"{what}: burst of {args.burst:,} ticket updates, events/s (steady after the first commit)",
                      f"{m.rate:,.0f} ({m.steady:,.0f})")
        table.add_row(f"{what}: CPU s per 1,000 events / peak RSS MiB", f"{m.cpu_s / args.burst * 1000:.3f} / {m.peak_mib:,.0f}")
        table.add_row(f"{what}: cores busy, with the broker's share", m.cores())
    table.add_row("worker(s) against the bare Faust agent: events/s", f"{measured.rate / bare.rate:.0%}")
    if one is not None:
        table.add_row(f"{args.workers} workers against one alone: events/s (steady)",
                      f"{measured.rate / one.rate:.2f}x ({measured.steady / one.steady:.2f}x)")
    table.add_row("worker restarts (stopped themselves to resume from the committed offsets): burst / paced",
                  f"{measured.restarts} / {paced_restarts}")
    for run in runs:
        run.timed.sort()
        # From the longest target on, every deadline kind of the load fires at once besides the
        # new tickets: the load's peak (docs/architecture.md, "Throughput").
        first = run.timed[0][0] if run.timed else 0.0
        peak = [d for at, d in run.timed if first + LONGEST_TARGET_S <= at <= first + args.seconds]
        table.add_row(f"paced at {run.fraction:.0%} of the worker's burst rate: {run.sent:,} events at "
                      f"~{run.rate:,.0f}/s; breaches", f"{len(run.timed):,}")
        table.add_row("  worker cores busy while the load was sent", f"{run.busy:.2f}")
        table.add_row("  deadline -> breach record delay p50 / p99 / p99.9 (s)", percentiles([d for _, d in run.timed]))
        table.add_row("  the same at the peak (every deadline kind fires, input still coming)", percentiles(peak))
    table.add_row("reference: tick interval (s)", f"{settings.tick_interval_s}")
    table.add_row("worker peak RSS under paced load (MiB)", f"{rss:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
