"""What the live benchmarks share: an isolated pipeline (topics, worker env) and measurements."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

from confluent_kafka import Consumer

from streams.kafka_util import lag
from streams.settings import Settings, topic_env
from streams.tools.workerproc import WorkerProcess, cpu_seconds, peak_rss_mib
from streams.topics import create_topics


def isolated_run(prefix: str, partitions: int = 3, policy: str | None = None, **extra: str) -> tuple[dict[str, str], Settings, Path]:
    """Fresh topics and a worker environment of their own: (env, settings, temp dir)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"slastream-{prefix}-"))
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
        "APP_ID": name, "DATA_DIR": str(tmp / "worker"), "CLICKHOUSE_DSN": f"chdb://{tmp / 'chdb'}",
        "WEB_ENABLED": "false", "METRICS_PORT": "0", "SINK_METRICS_PORT": "0",
        "TOPIC_PARTITIONS": str(partitions), **topic_env(name), **extra,
    }
    if policy is not None:
        (tmp / "policy.yaml").write_text(policy)
        env["SLA_POLICY_FILE"] = str(tmp / "policy.yaml")
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    create_topics(settings)
    return env, settings, tmp


def raw_consume(settings: Settings, topics: list[str], n: int) -> tuple[float, list[tuple[str, bytes]]]:
    """Baseline: seconds a bare confluent-kafka consumer takes to read the first `n` records
    of `topics` (from its first record on), and those records as (topic, value)."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"raw-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    seen: list[tuple[str, bytes]] = []
    started = None
    while len(seen) < n:
        batch = consumer.consume(1000, timeout=1.0)
        started = started or (time.perf_counter() if batch else None)
        seen.extend((m.topic(), m.value()) for m in batch if not m.error())
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed, seen


def measure(start: Callable[[], list[subprocess.Popen[bytes]]], settings: Settings, group: str, topics: list[str],
            total: int) -> tuple[float, float, float, float, float]:
    """Start consumer processes (one group) and time them over `total` records by the group's
    commits: (events/s from start, events/s after the first commit, seconds to the first
    commit, CPU seconds of all, the largest peak RSS MiB of one)."""
    procs = start()
    try:
        t0 = time.perf_counter()
        t_first = lag_first = None
        while (left := lag(settings, group, topics)) > 0:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{group}: a process exited with code {proc.returncode}")
            if t_first is None and left < total:
                t_first, lag_first = time.perf_counter(), left
            time.sleep(0.2)
        t_done = time.perf_counter()
        if t_first is None or lag_first is None:  # done between two looks
            t_first, lag_first = t_done, 0
        return (total / (t_done - t0), lag_first / max(t_done - t_first, 1e-9), t_first - t0,
                sum(cpu_seconds(p.pid) for p in procs), max(peak_rss_mib(p.pid) for p in procs))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def processes(env: dict[str, str], tmp: Path, command: str, n: int, label: str = "") -> list[WorkerProcess]:
    """`n` worker (or sink) processes of one group, each with a data directory of its own
    (named by `label`, default the command)."""
    label = label or command
    return [WorkerProcess({**env, "DATA_DIR": str(tmp / f"{label}{i}")}, tmp / f"{label}{i}.log", command=command)
            for i in range(n)]


def start_all(group: list[WorkerProcess]) -> list[subprocess.Popen[bytes]]:
    """Start every process of `group`; their Popen objects (for measure)."""
    started = [p.start().proc for p in group]
    return [proc for proc in started if proc is not None]


def bare_faust(env: dict[str, str], settings: Settings, topics: list[str], total: int,
               tmp: Path) -> tuple[float, float, float, float, float]:
    """The baseline every worker figure stands beside: a bare Faust agent per topic that only
    iterates (bench/bare_faust.py, a consumer group of its own), measured like the worker."""
    group = f"{settings.app_id}-bare"
    command = [sys.executable, str(Path(__file__).with_name("bare_faust.py")), group, *topics]
    return measure(lambda: [subprocess.Popen(command, env={**os.environ, **env, "DATA_DIR": str(tmp / "bare")},
                                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)],
                   settings, group, topics, total)
