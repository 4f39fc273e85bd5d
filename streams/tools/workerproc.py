"""Run `slastream worker` or `slastream sink` as a child process (demo, integration tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from schemas.errors import FAILED
from streams.kafka_util import lag, worker_lag
from streams.settings import Settings


def peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """A process's peak resident set size (VmHWM) in MiB, or another /proc status field such
    as VmRSS; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class WorkerStalled(RuntimeError):
    """The worker exited or stopped making progress while records were left."""

    def __init__(self, left: int, message: str) -> None:
        super().__init__(message)
        self.left = left


class WorkerProcess:
    """A worker (or, with command "sink", a ClickHouse sink) child process configured by
    environment variables.

    `supervised`: play the supervisor a worker needs (docs/architecture.md): when it ends by
    itself (it stops to resume from the committed offsets, e.g. after a rebalance), start it
    again on the same state directory, up to `MAX_RESTARTS` times. Tests leave it off to see
    every exit."""

    MAX_RESTARTS = 5

    def __init__(self, env: dict[str, str], log_path: Path, command: str = "worker", supervised: bool = False) -> None:
        self.env = env
        self.log_path = log_path
        self.command = command
        self.supervised = supervised
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", self.command, "--loglevel", "info"],
            env={**os.environ, **self.env}, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def keep_alive(self) -> bool:
        """Whether it runs; a supervised process that stopped itself (exit 3) or was killed by a
        signal is started again first, as a supervisor would, up to MAX_RESTARTS times (not
        after a usage mistake, exit 2, nor another failure)."""
        if self.alive():
            return True
        if (not self.supervised or self.proc is None or not (self.proc.returncode == FAILED or self.proc.returncode < 0)
                or self.restarts >= self.MAX_RESTARTS):
            return False
        self.restarts += 1
        self.start()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Stopped on purpose: never restarted."""
        self.supervised = False
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the worker can tell."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str, every: float = 0.25) -> None:
        """Poll `condition` every `every` seconds; fail if the worker dies or time runs out."""
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.keep_alive():
                raise RuntimeError(f"worker exited while waiting for {what}; log: {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout} s; log: {self.log_path}")
            time.sleep(every)

    def wait_committed(self, settings: Settings, topics: list[str], stall_s: float,
                       show: Callable[[int, float], None] = lambda left, stalled: None,
                       peers: Sequence["WorkerProcess"] = ()) -> None:
        """Until the process's group (itself and `peers`) has committed every record of `topics`.

        No deadline (a busy machine is slower, not broken): fails (WorkerStalled) only when
        a process exits or the lag has not shrunk for `stall_s` seconds. `show(left, stalled)`
        is called every half second with the records left and the seconds without progress.
        """
        def left_over() -> int:  # a broker just restarted may not know every topic for a while: no progress, no failure
            if self.command == "sink":
                return lag(settings, settings.sink_group, topics, retry_for=stall_s)
            return worker_lag(settings, topics, retry_for=stall_s)

        best, since = None, time.monotonic()
        while (left := left_over()) > 0:
            if best is None or left < best:
                best, since = left, time.monotonic()
            stalled = time.monotonic() - since
            for process in (self, *peers):
                if not process.keep_alive():
                    raise WorkerStalled(left, f"the {process.command} exited with {left} records left; "
                                              f"see {process.log_path}")
            if stalled > stall_s:
                raise WorkerStalled(left, f"the {self.command} made no progress for {stall_s:g} s with {left} records "
                                          f"left; see {self.log_path}")
            show(left, stalled)
            time.sleep(0.5)

    def wait_drained(self, settings: Settings, timeout: float = 120.0) -> None:
        """Wait until the worker's group has committed every input record."""
        topics = list(settings.input_topics.values())
        self.wait_until(lambda: worker_lag(settings, topics) == 0, timeout, "input drained")


def free_ports(n: int) -> list[int]:
    """`n` TCP ports free on this machine just now (the OS picks them), e.g. for metrics."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
