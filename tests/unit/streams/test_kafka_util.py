"""Which broker errors the read-side helpers wait out."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams import kafka_util


def _failing(codes: list[int]):
    """An ask that fails with each of `codes` in turn, then answers 42."""
    def ask() -> int:
        if codes:
            raise KafkaException(KafkaError(codes.pop(0)))
        return 42
    return ask


def test_a_partition_unknown_to_the_client_after_a_broker_restart_is_waited_out(monkeypatch) -> None:
    """The chaos suite's broker stop: watermark offsets asked while the broker was away or right
    after it came back failed with these and stopped the worker."""
    monkeypatch.setattr(kafka_util.time, "sleep", lambda s: None)
    codes = [KafkaError._ALL_BROKERS_DOWN, KafkaError._UNKNOWN_PARTITION, KafkaError._TRANSPORT]
    assert kafka_util._patiently(_failing(codes)) == 42


def test_an_error_that_waiting_cannot_mend_is_raised(monkeypatch) -> None:
    monkeypatch.setattr(kafka_util.time, "sleep", lambda s: None)
    with pytest.raises(KafkaException):
        kafka_util._patiently(_failing([KafkaError.TOPIC_AUTHORIZATION_FAILED]))
