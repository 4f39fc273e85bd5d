import io
import json
import logging
import time
from collections import Counter

from confluent_kafka import Consumer

from streams.logs import LIBRDKAFKA, JsonFormatter, RateLimit, use_format
from streams.settings import Settings


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, msg, args, None)


def test_repeats_of_one_message_are_limited_and_counted() -> None:
    now = [0.0]
    limit = RateLimit(burst=3, period=10.0, clock=lambda: now[0])
    passed = [limit.filter(record("fetch failed for %s", f"tp{i}")) for i in range(1000)]
    assert passed.count(True) == 3  # the same template, whatever its arguments
    assert limit.filter(record("another message"))  # other messages are not held back
    now[0] = 10.0
    first = record("fetch failed for %s", "tp0")
    assert limit.filter(first)
    assert first.getMessage() == "fetch failed for tp0 [997 more like this in the last 10 s were not logged]"


def test_json_lines_carry_the_fields_an_operator_greps_for() -> None:
    logger = logging.getLogger("slastream.unit.json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        use_format(logger, "json")
        logger.warning("%s[%d]: held", "sla.probes", 2, extra={"topic": "sla.probes", "partition": 2, "offset": 41})
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed", extra={"reason": "processing_error"})
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "sla.probes[2]: held" and first["level"] == "WARNING"
    assert (first["topic"], first["partition"], first["offset"]) == ("sla.probes", 2, 41) and "reason" not in first
    assert second["reason"] == "processing_error" and "ValueError: bad" in second["traceback"]
    assert first["time"].endswith("+00:00")


def test_text_format_leaves_handlers_alone() -> None:
    handler = logging.StreamHandler(io.StringIO())
    logger = logging.getLogger("slastream.unit.text")
    logger.addHandler(handler)
    try:
        use_format(logger, "text")
        assert not isinstance(handler.formatter, JsonFormatter)
    finally:
        logger.removeHandler(handler)


def test_librdkafka_lines_go_through_logging_rate_limited_per_kind(capfd) -> None:
    """A client whose broker is away: its lines reach the `librdkafka` logger (JSON when asked,
    rate-limited like the others), none reach stderr directly."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RateLimit(burst=2, period=60.0))
    handler.setFormatter(JsonFormatter())
    LIBRDKAFKA.addHandler(handler)
    LIBRDKAFKA.setLevel(logging.DEBUG)
    consumer = Consumer({**Settings(kafka_bootstrap_servers="127.0.0.1:1").kafka_client_config(),
                         "group.id": "unit-logs", "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 10})
    try:
        deadline = time.monotonic() + 20
        while stream.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            consumer.poll(0.2)
        for _ in range(10):
            consumer.poll(0.1)  # many more refused connections: held back by the rate limit
    finally:
        consumer.close()
        LIBRDKAFKA.removeHandler(handler)
        LIBRDKAFKA.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all(line["logger"] == "librdkafka" for line in lines)
    assert any("Connection refused" in line["message"] for line in lines)
    kinds = Counter(line["message"].split(":")[0] for line in lines)
    assert max(kinds.values()) <= 2, kinds  # per kind of line (librdkafka's facility)
    assert "Connection refused" not in capfd.readouterr().err
