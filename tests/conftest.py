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


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running broker: KAFKA_BOOTSTRAP_SERVERS if set, else one started for this session."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        _wait_for_metadata(given)
        yield given
        return
    port = int(os.environ.get("TEST_KAFKA_PORT", "19192"))
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(port + 1),
        "KAFKA_LOCAL_DIR": str(tmp_path_factory.mktemp("kafka")),
    }
    subprocess.run([str(KAFKA_SCRIPT), "start"], env=env, check=True)
    try:
        bootstrap = f"127.0.0.1:{port}"
        _wait_for_metadata(bootstrap)
        yield bootstrap
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop"], env=env, check=False)


@contextlib.contextmanager
def clickhouse(path: Path) -> Iterator[Client]:
    """An embedded chDB client on `path`, closed afterwards (chDB allows one per process)."""
    client = connect(f"chdb://{path}")
    try:
        yield client
    finally:
        client.close()
