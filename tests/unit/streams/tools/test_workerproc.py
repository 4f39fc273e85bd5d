"""The supervisor the demo and the benchmarks give their workers (streams/tools/workerproc.py)."""

from __future__ import annotations

from pathlib import Path

from schemas.errors import USAGE
from streams.tools.workerproc import WorkerProcess


def idle_sink(tmp_path: Path, supervised: bool) -> WorkerProcess:
    # A sink whose broker never answers keeps running (librdkafka retries): a process to kill.
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "CLICKHOUSE_DSN": f"chdb://{tmp_path / 'chdb'}",
           "SINK_METRICS_PORT": "0", "DATA_DIR": str(tmp_path / "data")}
    return WorkerProcess(env, tmp_path / "sink.log", command="sink", supervised=supervised).start()


def test_a_supervised_process_that_ends_is_started_again_until_it_is_stopped(tmp_path: Path) -> None:
    process = idle_sink(tmp_path, supervised=True)
    try:
        first = process.pid
        process.kill()  # as a crash, or a worker stopping itself
        assert process.keep_alive()
        assert process.alive() and process.pid != first and process.restarts == 1
        process.stop()
        assert not process.keep_alive() and process.restarts == 1  # stopped on purpose: stays stopped
    finally:
        process.stop()


def test_without_supervision_an_ended_process_stays_ended(tmp_path: Path) -> None:
    process = idle_sink(tmp_path, supervised=False)
    process.kill()
    assert not process.keep_alive() and process.restarts == 0


def test_a_usage_mistake_is_not_restarted(tmp_path: Path) -> None:
    process = WorkerProcess({}, tmp_path / "bad.log", command="no-such-command", supervised=True).start()
    assert process.proc is not None
    assert process.proc.wait(60) == USAGE
    assert not process.keep_alive() and process.restarts == 0
