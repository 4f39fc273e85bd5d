"""Hostile input (issue 11): bad records of every sort between valid ones, through a worker.

Every bad record must reach the dead-letter topic with a reason and fit the broker's
limit, none may be stored, every valid one (before and after them) must be stored, and
the worker must neither crash nor log a traceback. `make test` runs 10,000 records, `make
chaos` 100,000 (FUZZ_RECORDS).
"""

from __future__ import annotations

import os
from collections import Counter

import orjson

from schemas.deadletter import Reason
from streams.kafka_util import read_all
from streams.tools.workerproc import peak_rss_mib
from tests.conftest import clickhouse
from tests.integration.fuzz import BROKER_LIMIT, hostile
from tests.integration.harness import finish, start, workload
from tests.integration.helpers import send

RECORDS = int(os.environ.get("FUZZ_RECORDS", "10000"))
BAD_SHARE = 0.6


def test_hostile_input_is_dead_lettered_and_the_valid_input_around_it_stored(run) -> None:
    valid = workload(round(RECORDS * (1 - BAD_SHARE)), seed=11)
    records, bad = hostile(valid, BAD_SHARE, seed=11)
    send(run.settings, records)
    worker, sink = start(run, "fuzz")
    try:
        finish(run, worker, sink, stall_s=120)
        rss = peak_rss_mib(worker.pid)
        assert worker.alive() and sink.alive()
    finally:
        worker.stop()
        sink.stop()

    dead = read_all(run.settings, run.settings.topic_deadletter)
    reasons = Counter(orjson.loads(m.value())["reason"] for m in dead)
    print(f"\nfuzz: {len(records)} records in, {bad} bad, {len(dead)} dead-lettered {dict(reasons)}; "
          f"worker peak RSS {rss:.0f} MiB")
    assert len(dead) == bad
    assert set(reasons) <= {r.value for r in Reason} - {"late", "processing_error"}
    assert max(len(m.value()) for m in dead) < BROKER_LIMIT
    with clickhouse(run.chdb_path) as client:
        stored = Counter(client.query("SELECT kind, event_id FROM events FINAL").result_rows)
    assert stored == Counter((kind, orjson.loads(value)["event_id"]) for kind, _, value in valid)
    for process in (worker, sink):
        assert "Traceback" not in process.log_path.read_text(errors="replace")
    assert rss < 1500, "memory grew with hostile input"  # about 500 MiB on clean input
