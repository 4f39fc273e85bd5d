"""Provision slastream's topics with confluent-kafka's AdminClient (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient, NewTopic

from streams.settings import Settings


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
    """
    inputs = {"cleanup.policy": "delete", "retention.ms": str(settings.input_retention_ms)}
    outputs = {"cleanup.policy": "delete", "retention.ms": str(settings.output_retention_ms)}
    return [
        *(TopicSpec(name, settings.topic_partitions, inputs) for name in settings.input_topics.values()),
        TopicSpec(settings.topic_breaches, settings.topic_partitions, outputs),
        TopicSpec(settings.topic_minutes, settings.topic_partitions, outputs),
        TopicSpec(settings.topic_deadletter, settings.topic_partitions, outputs),
        # Latest status per SLA instance: compaction keeps exactly that.
        TopicSpec(settings.topic_instances, settings.topic_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(settings.topic_slo_status, settings.topic_partitions, {"cleanup.policy": "compact"}),
    ]


def create_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; returns topic -> "created" | "exists" | "exists (N partitions)".

    Existing topics are left as they are (running twice changes nothing); a partition
    count that differs from the settings is reported, not changed.
    """
    admin = AdminClient(settings.kafka_client_config())
    existing = admin.list_topics(timeout=timeout).topics
    result: dict[str, str] = {}
    new = []
    for spec in topic_specs(settings):
        if spec.name in existing:
            have = len(existing[spec.name].partitions)
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
