"""What the live benchmarks share: an isolated pipeline (topics, worker env) and measurements."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer

from streams.settings import Settings, topic_env
from streams.topics import create_topics


def isolated_run(prefix: str, partitions: int = 3, policy: str | None = None, **extra: str) -> tuple[dict[str, str], Settings, Path]:
    """Fresh topics and a worker environment of their own: (env, settings, temp dir)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"slastream-{prefix}-"))
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
        "APP_ID": name, "DATA_DIR": str(tmp / "worker"), "CLICKHOUSE_DSN": f"chdb://{tmp / 'chdb'}",
        "WEB_ENABLED": "false", "TOPIC_PARTITIONS": str(partitions), **topic_env(name), **extra,
    }
    if policy is not None:
        (tmp / "policy.yaml").write_text(policy)
        env["SLA_POLICY_FILE"] = str(tmp / "policy.yaml")
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    create_topics(settings)
    return env, settings, tmp


def raw_consume_rate(settings: Settings, topic: str, n: int) -> float:
    """Baseline: records/s a bare confluent-kafka consumer reads the first `n` records of `topic`."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"raw-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, started = 0, None
    while seen < n:
        batch = consumer.consume(1000, timeout=1.0)
        started = started or (time.perf_counter() if batch else None)
        seen += sum(1 for m in batch if not m.error())
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return n / elapsed
