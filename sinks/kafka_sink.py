"""`slastream sink`: input and output topics copied into ClickHouse in large batches.

The only process that writes ClickHouse (with embedded chDB, the only one that opens the
data directory), so any number of workers can run beside it. librdkafka batch
consumption; a batch is inserted table by table, and its offsets are committed only
after every insert succeeded. A crash or a failed commit re-reads records whose rows may
already be stored: every table deduplicates on the row's key (ReplacingMergeTree), so a
copy never counts twice. While ClickHouse refuses for a reason that can pass (away, busy,
out of disk), the batch is retried and nothing more is read (input is held, not lost); a
refusal that cannot pass (an unknown table, a wrong password) stops the sink with the reason.

At start, and once inserts pass again after a refusal, the sink asks ClickHouse for parts it
set aside as broken (sinks/repair.py); for any, it reads its partitions again from their
first retained record, which restores the rows (embedded chDB checks its parts only when
it opens them, so the sink opens it again first).

Commits are asynchronous and name every owned partition's stored position, and they are sent
again every RECOMMIT_EVERY_S (streams/kafka_util.py): a synchronous commit once never returned
after a broker restart (the sink idle for good with its input waiting;
confluent-kafka-python#1801).
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Hashable

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from pydantic import BaseModel, ValidationError

from schemas.errors import RunFailed
from sinks.clickhouse import insert_json, passes_with_time
from sinks.repair import Part, broken_parts, record_repair
from sinks.rows import (COLUMNS, RECORD_TABLES, Rows, block_rows, breach_rows, contact_interval_rows, input_rows,
                        instance_rows, minute_rows, probe_event_rows, status_rows)
from streams.kafka_util import RECOMMIT_EVERY_S
from streams.metrics import ACKED, CONSUMED, SINK_BATCHES, SINK_FAILURES, SINK_INSERT_SECONDS, SINK_ROWS, Watch, live_gauge
from streams.settings import Settings
from streams.validate import Limits
from streams.verdict import Consumed, record_time

log = logging.getLogger(__name__)


class SinkFailed(RunFailed):
    """ClickHouse refused an insert in a way that waiting cannot mend."""


def sink_topics(settings: Settings) -> list[str]:
    """Every topic the sink stores: the inputs, then the workers' outputs."""
    return list(roles(settings))


def roles(settings: Settings) -> dict[str, Rows]:
    """Per topic the sink reads, how its records become rows."""
    limits = Limits(max_bytes=settings.max_event_bytes, max_future=timedelta(seconds=settings.max_future_s),
                    max_past=timedelta(days=settings.max_past_days))
    # Probe results come as the rows the workers accepted (the probe feed judges each result
    # once); tickets and incidents are judged again here, as the worker judged them.
    out: dict[str, Rows] = {topic: input_rows(kind, limits) for kind, topic in settings.input_topics.items()
                            if kind != "probe"}
    out.update({settings.topic_probe_events: probe_event_rows, settings.topic_breaches: breach_rows,
                settings.topic_instances: instance_rows, settings.topic_slo_status: status_rows,
                settings.topic_minutes: minute_rows, settings.topic_contact_intervals: contact_interval_rows})
    return out


