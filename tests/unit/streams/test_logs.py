import io
import json
import logging

from streams.logs import JsonFormatter, RateLimit, use_format


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
