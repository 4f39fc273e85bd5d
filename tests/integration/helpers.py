"""Helpers shared by the integration tests."""

from __future__ import annotations

from confluent_kafka import Producer

from streams.settings import Settings
from streams.tools.produce import OrderedSends, wait_for_topics


def send(settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    """Produce (kind, key, value) records to the input topics and wait until all are delivered."""
    # One request in flight: a retried batch never lands after later ones (input order matters:
    # two runs of one workload must read the same records in the same order).
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 20, "max.in.flight.requests.per.connection": 1})
    wait_for_topics(producer, settings.input_topics.values())
    sends = OrderedSends(producer)  # else the first records of a topic may land last
    errors: list = []
    for kind, key, value in records:
        sends.send(settings.input_topics[kind], key.encode(), value,
                   lambda err, _m: errors.append(err) if err else None)
    assert producer.flush(30) == 0 and errors == []
