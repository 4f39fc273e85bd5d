"""Reading the breach topic's recent ids at a takeover, against the real broker."""

from __future__ import annotations

import asyncio
import time

import orjson
from confluent_kafka import Producer
import pytest

from streams.kafka_util import read_since
from streams.worker.published_ids import PublishedIds
from tests.integration.conftest import Run

pytestmark = pytest.mark.integration


def _produce(run: Run, records: list[tuple[bytes, str, int]]) -> None:
    """(key, event id, record timestamp in ms) each, in order."""
    producer = Producer(run.settings.kafka_client_config())
    for key, eid, at_ms in records:
        producer.produce(run.settings.topic_breaches, orjson.dumps({"event_id": eid, "type": "breached"}), key,
                         timestamp=at_ms)
    assert producer.flush(10) == 0


def test_only_the_windows_ids_are_taken_and_copies_of_them_are_not_sent(run: Run) -> None:
    now_ms = int(time.time() * 1000)
    window_ms = int(run.settings.output_dedupe_s * 1000)
    # Keys spread over the topic's partitions; two records older than the window.
    _produce(run, [(b"i1", "old-1", now_ms - window_ms - 60_000), (b"i2", "old-2", now_ms - window_ms - 1_000)]
             + [(f"i{n}".encode(), f"recent-{n}", now_ms - 1_000 * n) for n in range(30)])
    published = PublishedIds(run.settings)
    asyncio.run(published.ready())
    again = [(b"k", orjson.dumps({"event_id": eid, "type": "breached"})) for eid in ("old-1", "recent-3", "new", "recent-29")]
    assert published.fresh(again) == [again[0], again[2]]


def test_a_read_keeps_the_newest_records_of_each_partition_up_to_its_share(run: Run) -> None:
    now_ms = int(time.time() * 1000)
    _produce(run, [(b"one-key", f"e{n}", now_ms - 1_000 * (20 - n)) for n in range(20)])  # one partition, oldest first
    partitions = run.settings.topic_partitions
    values = list(read_since(run.settings, run.settings.topic_breaches, now_ms - 60_000, 5 * partitions, 30))
    assert [orjson.loads(v)["event_id"] for v in values] == [f"e{n}" for n in range(15, 20)]
    assert list(read_since(run.settings, run.settings.topic_breaches, now_ms + 60_000, 100, 30)) == []
