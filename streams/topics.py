"""Provision slastream's topics with confluent-kafka's AdminClient (idempotent)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from schemas.errors import UserError
from streams.kafka_util import require_kafka
from streams.settings import Settings

APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
TABLES = {kind: f"sla-{kind}" for kind in ("ticket", "incident", "probe", "contact")}  # the worker's Faust tables


def ticks_topic(settings: Settings) -> str:
    """The topic the leader sends ticks to (co-partitioned with the inputs)."""
    return f"{settings.app_id}-ticks"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic slastream reads or writes, with its configuration.

    Inputs are replayable for `input_retention_ms`; breach and dead-letter records are
    an event history that consumers read in full, so compaction (keeping only a key's
    last record) would lose warnings and rejected records. The instances topic holds
    the current status per SLA instance (and the status topic per SLO), which is what
    compaction keeps.

    Input records carry the broker's append time, not a time the producer chose: the
    "too far from now" guard judges `occurred_at` by it (docs/events.md).
    """
    inputs = {"cleanup.policy": "delete", "retention.ms": str(settings.input_retention_ms), **APPEND_TIME}
    outputs = {"cleanup.policy": "delete", "retention.ms": str(settings.output_retention_ms)}
    return [
        *(TopicSpec(name, settings.topic_partitions, inputs) for name in settings.input_topics.values()),
        TopicSpec(settings.topic_breaches, settings.topic_partitions, outputs),
        TopicSpec(settings.topic_minutes, settings.topic_partitions, outputs),
        TopicSpec(settings.topic_deadletter, settings.topic_partitions, outputs),
        TopicSpec(settings.topic_probe_events, settings.topic_partitions, outputs),
        TopicSpec(settings.topic_contact_intervals, settings.topic_partitions, outputs),
        # Latest status per SLA instance: compaction keeps exactly that.
        TopicSpec(settings.topic_instances, settings.topic_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(settings.topic_slo_status, settings.topic_partitions, {"cleanup.policy": "compact"}),
    ]


def internal_specs(settings: Settings) -> list[TopicSpec]:
    """Topics the worker's Faust app uses on its own: ticks, table changelogs, leader election.

    Faust would create them itself, but a consumer that subscribes before a new topic shows
    up in its metadata ignores it until the next metadata refresh (5 minutes): no ticks, no
    leader, no deadlines. So the worker creates them before Faust starts. Names and
    settings are the ones Faust derives from APP_ID.
    """
    app, n = settings.app_id, settings.topic_partitions
    return [
        TopicSpec(ticks_topic(settings), n, {"cleanup.policy": "delete", "retention.ms": str(3600 * 1000)}),
        TopicSpec(f"{app}-__assignor-__leader", 1, {"cleanup.policy": "delete"}),
        *(TopicSpec(f"{app}-{table}-changelog", n, {"cleanup.policy": "compact"}) for table in TABLES.values()),
    ]


def require_topics(settings: Settings) -> dict[str, int]:
    """The cluster's topics, once every input and output topic is known to exist.

    Raises a UserError naming any missing topic (`topics create` makes them) or an
    unreachable broker, so a process can check before it writes anything anywhere.
    """
    deadline = time.monotonic() + 5.0  # a topic just created may take a moment to show in the metadata
    while True:
        existing = require_kafka(settings)
        missing = [spec.name for spec in topic_specs(settings) if spec.name not in existing]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if missing:
        raise UserError(f"topic{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found at "
                        f"{settings.kafka_bootstrap_servers}: run `slastream topics create` with the same settings")
    producer_stamped = _producer_stamped(settings, list(settings.input_topics.values()))
    if producer_stamped:
        raise UserError(f"input topic{'s' if len(producer_stamped) > 1 else ''} {', '.join(producer_stamped)} keep "
                        "the producers' record timestamps (message.timestamp.type=CreateTime), which a producer can "
                        "set to any time: run `slastream topics create` to stamp them with the broker's append time")
    return existing


def _producer_stamped(settings: Settings, topics: list[str]) -> list[str]:
    """Those of `topics` whose records keep the time their producer set."""
    if not topics:
        return []
    admin = AdminClient(settings.kafka_client_config())
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in topics], request_timeout=30)
    return [resource.name for resource, future in futures.items()
            if future.result()["message.timestamp.type"].value != APPEND_TIME["message.timestamp.type"]]


def prepare_worker_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Check every topic the worker reads or writes exists (require_topics), and create its internal ones."""
    return _create(settings, internal_specs(settings), require_topics(settings), timeout)


def create_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; returns topic -> "created" | "exists" | "exists (N partitions)".

    Existing topics are left as they are (running twice changes nothing), except that an
    input topic whose records keep their producers' timestamps is set to the broker's
    append time; a partition count that differs from the settings is reported, not changed.
    """
    existing = require_kafka(settings)
    result = _create(settings, topic_specs(settings), existing, timeout)
    stamped = _producer_stamped(settings, [t for t in settings.input_topics.values() if t in existing])
    if stamped:  # created by an older version, or by hand
        admin = AdminClient(settings.kafka_client_config())
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in APPEND_TIME.items()]
        futures = admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, t, incremental_configs=entries)
                                                   for t in stamped], request_timeout=timeout)
        for resource, future in futures.items():
            future.result()
            result[resource.name] += ", now stamped with the broker's append time"
    return result


def _create(settings: Settings, specs: list[TopicSpec], existing: dict[str, int], timeout: float) -> dict[str, str]:
    admin = AdminClient(settings.kafka_client_config())
    result: dict[str, str] = {}
    new = []
    for spec in specs:
        if spec.name in existing:
            have = existing[spec.name]
            result[spec.name] = "exists" if have == spec.partitions else f"exists ({have} partitions)"
        else:
            new.append(NewTopic(spec.name, spec.partitions, settings.topic_replication, config=spec.config))
    for name, future in admin.create_topics(new, request_timeout=timeout).items() if new else []:
        try:
            future.result()
            result[name] = "created"
        except Exception as exc:  # a concurrent creator got there first
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
            result[name] = "exists"
    return result


def delete_topics(settings: Settings, app_id: str) -> None:
    """Best effort: delete the topics of `app_id` (its inputs and outputs, `<app_id>.*`, and
    Faust's own, `<app_id>-*`). For benchmarks and tests, which make a set per run: a broker
    that keeps them all sends thousands of topics in every metadata response (2-5 % of a
    worker's CPU on a broker holding 3,700) and at about 20,000 partitions runs out of open
    files and stops answering."""
    try:
        admin = AdminClient(settings.kafka_client_config())
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith((f"{app_id}.", f"{app_id}-"))]
        for future in admin.delete_topics(topics).values() if topics else ():
            future.result(30)
    except KafkaException:
        pass  # gone already, or the broker is away: nothing to keep
