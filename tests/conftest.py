"""Session-wide fixtures: the real Kafka broker (started once) and ClickHouse helpers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka.admin import AdminClient

from sinks.clickhouse import connect

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka-local"


def _wait_for_metadata(bootstrap: str, timeout: float = 60.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=5)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise


class LocalBroker:
    """A broker of the project's own script on `port`, with its data in `directory`."""

    def __init__(self, port: int, directory: Path) -> None:
        self.bootstrap = f"127.0.0.1:{port}"
        self._env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1),
                     "KAFKA_LOCAL_DIR": str(directory)}

    def start(self) -> "LocalBroker":
        subprocess.run([str(KAFKA_SCRIPT), "start"], env=self._env, check=True)
        _wait_for_metadata(self.bootstrap)
        return self

    def stop(self) -> None:
        """SIGTERM and wait (a clean stop; its data stays for the next start)."""
        subprocess.run([str(KAFKA_SCRIPT), "stop"], env=self._env, check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running broker: KAFKA_BOOTSTRAP_SERVERS if set, else one started for this session."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        _wait_for_metadata(given)
        yield given
        return
    broker = LocalBroker(int(os.environ.get("TEST_KAFKA_PORT", "19192")), tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.start().bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def clickhouse(path: Path) -> Iterator[Client]:
    """An embedded chDB client on `path`, closed afterwards (chDB allows one per process)."""
    client = connect(f"chdb://{path}")
    try:
        yield client
    finally:
        client.close()
