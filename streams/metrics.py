"""Prometheus metrics, health and readiness of a long-running process (worker or sink).

Every metric lives in prometheus-client's default registry, so `/metrics` also carries the
process collector's `process_resident_memory_bytes` and CPU seconds. Labels stay bounded:
topic, partition, reason, table, type; never an entity, customer or service id. Values
that are cheaper to read than to keep current (ages, queue sizes) are read when scraped.
The metric names are the contract of deploy/prometheus and deploy/grafana (a test checks
that every name they use exists).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Iterator

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from schemas.errors import UserError
from streams.settings import Settings

log = logging.getLogger(__name__)

CONSUMED = Counter("slastream_records_consumed", "Records read from an input topic", ["topic"])
ACKED = Counter("slastream_records_acknowledged", "Input records acknowledged (nothing of them can be lost)", ["topic"])
REJECTED = Counter("slastream_records_rejected", "Input records dead-lettered, by reason", ["topic", "reason"])
PUBLISHED = Counter("slastream_records_published", "Output records sent, by topic", ["topic"])
LIFECYCLE = Counter("slastream_lifecycle_events_published", "Records sent to the breach topic, by type "
                    "(warning, breached, met, missed, correction, firing, resolved, no_data)", ["type"])
COPIES_DROPPED = Counter("slastream_breach_copies_dropped", "Breach-topic records not sent because their id was "
                         "already on the topic when the worker took its partitions")
SEND_FAILURES = Counter("slastream_send_failures", "Output records the producer refused", ["topic"])
DEADLINE_DELAY = Histogram("slastream_sla_deadline_delay_seconds",
                           "From an SLA deadline or warning instant to its lifecycle event being sent (ticks)",
                           buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800))
TICKS = Counter("slastream_ticks", "Ticks handled (deadlines fired, minutes closed, state written)")
TICKS_SKIPPED = Counter("slastream_ticks_skipped", "Ticks skipped because a newer tick of their partition was "
                        "already in Kafka (it does their work)")
TICK_SECONDS = Histogram("slastream_tick_duration_seconds", "Time one partition's tick took",
                         buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
MINUTES_CLOSED = Counter("slastream_probe_minutes_closed", "Probe minute buckets closed")
PROBE_LATE = Counter("slastream_probe_results_late", "Probe results for a minute already closed (dead-lettered)")
CONTACT_INTERVALS = Counter("slastream_contact_intervals_published", "Contact interval records published (corrections too)")
CONTACT_LATE = Counter("slastream_contacts_late", "Contacts of an interval no longer kept (dead-lettered)")
LAG = Gauge("slastream_consumer_lag", "High watermark minus the group's committed offset, per owned partition",
            ["topic", "partition"])
SINK_ROWS = Counter("slastream_sink_rows_inserted", "Rows inserted into ClickHouse", ["table"])
SINK_BATCHES = Counter("slastream_sink_batches", "Batches stored and committed")
SINK_FAILURES = Counter("slastream_sink_insert_failures", "Inserts ClickHouse refused (each retry counts)", ["table"])
SINK_INSERT_SECONDS = Histogram("slastream_sink_insert_duration_seconds", "Time of one successful insert", ["table"],
                                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

Samples = Callable[[], Iterable[tuple[tuple[str, ...], float]]]  # -> (label values, value) pairs


# Gauges read when scraped: name -> (help, labels). Declared here, so every name is known
# before a process registers how to read it.
LIVE: dict[str, tuple[str, list[str]]] = {
    "slastream_oldest_unacked_age_seconds": ("Age of the oldest record read and not yet acknowledged",
                                             ["topic", "partition"]),
    "slastream_seconds_since_tick": ("Seconds since the last tick handled, per owned partition", ["partition"]),
    "slastream_sla_due_deadlines": ("SLA entities with a deadline or warning pending (owned partitions)", []),
    "slastream_probe_open_minutes": ("Probe minute buckets still counting results (owned partitions)", []),
    "slastream_table_store_bytes": ("Bytes of the worker's table store on disk (RocksDB)", []),
    "slastream_sink_rows_waiting": ("Rows read and not yet inserted", []),
}


class _Live(Collector):
    """A gauge whose samples are read when scraped."""

    def __init__(self, name: str, read: Samples) -> None:
        self.name, self.read = name, read
        self.doc, self.labels = LIVE[name]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.doc, labels=self.labels)
        for values, value in self.read():
            family.add_metric(list(values), value)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.doc, labels=self.labels)


_live: dict[str, _Live] = {}


def live_gauge(name: str, read: Samples) -> None:
    """Register how to read the LIVE gauge `name` (again: the new reader replaces the old)."""
    if name in _live:
        REGISTRY.unregister(_live.pop(name))
    _live[name] = _Live(name, read)
    REGISTRY.register(_live[name])


class LagWatch:
    """Consumer lag of a group on the partitions this process owns, asked of the broker
    every `interval` seconds on a thread of its own (sets LAG; `total` for readiness)."""

    def __init__(self, settings: Settings, group: str, interval: float, groups: dict[str, str] | None = None) -> None:
        """`groups`: topics committed in another group than `group`."""
        self._consumers = {g: Consumer({**settings.kafka_client_config(), "group.id": g, "enable.auto.commit": False,
                                        "log_level": 3}) for g in {group, *(groups or {}).values()}}
        self._group = group
        self._groups = groups or {}
        self.interval = interval
        self.owned: frozenset[tuple[str, int]] = frozenset()  # replaced whole by the owner's thread
        self.also: Callable[[], frozenset[tuple[str, int]]] = frozenset  # partitions owned beside `owned`
        self.total: int | None = None  # None: not known (nothing owned yet, or the broker did not answer)
        self._shown: set[tuple[str, int]] = set()

    def measure(self) -> None:
        """Ask once: committed offsets and high watermarks of the owned partitions."""
        owned = self.owned | self.also()
        if not owned:
            self._forget(self._shown)
            self._shown, self.total = set(), None
            return
        try:
            lags = {}
            for group, consumer in self._consumers.items():
                mine = [TopicPartition(t, p) for t, p in sorted(owned) if self._groups.get(t, self._group) == group]
                for tp in consumer.committed(mine, timeout=5) if mine else []:
                    low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=5)
                    lags[(tp.topic, tp.partition)] = max(high - (tp.offset if tp.offset >= 0 else low), 0)
        except KafkaException as exc:
            log.warning("consumer lag unknown: %s", exc.args[0].str())
            self.total = None
            return
        self._forget(self._shown - set(lags))  # a revoked partition is another process's to report
        for (topic, partition), value in lags.items():
            LAG.labels(topic, str(partition)).set(value)
        self._shown = set(lags)
        self.total = sum(lags.values())

    @staticmethod
    def _forget(partitions: set[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            LAG.remove(topic, str(partition))

    def run(self) -> None:
        while True:
            self.measure()
            time.sleep(self.interval)


class Watch:
    """What /health and /ready answer for one process.

    The process calls `alive()` from its main loop; /health fails once that has not
    happened for `stall_s`. /ready passes when every named check passes and the lag of the
    owned partitions is known and at most `max_lag`.
    """

    def __init__(self, settings: Settings, group: str, groups: dict[str, str] | None = None) -> None:
        self.stall_s = settings.health_stall_s
        self.max_lag = settings.ready_max_lag
        self.lag = LagWatch(settings, group, settings.lag_interval_s, groups)
        self.checks: dict[str, Callable[[], bool]] = {}
        self._beat = time.monotonic()

    def alive(self) -> None:
        self._beat = time.monotonic()

    def health(self) -> tuple[bool, dict[str, object]]:
        age = time.monotonic() - self._beat
        return age <= self.stall_s, {"loop_quiet_s": round(age, 3), "stall_s": self.stall_s}

    def ready(self) -> tuple[bool, dict[str, object]]:
        checks = {name: bool(check()) for name, check in self.checks.items()}
        lag = self.lag.total
        checks["lag_known"] = lag is not None
        checks["lag_within_bound"] = lag is not None and lag <= self.max_lag
        return all(checks.values()), {"checks": checks, "lag": lag, "max_lag": self.max_lag}

    def serve(self, bind: str, port: int) -> ThreadingHTTPServer:
        """Serve /metrics, /health and /ready on daemon threads (and start the lag thread)."""
        try:
            server = ThreadingHTTPServer((bind, port), _handler(self))
        except OSError as exc:
            raise UserError(f"cannot serve metrics on {bind}:{port} ({exc.strerror}): set the port setting "
                            "(METRICS_PORT for a worker, SINK_METRICS_PORT for the sink) to a free port, "
                            "or 0 to turn metrics off") from None
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
        threading.Thread(target=self.lag.run, name="metrics-lag", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics (health: /health, readiness: /ready)", bind, server.server_port)
        return server


def _handler(watch: Watch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            if self.path == "/metrics":
                self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif self.path in ("/health", "/ready"):
                ok, body = watch.health() if self.path == "/health" else watch.ready()
                self._answer(200 if ok else 503, json.dumps({"ok": ok, **body}).encode(), "application/json")
            else:
                self._answer(404, b'{"ok": false, "error": "not found: /metrics, /health, /ready"}',
                             "application/json")

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not an event of note

    return Handler
