"""Logs that stay readable during an outage (repeats of one message are rate-limited), as
text or as JSON lines (LOG_FORMAT=json).

While the broker is away, aiokafka and Faust log the same failure for every fetch and
commit attempt (a 20 s broker stop once wrote 136,505 ERROR lines). Per (logger, message
template), at most `burst` records pass in each `period`; the first record after a quiet
spell says how many were suppressed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable

import orjson


class RateLimit(logging.Filter):
    """A handler filter passing at most `burst` records per message template and `period`."""

    def __init__(self, burst: int = 5, period: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self.clock = clock
        self._windows: dict[tuple[str, object], list[float | int]] = {}  # key -> [window start, passed, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.period:
            dropped = int(window[2]) if window else 0
            self._windows[key] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this in the last {self.period:g} s were not logged]"
            if len(self._windows) > 10_000:  # bounded: forget templates not seen for a period
                self._windows = {k: w for k, w in self._windows.items() if now - w[0] < self.period}
            return True
        if window[1] < self.burst:
            window[1] += 1
            return True
        window[2] += 1
        return False


class _LibrdkafkaLines(logging.Filter):
    """librdkafka logs every line with one template ("%s [%s] %s": facility, client, text);
    one template per facility instead, so the rate limit counts each kind of line apart."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 3:
            facility, _client, text = record.args
            record.msg, record.args = f"{facility}: %s", (text,)
        return True


# Every confluent-kafka client logs here (Settings.kafka_client_config), not to stderr, so its
# lines pass the rate limit and LOG_FORMAT like the others (a broker outage once wrote ~20
# lines/s per process to stderr). They are delivered when the client is polled.
LIBRDKAFKA = logging.getLogger("librdkafka")
LIBRDKAFKA.addFilter(_LibrdkafkaLines())


def rate_limit(logger: logging.Logger, burst: int = 5, period: float = 10.0) -> None:
    """Install the filter on every handler of `logger` (the root logger, once configured)."""
    for handler in logger.handlers:
        handler.addFilter(RateLimit(burst, period))


# Fields an operator greps for, taken from a record's `extra=` when present.
FIELDS = ("topic", "partition", "offset", "reason", "table")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message, the FIELDS given, and
    the traceback if any (LOG_FORMAT=json)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "pid": record.process, "message": record.getMessage(),
        }
        line.update({f: getattr(record, f) for f in FIELDS if hasattr(record, f)})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def use_format(logger: logging.Logger, log_format: str) -> None:
    """With "json", every handler of `logger` writes JSON lines; "text" leaves them as they are."""
    if log_format == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
