"""The Faust app: thin adapters from Kafka records to validation, the SLA and SLO trackers and sinks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, cast

import aiokafka
import faust
from faust.types import StreamT

from schemas.policy import Policy
from streams.engine.clocks import ClockEngine
from streams.engine.slo_plan import SloPlan
from streams.kafka_util import CommittedOffsets
from streams.metrics import TICK_SECONDS, TICKS, TICKS_SKIPPED, Watch, live_gauge
from streams.settings import Settings
from streams.topics import TABLES, ticks_topic
from streams.validate import Limits
from streams.worker.faust_fixes import (MAX_POLL_RECORDS, drain_changelog_writes_before_commits, never_commit_over_gaps,
                                        serve_partitions_in_turn, start_without_idle_waits)
from streams.worker.outputs import DirectTable, Outputs
from streams.worker.contact_feed import ContactFeed
from streams.worker.contact_tracking import ContactTracker
from streams.worker.partition_clock import PartitionClock
from streams.worker.event_feed import EventFeed
from streams.worker.feed import Feed
from streams.worker.probe_feed import ProbeFeed
from streams.worker.probe_tracking import ProbeTracker
from streams.worker.published_ids import PublishedIds
from streams.worker.stall import StalledPartition, StallWatch
from streams.worker.tracking import SlaTracker
from streams.worker.types import Record, Table

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def broker_credentials(settings: Settings) -> Any:
    """Faust (aiokafka) credentials matching the librdkafka settings."""
    ctx = settings.ssl_context()
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ctx,
        )
    return faust.SSLCredentials(ctx) if ctx else None


def build_app(settings: Settings, policy: Policy | None = None, clock: Clock = utcnow,
              watch: Watch | None = None) -> faust.App:
    """Create the worker app: Kafka to Kafka, it writes nothing to ClickHouse (`slastream sink` does).

    Input records never become Faust events: two feeds read them with librdkafka (feed.py),
    judge them (dead-letter) and, with a policy, apply ticket and incident events to the SLA
    engine and count probe results for the SLO tracker; Faust holds the tables and runs the
    tick agent that fires deadlines and closes minutes. With `watch`, the app keeps its
    health, readiness and owned partitions current (streams/metrics.py).
    """
    drain_changelog_writes_before_commits()
    never_commit_over_gaps()
    serve_partitions_in_turn()
    start_without_idle_waits()
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        store=settings.store,
        datadir=str(settings.data_dir),
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000,
        # Ticks are safe to process again; so rebalances and shutdowns need not wait.
        stream_wait_empty=False,
        broker_max_poll_records=MAX_POLL_RECORDS,  # with serve_partitions_in_turn: no partition waits long
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=settings.kafka_session_timeout_s / 4,
    )
    limits = Limits(
        max_bytes=settings.max_event_bytes,
        max_future=timedelta(seconds=settings.max_future_s),
        max_past=timedelta(days=settings.max_past_days),
    )
    sla_clock = PartitionClock(clock, lateness=timedelta(seconds=settings.sla_lateness_s))
    committed = CommittedOffsets(settings, settings.app_id)  # ticks; and the inputs, where versions before the feeds left them
    outputs = Outputs(settings.kafka_client_config(), settings.producer_linger_ms)
    published = PublishedIds(settings)
    tracker, probes, contacts = (_trackers(app, settings, policy, sla_clock, outputs, published) if policy
                                 else (None, None, None))
    feed = ProbeFeed(settings, limits, outputs, sla_clock, clock, probes, before=committed)
    events = EventFeed(settings, limits, outputs, sla_clock, clock, tracker, before=committed)
    contact_feed = ContactFeed(settings, limits, outputs, sla_clock, clock, contacts, before=committed)
    feeds: tuple[Feed, ...] = (events, feed, contact_feed)
    if probes is not None and tracker is not None and contacts is not None:
        _ticks(app, settings, tracker, probes, contacts, feeds, sla_clock, committed, published)
    for each in feeds:
        _reading(app, each)

    def held() -> list[tuple[str, int, int, float]]:
        """Per partition, the oldest record not acknowledged: topic, partition, offset, age in seconds."""
        out = [(topic, p, offset, age) for (topic, p), (offset, age) in events.oldest().items()]
        return out + [(each.topic, p, offset, age) for each in (feed, contact_feed)
                      for p, (offset, age) in each.oldest().items()]

    # Probe results wait for their minute, about a minute and a half; a contact for its interval
    # (15 minutes) and the lateness after it.
    expected = {contact_feed.topic: settings.contact_lateness_s + 2 * 15 * 60}

    @app.timer(interval=30.0)
    async def report_held() -> None:
        for topic, partition, offset, age in held():
            if age > expected.get(topic, 60):
                log.warning("%s[%d]: offset %d unacknowledged for %.0f s", topic, partition, offset, age,
                            extra={"topic": topic, "partition": partition, "offset": offset})

    def forget_pending(sender: Any, *args: Any, **kwargs: Any) -> None:
        for each in feeds:  # what is not committed is read again by the partitions' next owner
            each.release()

    app.on_partitions_revoked.connect(forget_pending)  # type: ignore[arg-type]  # mode's stub is too narrow
    live_gauge("slastream_oldest_unacked_age_seconds", lambda: [((t, str(p)), age) for t, p, _, age in held()])
    live_gauge("slastream_table_store_bytes", lambda: [((), _disk_bytes(settings.data_dir))])
    if watch is not None:
        _watched(app, watch, set(settings.input_topics.values()))
        watch.lag.also = lambda: frozenset(tp for each in feeds for tp in list(each.held))
    return app


def _reading(app: faust.App, feed: Feed) -> None:
    """Run `feed` beside Faust; a failure stops the worker (a restart resumes from the commits)."""

    async def read() -> None:
        try:
            await feed.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("reading %s failed; stopping the worker", ", ".join(feed.topics.values()))
            await app.crash(exc)

    read.__name__ = read.__qualname__ = f"read_{'_'.join(feed.topics)}"
    app.task(read)


def _fetch_state(consumer: Any, tp: Any) -> str:
    """Where Faust and aiokafka hold `tp`, for the log of a stall (their private fields)."""
    faust_sets = [name for name in ("active", "paused", "buffered")
                  if tp in (getattr(consumer, f"_{name}_partitions", None) or ())]
    try:
        assignment = consumer._thread._ensure_consumer()._fetcher._subscriptions.subscription.assignment
        state = assignment.state_value(aiokafka.TopicPartition(tp.topic, tp.partition))
        client = (f"aiokafka paused {state.paused}, position {state._position}, highwater {state.highwater}"
                  if state is not None else "aiokafka: not assigned")
    except Exception as exc:  # diagnostics only: Faust's internals may differ
        client = f"aiokafka state unknown ({exc!r})"
    return f"Faust sets {faust_sets or 'none'}, {client}"


def _watched(app: faust.App, watch: Watch, inputs: set[str]) -> None:
    """Keep `watch` current: a heartbeat from the event loop, the owned input partitions."""
    assigned = {"now": False}

    @app.timer(interval=1.0)
    async def beat() -> None:
        watch.alive()

    def on_assigned(sender: Any, assigned_tps: Any = (), **kwargs: Any) -> None:
        watch.lag.owned = frozenset((tp.topic, tp.partition) for tp in assigned_tps if tp.topic in inputs)
        assigned["now"] = True

    def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned["now"] = False
        watch.lag.owned = frozenset()

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]
    watch.checks["partitions_assigned"] = lambda: assigned["now"]
    watch.checks["tables_recovered"] = lambda: not (app.rebalancing or app.in_recovery)


def _trackers(
    app: faust.App, settings: Settings, policy: Policy, clock: PartitionClock, outputs: Outputs,
    published: PublishedIds,
) -> tuple[SlaTracker, ProbeTracker, ContactTracker]:
    """Tables and trackers for live SLA, SLO and contact tracking; what they send to the
    breach topic leaves out ids already there (`published`)."""
    rocksdb = {
        "block_cache_size": settings.rocksdb_block_cache_mb * 2**20,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * 2**20 // 4,
        "write_buffer_size": settings.rocksdb_write_buffer_mb * 2**20,
    }
    direct = {
        kind: cast(DirectTable, app.tables.add(DirectTable(
            app, outputs=outputs, name=name, default=None, beacon=app.tables.beacon,
            partitions=settings.topic_partitions, key_type=bytes, value_type=bytes,
            options=rocksdb if settings.store.startswith("rocksdb") else None)))
        for kind, name in TABLES.items()
    }
    tables = {kind: cast(Table, table) for kind, table in direct.items()}

    async def publish(events: Sequence[Record], statuses: Sequence[Record]) -> None:
        outputs.send(settings.topic_breaches, published.fresh(events), lifecycle=True)
        outputs.send(settings.topic_instances, statuses)

    async def publish_slo(closed: Sequence[Record], alerts: Sequence[Record], statuses: Sequence[Record]) -> None:
        outputs.send(settings.topic_minutes, closed)
        outputs.send(settings.topic_breaches, published.fresh(alerts), lifecycle=True)
        outputs.send(settings.topic_slo_status, statuses)

    tracker = SlaTracker(
        ClockEngine(policy), {k: tables[k] for k in ("ticket", "incident")}, publish, clock.wall, settings.entry_cache,
        stored=outputs.stored, read=lambda kind, partition, key: direct[kind].get_in(partition, key),
        write=lambda kind, partition, key, value: (direct[kind].put_in(partition, key, value) if value is not None
                                                   else direct[kind].pop_in(partition, key)),
    )
    probes = ProbeTracker(
        SloPlan(policy), tables["probe"], publish_slo, clock.wall,
        lateness=timedelta(seconds=settings.probe_lateness_s), idle=timedelta(seconds=settings.probe_idle_s),
        status_every=settings.slo_status_every_min, stored=outputs.stored,
    )

    async def publish_contacts(intervals: Sequence[Record], alerts: Sequence[Record]) -> None:
        outputs.send(settings.topic_contact_intervals, intervals)
        outputs.send(settings.topic_breaches, published.fresh(alerts), lifecycle=True)

    contacts = ContactTracker(
        policy, tables["contact"], publish_contacts, clock.wall, lateness=timedelta(seconds=settings.contact_lateness_s),
        idle=timedelta(seconds=settings.contact_idle_s), keep=timedelta(days=settings.contact_keep_days),
        stored=outputs.stored,
    )
    return tracker, probes, contacts


def _ticks(app: faust.App, settings: Settings, tracker: SlaTracker, probes: ProbeTracker, contacts: ContactTracker,
           feeds: tuple[Feed, ...], clock: PartitionClock, committed: CommittedOffsets,
           published: PublishedIds) -> None:
    """The tick topic and agent that fire deadlines, close minutes and publish contact intervals
    (every output of the trackers is sent in a tick, after the breach topic's ids are read)."""
    ticks_name = ticks_topic(settings)
    # Tables can only be written inside stream iteration, so a timer cannot fire deadlines
    # or close minutes itself: the leader sends a tick to every partition of a topic
    # co-partitioned with the inputs, and the owner of each partition advances its state.
    ticks = app.topic(ticks_name, internal=True, partitions=settings.topic_partitions,
                      retention=timedelta(hours=1))

    @app.timer(interval=settings.tick_interval_s, on_leader=True)
    async def send_ticks() -> None:
        for partition in range(settings.topic_partitions):
            await ticks.send(value=b"", partition=partition)

    async def settle(partition: int) -> None:
        """Ask the broker where the inputs of `partition` stand when reading cannot tell
        (after a takeover, or an end unknown when the last record came); clocks hold till then."""
        for kind in clock.unsure(partition, settings.input_topics):
            topic = settings.input_topics[kind]
            for feed in feeds:
                position = await feed.position(topic, partition) if topic in feed.kinds else None
                if position is not None:
                    clock.learn(kind, partition, *position)

    last_tick: dict[int, float] = {}  # partition -> monotonic time of its last tick handled
    handled: dict[int, int] = {}  # partition -> offset of its last tick handled
    stalled_ticks: StallWatch[int] = StallWatch(settings.stall_s)

    @app.agent(ticks, name="sla-ticks", concurrency=1)
    async def on_ticks(stream: StreamT) -> None:
        async for event in stream.events():
            partition = event.message.partition
            if event.message.offset < (app.consumer.highwater(event.message.tp) or 0) - 1:
                # A newer tick of this partition is already in Kafka and does all this one would:
                # ticks taking longer than they come would otherwise queue up without end (and
                # Faust stops fetching a partition whose queue is that full).
                TICKS_SKIPPED.inc()
                continue
            try:
                with TICK_SECONDS.time():
                    for feed in feeds:  # the tables' partition is recovered by now
                        await feed.own(partition)
                    await settle(partition)
                    await published.ready()
                    await tracker.on_tick(partition, lambda kind: clock.now(kind, partition), wait=False)
                    if tracker.behind(partition):  # more deadlines due than one tick fires: the next at once
                        await ticks.send(value=b"", partition=partition)
                    await probes.on_tick(partition, clock.caught_up("probe", partition))
                    await contacts.on_tick(partition, clock.caught_up("contact", partition))
                TICKS.inc()
                last_tick[partition] = time.monotonic()
                handled[partition] = event.message.offset
            except Exception as exc:
                # In-memory state may be half applied: stop, so that a restart resumes from the
                # tables and committed offsets (Faust would restart this agent on that state).
                log.exception("tick processing failed on partition %d; stopping the worker", partition,
                              extra={"topic": ticks_name, "partition": partition, "offset": event.message.offset})
                await app.crash(exc)
                return

    def forget(sender: Any, *args: Any, **kwargs: Any) -> None:
        tracker.forget()  # partitions may move; each is re-indexed (and recovered) when next touched
        probes.forget()
        contacts.forget()
        clock.forget()
        published.stale()
        last_tick.clear()
        stalled_ticks.forget()

    if settings.stall_s > 0:
        @app.timer(interval=min(10.0, settings.stall_s / 3))
        async def check_ticks() -> None:
            """Stop the worker when a tick partition it holds handles no tick for STALL_S: ticks
            drive everything (deadlines, minutes, which input partitions the feeds read), and
            the leader sends one every TICK_INTERVAL_S, so a silent partition means a stuck
            agent or tick producer; a restart resumes from the tables and commits."""
            owned = {tp.partition: tp for tp in app.consumer.assignment() if tp.topic == ticks_name}
            if owned:  # no tick comes while the broker is away: a window counts only if it answered quickly
                asked = time.monotonic()
                await committed.position(ticks_name, next(iter(owned)))
                if time.monotonic() - asked > 5:
                    stalled_ticks.forget()
                    return
            if app.rebalancing or app.in_recovery:
                stalled_ticks.forget()
                return
            for partition in stalled_ticks.idle(time.monotonic(), {p: handled.get(p) for p in owned}):
                problem = (f"{ticks_name}[{partition}]: no tick handled for {settings.stall_s:.0f} s (last at offset "
                           f"{handled.get(partition)}; {_fetch_state(app.consumer, owned[partition])}); stopping "
                           "the worker so that it resumes from the tables and committed offsets")
                log.error("%s", problem, extra={"topic": ticks_name, "partition": partition})
                await app.crash(StalledPartition(problem))
                return

    live_gauge("slastream_seconds_since_tick", lambda: [((str(p),), time.monotonic() - t)
                                                        for p, t in list(last_tick.items())])
    live_gauge("slastream_sla_due_deadlines", lambda: [((), len(tracker.due))])
    live_gauge("slastream_probe_open_minutes", lambda: [((), probes.open_minutes())])

    app.on_partitions_revoked.connect(forget)  # type: ignore[arg-type]  # mode's stub is too narrow


def _disk_bytes(path: Path) -> int:
    """Bytes of the files under `path`; a file RocksDB removes meanwhile counts 0."""
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total
