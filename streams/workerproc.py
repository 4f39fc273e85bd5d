"""Run `slastream worker` as a child process (demo, integration tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from streams.kafka_util import lag
from streams.settings import Settings


class WorkerProcess:
    """A worker child process configured by environment variables."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
            env={**os.environ, **self.env}, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
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
            if not self.alive():
                raise RuntimeError(f"worker exited while waiting for {what}; log: {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout} s; log: {self.log_path}")
            time.sleep(every)

    def wait_drained(self, settings: Settings, timeout: float = 120.0) -> None:
        """Wait until the worker's group has committed every input record."""
        topics = list(settings.input_topics.values())
        self.wait_until(lambda: lag(settings, settings.app_id, topics) == 0, timeout, "input drained")
