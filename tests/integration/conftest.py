"""Per-test isolation on the shared broker: own topics, consumer group and ClickHouse path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from streams.settings import Settings, topic_env
from streams.topics import create_topics
from streams.workerproc import WorkerProcess

pytestmark = pytest.mark.integration


@dataclass
class Run:
    """One isolated pipeline: environment for workers and the matching Settings."""

    env: dict[str, str]
    settings: Settings
    chdb_path: Path
    tmp: Path
    workers: list[WorkerProcess]

    def worker(self, **extra_env: str) -> WorkerProcess:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        proc = WorkerProcess({**self.env, **extra_env}, log).start()
        self.workers.append(proc)
        return proc


@pytest.fixture
def run(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Run]:
    name = f"t{uuid.uuid4().hex[:10]}"
    chdb_path = tmp_path / "chdb"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "APP_ID": name,
        "DATA_DIR": str(tmp_path / "worker"),
        "STORE": "memory://",
        "CLICKHOUSE_DSN": f"chdb://{chdb_path}",
        "WEB_ENABLED": "false",
        "TOPIC_PARTITIONS": "3",
        "BATCH_ROWS": "2000",
        "FLUSH_INTERVAL_S": "0.5",
        "TICK_INTERVAL_S": "0.5",
        **topic_env(name),
    }
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    create_topics(settings)
    r = Run(env, settings, chdb_path, tmp_path, [])
    try:
        yield r
    finally:
        for w in r.workers:
            w.kill()
