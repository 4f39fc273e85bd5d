"""All runtime configuration in one object: environment variables, then an optional file.

Environment variables win over the file named by SLASTREAM_CONFIG (YAML). Secrets
(SASL password, ClickHouse password) come only from these two places.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from schemas.errors import UserError
from streams.logs import LIBRDKAFKA


def topic_env(prefix: str) -> dict[str, str]:
    """Environment variables naming every topic `<prefix>.<role>` (isolated runs: demo, tests, benchmarks):
    one for each `topic_<role>` setting that names a topic."""
    roles = [name.removeprefix("topic_") for name in Settings.model_fields
             if name.startswith("topic_") and name not in ("topic_partitions", "topic_replication")]
    return {f"TOPIC_{role.upper()}": f"{prefix}.{role}" for role in roles}


class Settings(BaseSettings):
    """slastream settings; each field maps to the upper-case environment variable."""

    model_config = SettingsConfigDict(extra="forbid", case_sensitive=False)

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # How long commands wait for a first answer from the broker before saying it is unreachable.
    kafka_connect_timeout_s: float = Field(default=10.0, gt=0)

    # Topics
    topic_incidents: str = "sla.incidents"
    topic_tickets: str = "sla.tickets"
    topic_probes: str = "sla.probes"
    topic_contacts: str = "sla.contacts"
    topic_breaches: str = "sla.breaches"
    topic_deadletter: str = "sla.deadletter"
    topic_instances: str = "sla.instances"
    topic_minutes: str = "slo.minutes"
    topic_slo_status: str = "slo.status"
    topic_probe_events: str = "slo.probe_events"  # the probe results the workers accepted, as input_events rows
    topic_contact_intervals: str = "sla.contact_intervals"  # closed 15-minute contact intervals (docs/contacts.md)
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    input_retention_ms: int = 7 * 24 * 3600 * 1000
    output_retention_ms: int = 30 * 24 * 3600 * 1000

    # Worker
    app_id: str = "slastream"
    sla_policy_file: Path | None = None
    # OpenSLO v1 SLO documents; their contracts join the policy's (or stand alone).
    openslo_file: Path | None = None
    # A quarter second: a deadline waits for the next tick, so this is the floor of a breach's
    # delay; each tick costs about 1.7 ms of CPU (docs/architecture.md, fifteenth round).
    tick_interval_s: float = Field(default=0.25, gt=0)
    # Ticket and incident states kept parsed in memory (about 4 kB each in RSS): a deadline or
    # event of an entity not kept reads and parses its entry and catches it up. Enough for the
    # open tickets of a large desk (docs/architecture.md, sixteenth round).
    entry_cache: int = Field(default=65_536, ge=1)
    data_dir: Path = Path("var/worker")
    store: str = "rocksdb://"
    # RocksDB opens one database per table partition; Faust's defaults (2 GiB block cache,
    # 3 x 64 MiB write buffers each) would reserve far more memory than SLA state needs.
    rocksdb_block_cache_mb: int = Field(default=64, ge=1)
    rocksdb_write_buffer_mb: int = Field(default=8, ge=1)
    # A crashed worker's partitions move to the others after this long without heartbeats.
    kafka_session_timeout_s: float = Field(default=10.0, ge=6.0)
    # While an input partition has a backlog, SLA deadlines fire this far behind its largest
    # event time read, so records out of event-time order by less are applied first.
    sla_lateness_s: float = Field(default=60.0, ge=0)
    # Probe minutes close once the largest event time seen is this far past their end ...
    probe_lateness_s: float = Field(default=60.0, ge=0)
    # ... or, on a partition without new results for this long, once the wall clock is.
    probe_idle_s: float = Field(default=120.0, gt=0)
    # While a partition works through a backlog, one SLO status row per (contract, service,
    # SLI) per this many minutes of event time (and one whenever an alert changes); the
    # newest is published once the partition is caught up, and every minute's from then on.
    slo_status_every_min: int = Field(default=5, ge=1)
    # Contact intervals are published once the largest end time of their contacts is this far
    # past their end (later contacts publish them again, corrected) ...
    contact_lateness_s: float = Field(default=900.0, ge=0)
    # ... or, on a partition without new contacts for this long, once the wall clock is;
    contact_idle_s: float = Field(default=120.0, gt=0)
    # and kept this long for corrections: a contact of an older interval is refused as late.
    contact_keep_days: float = Field(default=3.0, gt=0)
    # How long the worker's producer gathers outputs into one request: with 0 each output was
    # its own produce request (docs/architecture.md, "Throughput").
    producer_linger_ms: float = Field(default=10.0, ge=0)
    # After each assignment the worker reads the ids the breach topic got this long back and
    # does not send them again (a predecessor killed before it recorded them); 0: off
    # (streams/worker/published_ids.py).
    output_dedupe_s: float = Field(default=300.0, ge=0)
    # A worker with a tick partition that handled no tick for this long stops so that its
    # supervisor restarts it (streams/worker/stall.py); 0: never.
    stall_s: float = Field(default=60.0, ge=0)
    # A worker whose stop takes longer than this (e.g. a final commit to an absent broker) exits.
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    web_enabled: bool = True
    web_port: int = 6066
    web_bind: str = "127.0.0.1"  # 0.0.0.0 in a container, so the port can be published
    max_event_bytes: int = 64 * 1024
    max_future_s: float = 3600
    max_past_days: float = 400

    # Operations (docs/operations.md): /metrics, /health and /ready over HTTP; 0 turns it off.
    # Worker and sink need ports of their own (one per worker process on a machine).
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    sink_metrics_port: int = Field(default=9109, ge=0, le=65535)
    metrics_bind: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can reach it
    # /ready answers 503 while the process's own partitions lag more than this many records.
    ready_max_lag: int = Field(default=100_000, ge=0)
    # /health answers 503 once the process's loop has not come round for this long.
    health_stall_s: float = Field(default=60.0, gt=0)
    # How often consumer lag per partition is asked of the broker (a thread of its own).
    lag_interval_s: float = Field(default=5.0, gt=0)
    log_format: Literal["text", "json"] = "text"
    # The SLA portal (docs/portal.md): `slastream portal`, or the sink with SINK_PORTAL=true
    # (embedded chDB: only the process owning the data directory can read it).
    portal_users_file: Path | None = None
    portal_port: int = Field(default=8080, ge=1, le=65535)
    portal_bind: str = "127.0.0.1"
    sink_portal: bool = False

    # ClickHouse
    clickhouse_dsn: str = Field(default_factory=lambda: f"chdb://{Path('var/chdb').resolve()}")
    clickhouse_password: SecretStr | None = None
    batch_rows: int = Field(default=10_000, ge=1)
    flush_interval_s: float = Field(default=1.0, gt=0)
    # `slastream sink`: the first wait before an insert ClickHouse refused is tried again;
    # each further refusal doubles it, up to the second setting.
    sink_retry_s: float = Field(default=1.0, gt=0)
    sink_retry_max_s: float = Field(default=30.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SLASTREAM_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise UserError(f"SLASTREAM_CONFIG names {config_file}, which is not a file; fix the path or unset it")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @property
    def input_topics(self) -> dict[str, str]:
        """Event kind -> topic name."""
        return {"incident": self.topic_incidents, "ticket": self.topic_tickets, "probe": self.topic_probes,
                "contact": self.topic_contacts}

    @property
    def sink_group(self) -> str:
        """The sink's consumer group: apart from the workers', it commits what is stored."""
        return f"{self.app_id}-sink"

    @property
    def probe_group(self) -> str:
        """Where the workers commit the probe topic: they read it with librdkafka, beside Faust
        (streams/worker/probe_feed.py), so its offsets are not the Faust group's."""
        return f"{self.app_id}-probes"

    @property
    def events_group(self) -> str:
        """Where the workers commit the ticket and incident topics, read like the probe topic
        (streams/worker/event_feed.py)."""
        return f"{self.app_id}-events"

    @property
    def contact_group(self) -> str:
        """Where the workers commit the contact topic (streams/worker/contact_feed.py)."""
        return f"{self.app_id}-contacts"

    def worker_group(self, topic: str) -> str:
        """The consumer group in which the workers commit input `topic`."""
        return {self.topic_probes: self.probe_group, self.topic_contacts: self.contact_group}.get(topic, self.events_group)

    def kafka_client_config(self) -> dict[str, Any]:
        """librdkafka (confluent-kafka) connection properties."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
            "logger": LIBRDKAFKA,
        }
        if self.kafka_security_protocol.startswith("SASL"):
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
            conf["sasl.username"] = self.kafka_sasl_username or ""
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""
        if self.kafka_ssl_cafile:
            conf["ssl.ca.location"] = str(self.kafka_ssl_cafile)
        if self.kafka_ssl_certfile:
            conf["ssl.certificate.location"] = str(self.kafka_ssl_certfile)
        if self.kafka_ssl_keyfile:
            conf["ssl.key.location"] = str(self.kafka_ssl_keyfile)
        return conf

    def ssl_context(self) -> ssl.SSLContext | None:
        """SSL context for the Faust (aiokafka) driver, when TLS is on."""
        if "SSL" not in self.kafka_security_protocol:
            return None
        ctx = ssl.create_default_context(cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)
        if self.kafka_ssl_certfile:
            ctx.load_cert_chain(str(self.kafka_ssl_certfile), str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None)
        return ctx


def load_settings() -> Settings:
    """Settings from the environment and SLASTREAM_CONFIG, or a UserError naming each bad one.

    The message names the setting and what is wrong, never its value (it may be a secret).
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {name!r} in SLASTREAM_CONFIG (misspelt?)")
            else:
                problems.append(f"{name.upper()}: {err['msg']}")
        raise UserError("bad setting: " + "; ".join(problems)) from None
