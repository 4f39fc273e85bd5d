"""`slastream produce`: publish synthetic events to the input topics with confluent-kafka."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson
from confluent_kafka import Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from streams.settings import Settings
from streams.synthetic import SyntheticSource, bad_records


@dataclass(frozen=True)
class ProduceReport:
    events: int
    bad: int
    first_event_time: datetime
    last_event_time: datetime


def produce(
    settings: Settings,
    rate: float,
    duration: float,
    time_scale: float = 1.0,
    seed: int = 0,
    bad: bool = False,
    paced: bool = True,
    progress: bool = True,
) -> ProduceReport:
    """Publish `rate * duration` events, paced at `rate`/s (unpaced: as fast as possible).

    Event time advances `time_scale` times faster than wall time and ends at "now", so
    `time_scale=60` puts a minute's worth of traffic into each second of producing.
    """
    total = int(rate * duration)
    step = timedelta(seconds=duration * time_scale / max(total, 1))
    start = datetime.now(timezone.utc) - step * total
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 20, "acks": "all", "enable.idempotence": True})
    topics = settings.input_topics
    source = SyntheticSource(seed)
    began = time.monotonic()
    columns = (TextColumn("producing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("events", total=total)
        for i in range(total):
            kind, key, value = source.record(start + step * i)
            _send(producer, topics[kind], key, orjson.dumps(value))
            if i % 100 == 0:
                ahead = i / rate - (time.monotonic() - began)
                if paced and ahead > 0:
                    time.sleep(ahead)
                bar.update(task, completed=i)
        bar.update(task, completed=total)
    n_bad = 0
    if bad:
        for kind, key, raw, _reason in bad_records(start, settings.max_event_bytes):
            _send(producer, topics[kind], key, raw)
            n_bad += 1
    if producer.flush(60):
        raise RuntimeError("could not deliver every record to Kafka within 60 s")
    return ProduceReport(total, n_bad, start, start + step * max(total - 1, 0))


def _send(producer: Producer, topic: str, key: str, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, key=key.encode(), value=value)
            producer.poll(0)
            return
        except BufferError:  # local queue full: let deliveries drain
            producer.poll(0.1)
