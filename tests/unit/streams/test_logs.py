import logging

from streams.logs import RateLimit


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