class Batch:
    """Rows of records read and not yet stored, and the offsets to commit once they are."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Hashable, tuple[Any, ...]]] = {}
        self.blocks: dict[str, list[bytes]] = {}  # per table, JSONEachRow blocks stored as they are
        self.next_offsets: dict[tuple[str, int], int] = {}
        self.per_topic: dict[str, int] = {}
        self.records = 0
        self.converted = 0  # rows converted (a probe batch record holds many): what bounds the batch's memory
        self.skipped = 0
        self.started = time.monotonic()

    def add(self, record: Consumed, rows: Rows, now: datetime) -> None:
        """Convert one record; a record that cannot be converted is logged and skipped (only
        an output record of another version can be: input is validated like the worker does)."""
        try:
            converted = rows(record, now)
        except Exception as exc:
            log.error("%s[%d]@%d cannot be stored and is skipped: %s: %.300s",
                      record.topic, record.partition, record.offset, type(exc).__name__, exc,
                      extra={"topic": record.topic, "partition": record.partition, "offset": record.offset})
            converted = []
            self.skipped += 1
        for table, key, row in converted:
            if isinstance(row, bytes):
                self.blocks.setdefault(table, []).append(row)
                self.converted += block_rows(table, row)
            else:
                self.tables.setdefault(table, {}).setdefault(key, row)  # a copy inside one batch is dropped here
                self.converted += 1
        self.next_offsets[(record.topic, record.partition)] = record.offset + 1
        self.per_topic[record.topic] = self.per_topic.get(record.topic, 0) + 1
        self.records += 1

    def rows(self) -> int:
        """Rows converted and not stored yet."""
        return self.converted


def insert_rows(client: Client, table: str, rows: list[tuple[Any, ...]] | bytes, settings: Settings,
                stop: Callable[[], bool], lock: AbstractContextManager[Any] = nullcontext(),
                refused: Callable[[], None] = lambda: None) -> bool:
    """Insert, retrying what can pass with time (waits from SINK_RETRY_S, doubling up to
    SINK_RETRY_MAX_S; `refused()` is called at each such refusal). Raises SinkFailed on what
    cannot; False when `stop()` turned true meanwhile. The caller commits nothing unless this
    returned True."""
    wait = settings.sink_retry_s
    n = block_rows(table, rows) if isinstance(rows, bytes) else len(rows)
    while True:
        started = time.perf_counter()
        try:
            with lock:  # the portal, when the sink serves it, queries the same client
                if isinstance(rows, bytes):  # JSONEachRow: ClickHouse parses it, no Python per row
                    insert_json(client, table, [c for c in COLUMNS[table] if c != "ingested_at"], rows)
                else:
                    client.insert(table, data=rows, column_names=list(COLUMNS[table]))
            SINK_INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
            SINK_ROWS.labels(table).inc(n)
            return True
        except Exception as exc:
            SINK_FAILURES.labels(table).inc()
            problem = f"insert of {n} rows into {table} failed ({type(exc).__name__}: {str(exc)[:300]})"
            if not passes_with_time(exc):
                raise SinkFailed(f"{problem}; retrying cannot help: fix the table or the account (the migrations "
                                 "run at start), then start the sink again; nothing of this batch was committed, "
                                 "so its records are read again") from exc
            log.error("%s; retrying in %g s", problem, wait, extra={"table": table})
            refused()
            if stop():
                return False
            time.sleep(wait)
            wait = min(wait * 2, settings.sink_retry_max_s)


def _readable(model: type[BaseModel], record: bytes, table: str) -> bool:
    """Whether an output record holds what its table's columns need (logged when not)."""
    try:
        model.model_validate_json(record)
    except ValidationError as exc:
        log.error("a record for %s cannot be stored and is skipped: %.300s (%.200r)", table, exc, record,
                  extra={"table": table})
        return False
    return True


