"""What the live benchmarks share: an isolated pipeline (topics, worker env) and measurements."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, NamedTuple

import orjson
from confluent_kafka import Consumer

from streams.kafka_util import lag, worker_lag
from streams.settings import Settings, topic_env
from streams.tools.workerproc import WorkerProcess, cpu_seconds, peak_rss_mib
from streams.topics import create_topics, delete_topics

# Topics get the worker's own default partition count (TOPIC_PARTITIONS), so the benches
# measure the configuration users run; --partitions sets another.
DEFAULT_PARTITIONS = Settings.model_fields["topic_partitions"].default


def isolated_run(prefix: str, partitions: int = DEFAULT_PARTITIONS, policy: str | None = None, **extra: str) -> tuple[dict[str, str], Settings, Path]:
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
    fields: dict[str, Any] = {k.lower(): v for k, v in env.items()}  # strings, parsed as from the environment
    settings = Settings(**fields)
    create_topics(settings)
    atexit.register(delete_topics, settings, name)
    return env, settings, tmp


def raw_consume(settings: Settings, topics: list[str], n: int, decode: bool = False) -> tuple[float, list[tuple[str, bytes]]]:
    """Baseline: seconds a bare confluent-kafka consumer takes to read the first `n` records
    of `topics` (from its first record on; `decode`: and parse each value's JSON), and those
    records as (topic, value)."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"raw-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    seen: list[tuple[str, bytes]] = []
    started = None
    while len(seen) < n:
        batch = consumer.consume(1000, timeout=1.0)
        started = started or (time.perf_counter() if batch else None)
        seen.extend((m.topic() or "", m.value() or b"") for m in batch if not m.error())
        if decode:
            for m in batch:
                orjson.loads(m.value() or b"null")
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed, seen


class Measured(NamedTuple):
    """How a group of consumer processes read `total` records."""

    rate: float  # events/s from the start of the processes
    steady: float  # events/s after the group's first commit
    first_commit_s: float  # seconds from the start to the first commit
    cpu_s: float  # CPU seconds of all the processes
    peak_mib: float  # the largest peak RSS of one process
    anon_mib: float  # the largest anonymous RSS seen of one process (without mapped files such as libraries)
    broker_cpu_s: float | None  # CPU seconds the local broker used meanwhile (None: not known)
    wall_s: float  # seconds from the start to the last commit
    restarts: int  # worker processes that stopped themselves and were started again

    def cores(self) -> str:
        """Cores kept busy by the processes and the broker together, e.g. "1.7 (broker 0.4)"."""
        broker = self.broker_cpu_s
        used = (self.cpu_s + (broker or 0.0)) / self.wall_s
        return f"{used:.2f}" + ("" if broker is None else f" (broker {broker / self.wall_s:.2f})")


def broker_pid() -> int | None:
    """The local broker's process (deploy/kafka/kafka-local's pid file), when it runs here."""
    pidfile = Path(os.environ.get("KAFKA_LOCAL_DIR", Path(__file__).resolve().parents[1] / ".kafka-local")) / "broker.pid"
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


Consumers = list[subprocess.Popen[bytes]] | list[WorkerProcess]


def measure(start: Callable[[], Consumers], settings: Settings, group: str | None, topics: list[str],
            total: int) -> Measured:
    """Start consumer processes (one group; None: the workers, each topic in its group) and time
    them over `total` records by the group's commits, with the CPU time of the processes and of the local broker meanwhile. Worker
    processes are supervised (one that stops itself is started again, and counted)."""
    broker = broker_pid()
    broker_cpu0 = cpu_seconds(broker) if broker else 0.0
    procs = start()
    cpu: dict[int, float] = {}  # per process id, as last seen: a restarted process's time still counts
    peak: dict[int, float] = {}
    anon: dict[int, float] = {}
    try:
        t0 = time.perf_counter()
        t_first = lag_first = None
        while True:
            for p in procs:
                cpu[p.pid] = cpu_seconds(p.pid) or cpu.get(p.pid, 0.0)
                peak[p.pid] = max(peak_rss_mib(p.pid), peak.get(p.pid, 0.0))
                anon[p.pid] = max(peak_rss_mib(p.pid, "RssAnon"), anon.get(p.pid, 0.0))
            if (left := lag(settings, group, topics) if group else worker_lag(settings, topics)) <= 0:
                break
            for p in procs:
                if not (p.keep_alive() if isinstance(p, WorkerProcess) else p.poll() is None):
                    raise RuntimeError(f"{group or 'worker'}: a process exited")
            if t_first is None and left < total:
                t_first, lag_first = time.perf_counter(), left
            time.sleep(0.2)
        t_done = time.perf_counter()
        if t_first is None or lag_first is None:  # done between two looks
            t_first, lag_first = t_done, 0
        return Measured(total / (t_done - t0), lag_first / max(t_done - t_first, 1e-9), t_first - t0,
                        sum(cpu.values()), max(peak.values()), max(anon.values()), cpu_seconds(broker) - broker_cpu0 if broker else None,
                        t_done - t0, sum(p.restarts for p in procs if isinstance(p, WorkerProcess)))
    finally:
        for p in procs:
            if isinstance(p, WorkerProcess):
                p.stop(60)
            else:
                p.terminate()
                p.wait(60)


def processes(env: dict[str, str], tmp: Path, command: str, n: int, label: str = "") -> list[WorkerProcess]:
    """`n` worker (or sink) processes of one group, each with a data directory of its own
    (named by `label`, default the command)."""
    label = label or command
    return [WorkerProcess({**env, "DATA_DIR": str(tmp / f"{label}{i}")}, tmp / f"{label}{i}.log", command=command,
                          supervised=command == "worker") for i in range(n)]


def start_all(group: list[WorkerProcess]) -> list[WorkerProcess]:
    """Start every process of `group` (for measure)."""
    return [p.start() for p in group]


def bare_faust(env: dict[str, str], settings: Settings, topics: list[str], total: int,
               tmp: Path) -> Measured:
    """The baseline every worker figure stands beside: a bare Faust agent per topic that only
    iterates (bench/bare_faust.py, a consumer group of its own), measured like the worker."""
    group = f"{settings.app_id}-bare"
    command = [sys.executable, str(Path(__file__).with_name("bare_faust.py")), group, *topics]
    return measure(lambda: [subprocess.Popen(command, env={**os.environ, **env, "DATA_DIR": str(tmp / "bare")},
                                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)],
                   settings, group, topics, total)
