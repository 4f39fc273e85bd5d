"""Contact benchmark: finished contacts of many queues, as a contact-centre platform sends them.

Engine (in process, one core): the contacts through the contact core (ContactIntervals),
closing every simulated minute, beside the parse + validate rate of the same JSON
(baseline), and peak RSS.

Live (with --live N): N contacts sent to Kafka, then one worker (6 partitions, the
worker's default) counts them, publishes their intervals and objective facts and writes its
state; timed by its group's commits. Prints contacts/s, CPU ms per contact and peak RSS
beside both baselines over the same records in the same run: the raw confluent-kafka
consume (with JSON decoding) and a bare Faust agent that only iterates.

    python bench/contacts.py [--queues 200] [--engine 200000] [--live 100000]
"""

from __future__ import annotations

import argparse
import random
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
from schemas.events import ContactEvent  # noqa: E402
from schemas.policy import parse_policy  # noqa: E402
from streams.engine.contacts import ContactIntervals  # noqa: E402
from streams.kafka_util import topic_size  # noqa: E402
from streams.tools.produce import OrderedSends, wait_for_topics  # noqa: E402

POLICY = """
contracts:
  - id: care
    customer: acme
    services: ["*"]
    contacts:
      objectives:
        - queue: "*"
          service_level: {target: 0.8, within: 20s}
          max_asa: 30s
          max_abandonment: 0.05
        - queue: "*"
          channel: chat
          max_asa: 60s
"""


def contacts(n: int, queues: int, start: datetime, seed: int = 7) -> list[bytes]:
    """`n` contact records over `queues` queues, one every few seconds per queue, in end-time order."""
    rng = random.Random(seed)
    out = []
    per_queue = -(-n // queues)
    for q in range(queues):
        at = start
        for i in range(per_queue):
            at += timedelta(seconds=rng.randint(5, 60))
            wait = timedelta(seconds=rng.choice([2, 5, 8, 12, 15, 25, 40]))
            record: dict[str, str | bool] = {"contact_id": f"q{q}-{i}", "source": "acd", "customer": "acme", "queue": f"queue-{q}",
                      "channel": rng.choice(["voice", "voice", "chat", "email"]), "queued_at": at.isoformat()}
            if rng.random() < 0.05:
                record |= {"abandoned_at": (at + wait).isoformat(), "ended_at": (at + wait).isoformat()}
            else:
                end = at + wait + timedelta(seconds=rng.randint(60, 600))
                record |= {"answered_at": (at + wait).isoformat(), "ended_at": end.isoformat(),
                           "first_contact_resolution": rng.random() < 0.7}
            out.append(record)
    out.sort(key=lambda r: r["ended_at"])
    return [orjson.dumps(r) for r in out[:n]]


def engine(n: int, queues: int) -> dict[str, str]:
    start = datetime.now(timezone.utc) - timedelta(days=2)
    raw = contacts(n, queues, start)
    t0 = time.process_time()
    events = [ContactEvent.model_validate_json(r) for r in raw]
    parse_rate = n / (time.process_time() - t0)
    core = ContactIntervals(parse_policy(POLICY), lateness=timedelta(minutes=15), idle=timedelta(minutes=2))
    published = alerts = 0
    wall = datetime.now(timezone.utc)
    t0 = time.process_time()
    minute = None
    for event in events:
        core.add(event, wall)
        if event.ended_at.minute != minute:  # a tick per simulated minute
            minute = event.ended_at.minute
            intervals, facts = core.close(wall, caught_up=False)
            published, alerts = published + len(intervals), alerts + len(facts)
    rate = n / (time.process_time() - t0)
    return {
        f"baseline: parse + validate {n:,} contacts (pydantic), contacts/s": f"{parse_rate:,.0f}",
        f"engine: count, publish intervals, judge objectives ({queues:,} queues), contacts/s": f"{rate:,.0f}",
        "engine, % of parse + validate": f"{rate / parse_rate:.0%}",
        "interval records / objective facts published": f"{published:,} / {alerts:,}",
        "bench process peak RSS (MiB)": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}",
    }


def live(n: int, queues: int, partitions: int) -> dict[str, str]:
    """N contacts through one worker, beside the raw consume and a bare Faust agent over the same records."""
    env, settings, tmp = isolated_run("cb", partitions, policy=POLICY, CONTACT_IDLE_S="2", CONTACT_LATENESS_S="60")
    raw = contacts(n, queues, datetime.now(timezone.utc) - timedelta(days=2))
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 5, "max.in.flight.requests.per.connection": 1})
    wait_for_topics(producer, [settings.topic_contacts])
    sends = OrderedSends(producer)
    for value in raw:
        sends.send(settings.topic_contacts, orjson.loads(value)["queue"].encode(), value)
    producer.flush(60)
    topics = [settings.topic_contacts]
    raw_s, _ = raw_consume(settings, topics, n, decode=True)
    bare = bare_faust(env, settings, topics, n, tmp)
    worker = measure(lambda: start_all(processes(env, tmp, "worker", 1)), settings, settings.contact_group, topics, n)
    out = {"baseline: raw consume + JSON decode (confluent-kafka, orjson), records/s": f"{n / raw_s:,.0f}"}
    for what, m in (("baseline: bare Faust agent", bare), ("worker", worker)):
        out[f"{what}: contacts/s (after the first commit)"] = f"{n / m.wall_s:,.0f} ({m.steady:,.0f})"
        out[f"{what}: CPU ms per contact / peak RSS MiB"] = f"{m.cpu_s / n * 1000:.4f} / {m.peak_mib:,.0f}"
        out[f"{what}: cores busy, with the broker's share"] = m.cores()
    out["worker CPU per contact, % of bare Faust's per record"] = f"{worker.cpu_s / bare.cpu_s:.0%}"
    out["worker restarts (stopped themselves to resume from the committed offsets)"] = f"{worker.restarts}"
    out["interval records published"] = f"{topic_size(settings, settings.topic_contact_intervals):,}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--engine", type=int, default=200_000, help="contacts through the core in process")
    parser.add_argument("--live", type=int, default=0, help="also send this many contacts through Kafka")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="per topic, for --live")
    args = parser.parse_args()
    rows = engine(args.engine, args.queues)
    if args.live:
        rows |= live(args.live, args.queues, args.partitions)
    table = Table(title=f"contacts: {args.queues:,} queues")
    table.add_column("what")
    table.add_column("value", justify="right")
    for what, value in rows.items():
        table.add_row(what, value)
    Console().print(table)


if __name__ == "__main__":
    main()