class ClickHouseSink:
    """Reads `roles`' topics as consumer group `group` and keeps ClickHouse current."""

    def __init__(self, settings: Settings, client: Client, topic_roles: dict[str, Rows],
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), watch: Watch | None = None,
                 lock: AbstractContextManager[Any] = nullcontext(), reopen: Callable[[], Client] | None = None) -> None:
        """`reopen()` closes the client and returns a new one (for embedded chDB, which
        checks its parts only when it opens them)."""
        self.settings = settings
        self._reopen = reopen
        self.watch = watch
        self.lock = lock
        self.client = client
        self.roles = topic_roles
        self.clock = clock
        self.batch = Batch()
        self.rows_written = 0
        self.records_stored = 0
        self._stop: Callable[[], bool] = lambda: False
        self._inserts_pass = True  # the migrations at start reached ClickHouse
        self._refused = False  # an insert was refused since the last check for broken parts
        self._broken: list[Part] = []  # broken parts whose rows are to be read again
        self._positions: dict[tuple[str, int], int] = {}  # owned partition -> offset after its last record stored
        self._committed_at = time.monotonic()
        self._consumer = Consumer({
            **settings.kafka_client_config(),
            "group.id": settings.sink_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(settings.kafka_session_timeout_s * 1000),
            "queued.max.messages.kbytes": 16384,  # read ahead (librdkafka's default, 64 MiB, doubled the sink's memory)
            "on_commit": self._on_commit,
        })

    def run(self, stop: Callable[[], bool]) -> None:
        """Until `stop()` is true: read, store, commit; then store what is left and leave the group."""
        self._stop = stop
        self._consumer.subscribe(list(self.roles), on_assign=self._on_assign, on_revoke=self._on_revoke)
        if self.watch is not None:
            self._watched(self.watch)
        self._broken = broken_parts(self.client)  # ClickHouse has just opened (and checked) every part
        try:
            while not self._stopping():
                if self._broken and self._consumer.assignment():
                    self._read_again()
                self._read(self._consumer.consume(num_messages=min(self.settings.batch_rows, 10_000), timeout=0.2))
                age = time.monotonic() - self.batch.started
                if self.batch.converted >= self.settings.batch_rows or (
                        self.batch.records and age >= self.settings.flush_interval_s):
                    self._store()
                elif time.monotonic() - self._committed_at >= RECOMMIT_EVERY_S:
                    self._commit()
            self._store()
        finally:
            self._consumer.close()

    def _stopping(self) -> bool:
        """Asked between reads and between insert retries: so the loop is alive."""
        if self.watch is not None:
            self.watch.alive()
        return self._stop()

    def _watched(self, watch: Watch) -> None:
        watch.checks["partitions_assigned"] = lambda: bool(watch.lag.owned)
        watch.checks["clickhouse_inserts_pass"] = lambda: self._inserts_pass
        live_gauge("slastream_sink_rows_waiting", lambda: [((), self.batch.rows())])

    def _read(self, messages: list[Message]) -> None:
        now = self.clock()
        read: dict[str, int] = {}  # per topic, counted once per call: a labelled increment per record cost 8 %
        for msg in messages:
            error = msg.error()
            if error is not None:
                log.warning("reading: %s", error.str())
                continue
            topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
            read[topic] = read.get(topic, 0) + 1
            _, timestamp = msg.timestamp()
            record = Consumed(topic, partition, offset, msg.key(), msg.value(), record_time(timestamp))
            self.batch.add(record, self.roles[topic], now)
        for topic, n in read.items():
            CONSUMED.labels(topic).inc(n)

    def _store(self) -> bool:
        """Insert the batch's rows, then commit its offsets. False when asked to stop while
        ClickHouse refused (nothing committed: the records are read again next time)."""
        batch = self.batch
        if not batch.records:
            return True
        for table, rows in list(batch.tables.items()):
            if not self._insert(table, list(rows.values()), len(rows)):
                return False
            del batch.tables[table]  # stored: a retry of a later table does not insert it again
        for table, blocks in list(batch.blocks.items()):
            if not self._insert_block(table, blocks):
                return False
            del batch.blocks[table]
        if self._refused:
            self._check_parts()
        if self._broken:  # the first offsets are committed instead of the batch's
            self._read_again()
            return True
        self._positions.update(batch.next_offsets)
        self._commit()
        self.records_stored += batch.records
        for topic, n in batch.per_topic.items():
            ACKED.labels(topic).inc(n)
        SINK_BATCHES.inc()
        self.batch = Batch()
        return True

    def _insert(self, table: str, rows: list[tuple[Any, ...]] | bytes, n: int) -> bool:
        self._inserts_pass = False  # until this insert passes: ClickHouse may be away
        if not insert_rows(self.client, table, rows, self.settings, self._stopping, self.lock, self._on_refused):
            return False
        self._inserts_pass = True
        self.rows_written += n
        return True

    def _insert_block(self, table: str, blocks: list[bytes]) -> bool:
        """Insert JSONEachRow blocks. When ClickHouse refuses output records it cannot read (of
        another version), those are logged and skipped, like records Batch.add cannot convert."""
        block = b"\n".join(blocks)
        try:
            return self._insert(table, block, block_rows(table, block))
        except SinkFailed:
            model = RECORD_TABLES.get(table)
            if model is None:
                raise
            readable = [b for b in blocks if _readable(model, b, table)]
            if len(readable) == len(blocks):
                raise  # the records are fine: the table is not
            self.batch.skipped += len(blocks) - len(readable)
            return not readable or self._insert_block(table, readable)

    def _on_refused(self) -> None:
        self._refused = True

    def _check_parts(self) -> None:
        """After ClickHouse refused inserts (out of disk, restarted, away): ask it for parts it
        has set aside as broken meanwhile."""
        self._refused = False
        if self._reopen is not None:
            self.client = self._reopen()
        self._broken += [p for p in broken_parts(self.client) if p not in self._broken]

    def _read_again(self) -> None:
        """Read every owned partition again from its first retained record: the rows of the
        broken parts come back, and every other row is one more copy the tables absorb. The
        rewound offsets are committed first, so a crash meanwhile goes on with the re-read."""
        starts = [TopicPartition(tp.topic, tp.partition, self._consumer.get_watermark_offsets(tp, timeout=10)[0])
                  for tp in self._consumer.assignment()]
        log.error("ClickHouse set aside broken parts (%s), whose rows are gone from every query; reading %d "
                  "partitions again from their first retained record to restore them (rows older than the "
                  "topics' retention cannot come back)", ", ".join("/".join(p) for p in self._broken), len(starts))
        self.batch = Batch()  # not committed: read again with the rest
        # Synchronous: the rewind is stored before anything is read again (a crash goes on with it).
        self._consumer.commit(offsets=starts, asynchronous=False)
        self._positions.update({(tp.topic, tp.partition): tp.offset for tp in starts})
        for tp in starts:
            try:
                self._consumer.seek(tp)
            except KafkaException as exc:
                raise SinkFailed(f"cannot move {tp.topic}[{tp.partition}] back to offset {tp.offset} "
                                 f"({exc.args[0].str()}); start the sink again: it reads from there") from exc
        record_repair(self.client, self._broken, self.clock())
        self._broken = []

    def _commit(self) -> None:
        """Commit every owned partition's stored position (asynchronously: see the module's doc)."""
        self._committed_at = time.monotonic()
        if not self._positions:
            return
        try:
            self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in self._positions.items()],
                                  asynchronous=True)
        except KafkaException as exc:  # sent again soon; a re-read meanwhile adds copies every table absorbs
            log.warning("commit of %d offsets failed (%s)", len(self._positions), exc.args[0].str())

    @staticmethod
    def _on_commit(error: Any, partitions: list[TopicPartition]) -> None:
        reason = error or next((tp.error for tp in partitions if tp.error is not None), None)
        if reason is not None:
            log.warning("a commit failed (%s); it is sent again within %.0f s", reason.str(), RECOMMIT_EVERY_S)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.watch is not None:
            self.watch.lag.owned = self.watch.lag.owned | {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Rows of records read from partitions now leaving must be stored and committed first:
        # their next owner starts at the committed offsets.
        if not self._store():
            self.batch = Batch()  # stopping: not committed, so read again by whoever owns them next
        for tp in partitions:  # a later commit naming them could move their next owner's offsets back
            self._positions.pop((tp.topic, tp.partition), None)
        if self.watch is not None:
            self.watch.lag.owned = self.watch.lag.owned - {(tp.topic, tp.partition) for tp in partitions}
