"""Opening embedded ClickHouse: a directory another process holds is refused in one line.

Each opening runs in a process of its own: chDB opens one directory per process for good,
and the tests' own process keeps the session's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOLD = ("import sys, time; from sinks.clickhouse import connect; from sinks.migrate import migrate; "
        "client = connect(sys.argv[1]); migrate(client); print('open', flush=True); time.sleep(60)")  # held while the client lives


def query(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "query", "SELECT 41 + 1"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "CLICKHOUSE_DSN": dsn})


def test_a_database_another_process_holds_is_refused_naming_that_process(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'db'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, dsn], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        refused = query(dsn)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and f"open in another process (pid {holder.pid}: " in refused.stderr
    after = query(dsn)  # the killed holder's status file still names it, but nobody holds the lock
    assert after.returncode == 0 and "42" in after.stdout
