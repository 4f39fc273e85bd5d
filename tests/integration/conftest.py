"""Per-test isolation on the shared broker: own topics, consumer group and ClickHouse path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from sinks.kafka_sink import sink_topics
from streams.settings import Settings, topic_env
from streams.tools.workerproc import WorkerProcess
from streams.topics import create_topics, delete_topics

pytestmark = pytest.mark.integration


@dataclass
class Run:
    """One isolated pipeline: environment for workers and the matching Settings."""

    env: dict[str, str]
    settings: Settings
    chdb_path: Path
    tmp: Path
    workers: list[WorkerProcess]

    def worker(self, supervised: bool = False, **extra_env: str) -> WorkerProcess:
        """A worker process; `supervised`: started again when it stops itself (a restarted
        worker may, on a partition Faust does not deliver: streams/worker/stall.py)."""
        log = self.tmp / f"worker-{len(self.workers)}.log"
        proc = WorkerProcess({**self.env, **extra_env}, log, supervised=supervised).start()
        self.workers.append(proc)
        return proc

    def sink(self, **extra_env: str) -> WorkerProcess:
        """A `slastream sink` process (the only one opening the run's ClickHouse directory)."""
        log = self.tmp / f"sink-{len(self.workers)}.log"
        proc = WorkerProcess({**self.env, **extra_env}, log, command="sink").start()
        self.workers.append(proc)
        return proc

    def store(self, stall_s: float = 120.0, **extra_env: str) -> None:
        """Run a sink until everything in the run's topics is stored in ClickHouse, then stop it."""
        sink = self.sink(**extra_env)
        try:
            sink.wait_committed(self.settings, sink_topics(self.settings), stall_s)
        finally:
            sink.stop()


def make_run(kafka_bootstrap: str, tmp: Path) -> Run:
    """An isolated pipeline: its own topics, consumer group and ClickHouse directory under `tmp`."""
    name = f"t{uuid.uuid4().hex[:10]}"
    chdb_path = tmp / "chdb"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "APP_ID": name,
        "DATA_DIR": str(tmp / "worker"),
        "STORE": "memory://",
        "CLICKHOUSE_DSN": f"chdb://{chdb_path}",
        "WEB_ENABLED": "false",
        "METRICS_PORT": "0",  # tests that scrape choose ports of their own
        "SINK_METRICS_PORT": "0",
        "TOPIC_PARTITIONS": "3",
        "BATCH_ROWS": "2000",
        "FLUSH_INTERVAL_S": "0.5",
        "TICK_INTERVAL_S": "0.5",
        "STALL_S": "20",  # well before the harness's own stall limits
        **topic_env(name),
    }
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    create_topics(settings)
    return Run(env, settings, chdb_path, tmp, [])


@pytest.fixture
def runs(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[[], Run]]:
    """A factory of isolated pipelines; their workers are killed at the end."""
    made: list[Run] = []

    def new() -> Run:
        tmp = tmp_path / f"run{len(made)}"
        tmp.mkdir()
        made.append(make_run(kafka_bootstrap, tmp))
        return made[-1]

    try:
        yield new
    finally:
        for r in made:
            for w in r.workers:
                w.kill()
            delete_topics(r.settings, r.settings.app_id)


@pytest.fixture
def run(runs: Callable[[], Run]) -> Run:
    """One isolated pipeline."""
    return runs()
