"""`slastream produce`: publish synthetic events to the input topics with confluent-kafka."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import orjson
from confluent_kafka import Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from schemas.errors import RunFailed, UserError
from streams.settings import Settings
from streams.tools.synthetic import SyntheticSource, bad_records, contact_day
from streams.topics import require_topics


@dataclass(frozen=True)
class ProduceReport:
    events: int
    bad: int
    first_event_time: datetime
    last_event_time: datetime
    contacts: int = 0  # of `events`: finished contacts (a day's, produced first)


def produce(
    settings: Settings,
    rate: float,
    duration: float,
    time_scale: float = 1.0,
    seed: int = 0,
    bad: bool = False,
    paced: bool = True,
    progress: bool = True,
    ends_ago: timedelta = timedelta(0),
    contacts: bool = False,
) -> ProduceReport:
    """Publish `rate * duration` events, paced at `rate`/s (unpaced: as fast as possible).

    Event time advances `time_scale` times faster than wall time and ends at "now" (minus
    `ends_ago`), so `time_scale=60` puts a minute's worth of traffic into each second of producing.
    `contacts`: first, a day of finished contacts ending half an hour before that (contact
    intervals are 15 minutes of real time, whatever the time scale; streams/tools/synthetic.py).
    """
    total = int(rate * duration)
    step = timedelta(seconds=duration * time_scale / max(total, 1))
    start = datetime.now(timezone.utc) - ends_ago - step * total
    require_topics(settings)
    # Not idempotent: once (demo under load, topics just created) librdkafka's idempotent
    # producer reported the first 4 records of a new partition delivered and the broker never
    # had them. Plain retries can only duplicate, and consumers drop repeated event ids; one
    # request in flight keeps a retried batch from landing after later ones (a probe result
    # behind its minute's close is late). log_level 3: retried warnings (a fresh broker's
    # coordinator loading) are not news.
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 20, "acks": "all", "partitioner": "murmur2_random",
                         "enable.idempotence": False, "max.in.flight.requests.per.connection": 1,
                         "log_level": 3})
    topics = settings.input_topics
    wait_for_topics(producer, topics.values())
    sends = OrderedSends(producer)
    source = SyntheticSource(seed)
    failures: list[str] = []
    stored: set[tuple[str, int, int]] = set()

    def on_delivery(err: object, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            stored.add((msg.topic(), msg.partition(), msg.offset()))

    day = contact_day(datetime.now(timezone.utc) - ends_ago - timedelta(minutes=30), seed) if contacts else []
    for kind, key, value in day:
        sends.send(topics[kind], key.encode(), orjson.dumps(value), on_delivery)
    began = time.monotonic()
    columns = (TextColumn("producing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("events", total=total)
        for i in range(total):
            kind, key, value = source.record(start + step * i)
            sends.send(topics[kind], key.encode(), orjson.dumps(value), on_delivery)
            if i % 100 == 0:
                ahead = i / rate - (time.monotonic() - began)
                if paced and ahead > 0:
                    time.sleep(ahead)
                bar.update(task, completed=i)
        bar.update(task, completed=total)
    n_bad = 0
    if bad:
        for kind, key, raw, _reason in bad_records(start, settings.max_event_bytes):
            sends.send(topics[kind], key.encode(), raw, on_delivery)
            n_bad += 1
    if producer.flush(60):
        raise RunFailed(f"could not deliver every record to Kafka at {settings.kafka_bootstrap_servers} within 60 s")
    if failures:
        raise RunFailed(f"{len(failures)} records were not delivered, first error: {failures[0]}")
    if len(stored) != total + len(day) + n_bad:  # two records acknowledged at one offset: one of them is lost
        raise RunFailed(f"Kafka acknowledged {total + len(day) + n_bad} records at only {len(stored)} distinct offsets")
    return ProduceReport(total + len(day), n_bad, start, start + step * max(total - 1, 0), len(day))


def wait_for_topics(producer: Producer, names: Iterable[str], timeout: float = 30.0) -> None:
    """Block until every topic has a leader for each partition (new topics take a moment);
    a UserError naming the topic if it does not come. (Order needs OrderedSends as well.)"""
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            meta = producer.list_topics(name, timeout=timeout).topics.get(name)
            if meta and not meta.error and meta.partitions and all(p.leader >= 0 for p in meta.partitions.values()):
                break
            if time.monotonic() > deadline:
                raise UserError(f"topic {name} is not available; run `slastream topics create` with the same settings")
            time.sleep(0.2)


class OrderedSends:
    """Sends that land in each partition in the order they were produced.

    librdkafka parks the records of a topic whose partitions its topic handle does not know
    yet in a queue of their own and appends them after records produced once it knows them:
    a just-created topic once held the last 1,718 of 5,981 records of a partition first, even
    after its metadata had been fetched. So the first record of each topic is delivered
    before any other is produced. (Retries keep the order with one request in flight.)
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self._known: set[str] = set()

    def send(self, topic: str, key: bytes | None, value: bytes,
             on_delivery: Callable[[object, Any], None] | None = None) -> None:
        """Produce one record, waiting for room in the local queue when it is full."""
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                self.producer.poll(0.1)
        self.producer.poll(0)
        if topic not in self._known:
            if self.producer.flush(60) > 0:
                raise RunFailed(f"the first record for {topic} was not delivered within 60 s")
            self._known.add(topic)
