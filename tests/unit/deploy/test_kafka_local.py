"""deploy/kafka/kafka-local refuses ports another process already listens on."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "kafka-local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_held_by_another_process_is_refused_with_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(free_port()),
               "KAFKA_LOCAL_DIR": str(tmp_path / "kafka"), "KAFKA_LIB_CACHE": str(tmp_path / "lib")}
        done = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} on 127.0.0.1 is already in use" in lines[0] and "KAFKA_PORT" in lines[0]
    assert not (tmp_path / "kafka" / "broker.pid").exists() and not (tmp_path / "lib").exists()  # nothing fetched or started
