"""OrderedSends: the first record of each topic is delivered before any other is produced."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.errors import RunFailed
from streams.tools.produce import OrderedSends


class FakeProducer:
    def __init__(self, undelivered: int = 0) -> None:
        self.calls: list[str] = []
        self.undelivered = undelivered

    def produce(self, topic: str, key: Any = None, value: Any = None, on_delivery: Any = None) -> None:
        self.calls.append(f"produce {topic} {value!r}")

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.calls.append("flush")
        return self.undelivered


def test_the_first_record_of_each_topic_is_delivered_before_the_next_is_produced() -> None:
    producer = FakeProducer()
    sends = OrderedSends(producer)  # type: ignore[arg-type]
    for topic, value in (("a", b"1"), ("a", b"2"), ("b", b"3"), ("a", b"4"), ("b", b"5")):
        sends.send(topic, b"k", value)
    assert producer.calls == ["produce a b'1'", "flush", "produce a b'2'", "produce b b'3'", "flush",
                              "produce a b'4'", "produce b b'5'"]


def test_a_first_record_that_is_not_delivered_stops_the_run() -> None:
    sends = OrderedSends(FakeProducer(undelivered=1))  # type: ignore[arg-type]
    with pytest.raises(RunFailed, match="first record for a"):
        sends.send("a", None, b"1")
