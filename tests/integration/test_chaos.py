"""Nothing lost under crashes and outages (issue 11): one workload through a worker that is
SIGKILLed at random moments (the sink with it now and then), one joined by a second worker
that later leaves, one whose broker stops, one whose ClickHouse disk is full, each compared
with an uninterrupted run of the same workload.

Every table and view must hold exactly the same rows (none missing, extra or different),
and the lifecycle facts the same ids. `make test` runs a short version (10,000 events, 6
kills, 10 s outages); `make chaos` the full one (CHAOS_EVENTS=40000, CHAOS_KILLS=20,
CHAOS_OUTAGE_S=20, three seeds) and prints its figures.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from sinks.kafka_sink import sink_topics
from streams.kafka_util import group_assignments
from tests.conftest import LocalBroker, clickhouse
from tests.integration.conftest import make_run
from tests.integration.helpers import send
from tests.integration.harness import (WORKER_ENV, Outcome, Record, diff, outcome, run_chaos, run_faulted, run_live,
                                       workload)

KILLS = int(os.environ.get("CHAOS_KILLS", "6"))
EVENTS = int(os.environ.get("CHAOS_EVENTS", "10000"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))
OUTAGE_S = float(os.environ.get("CHAOS_OUTAGE_S", "10"))
CONTACT_HOURS = float(os.environ.get("CHAOS_CONTACT_HOURS", "6"))  # of finished contacts before the events
BROKER_PORT = int(os.environ.get("CHAOS_KAFKA_PORT", "19492"))


@pytest.fixture(scope="module")
def reference(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Record], Outcome]:
    """The workload and what an uninterrupted run leaves of it."""
    records = workload(EVENTS, seed=SEED, contact_hours=CONTACT_HOURS)
    return records, run_live(make_run(kafka_bootstrap, tmp_path_factory.mktemp("reference")), records, "reference")


def assert_same(reference: Outcome, other: Outcome, what: str) -> None:
    tables = diff(reference, other)
    rows = sum(d[0] for d in tables.values())
    missing = sum(d[1] for d in tables.values())
    extra = sum(d[2] for d in tables.values())
    print(f"\n{what}: {rows} rows compared in {len(tables)} tables, {missing} missing, {extra} extra; breach topic "
          f"{other.breach_records} records, {other.breach_ids} ids ({other.copy_rate:.1%} copies per id); "
          f"{len(other.self_stops)} self-stops {other.self_stops}")
    for name, (_, gone, more, examples) in tables.items():
        if gone or more:
            print(f"{name}: {gone} missing, {more} extra", *examples, sep="\n  ")
    assert {name: d for name, d in tables.items() if d[1] or d[2]} == {}, f"{what}: tables differ from the reference"
    assert other.facts == reference.facts


def test_sigkills_at_random_moments_lose_double_and_change_nothing(reference, runs) -> None:
    records, expected = reference
    crashed, chaos = run_chaos(runs(), records, kills=KILLS, seed=SEED)
    print(f"\nchaos: {chaos.kills} kills ({chaos.sink_kills} with the sink), {len(chaos.exits)} self-exits "
          f"{chaos.exits}; "
          f"worker peak RSS {chaos.peak_rss_mib:.0f} MiB")
    assert chaos.kills == KILLS
    assert all(e.startswith("exit 3:") for e in chaos.exits), "a stop the worker decides exits 3"
    assert_same(expected, crashed, f"{KILLS} SIGKILLs")
    if EVENTS >= 40_000:  # the full run (`make chaos`); a short one has too few ids for a rate
        # A new owner leaves out what its killed predecessor had on the breach topic already
        # (streams/worker/published_ids.py): 0.0 % in every stage since; up to 16 % before.
        assert crashed.copy_rate <= 0.01, "alerting systems that do not drop repeated ids would page again"


def test_a_second_worker_joining_and_leaving_changes_nothing(reference, runs) -> None:
    records, expected = reference
    run = runs()

    def second_worker() -> None:
        second = run.worker(**WORKER_ENV, DATA_DIR=str(run.tmp / "second-state"))
        second.wait_until(lambda: len(group_assignments(run.settings, run.settings.app_id)) == 2, 120,
                          "two members sharing the partitions")
        time.sleep(OUTAGE_S)  # both work; then the second one leaves and the first takes all back
        second.stop()

    got = run_faulted(run, records, second_worker, "joined")
    assert_same(expected, got, f"a second worker for {OUTAGE_S:g} s")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of its own, so stopping it disturbs no other test."""
    broker = LocalBroker(BROKER_PORT, tmp_path_factory.mktemp("own-kafka")).start()
    try:
        yield broker
    finally:
        broker.stop()


def test_a_broker_stop_and_start_loses_nothing_and_does_not_flood_the_log(reference, own_broker, tmp_path) -> None:
    records, expected = reference
    run = make_run(own_broker.bootstrap, tmp_path)

    def outage() -> None:
        own_broker.stop()
        time.sleep(OUTAGE_S)
        own_broker.start()

    try:
        got = run_faulted(run, records, outage, "outage")
    finally:
        for worker in run.workers:
            worker.kill()
    assert_same(expected, got, f"broker stopped for {OUTAGE_S:g} s")
    for process in run.workers:  # the worker and the sink
        log = process.log_path.read_bytes()
        print(f"{process.command} log {len(log) / 1024:.0f} KiB, {log.count(b'ERROR')} ERROR lines")
        assert len(log) < 2 * 2**20, f"the outage flooded the {process.command}'s log"


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A 1 GiB tmpfs at `path`, a disk that can be filled (needs root and mount)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_clickhouse_disk_holds_the_input_and_loses_nothing(reference, kafka_bootstrap, tmp_path) -> None:
    records, expected = reference
    run = make_run(kafka_bootstrap, tmp_path)
    filler = run.chdb_path / "filler"

    def disk_full() -> None:
        # The part to break must be stored before the disk fills: stored after (an insert that
        # still fit), the sink could have checked for broken parts before it was broken, with
        # no refused insert left to make it check again (seen when the worker reached a fifth
        # of its input before the sink's first insert).
        sink = next(p for p in run.workers if p.command == "sink")
        sink.wait_until(lambda: largest_live_part(run.chdb_path, "probe_minutes") is not None, 120,
                        "a part of probe_minutes stored")
        with filler.open("wb", buffering=0) as out:  # until the disk refuses (ClickHouse writes meanwhile)
            try:
                while True:
                    out.write(bytes(2**20))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        # A merge that runs out of disk can leave a broken part behind (it did, rarely). One is
        # made here, while no merge can start, so the sink's answer is always tried.
        time.sleep(1)
        break_part(largest_live_part(run.chdb_path, "probe_minutes"))
        # Input goes on meanwhile (copies of tickets already sent, as a retrying producer would
        # send them: nothing changes), so the sink has rows to insert while the disk is full.
        send(run.settings, [r for r in records if r[0] == "ticket"][:100])
        time.sleep(OUTAGE_S)
        filler.unlink()

    with small_disk(run.chdb_path):  # only ClickHouse's directory: the worker's state is elsewhere
        try:
            got = run_faulted(run, records, disk_full, "disk-full")
        finally:
            for worker in run.workers:
                worker.kill()
    log = next(p for p in run.workers if p.command == "sink").log_path.read_text(errors="replace")
    refused = log.count('No space left') + log.count('NOT_ENOUGH_SPACE')
    print(f"insert failures logged while full: {refused}")
    assert_same(expected, got, f"ClickHouse disk full for {OUTAGE_S:g} s")
    assert refused, "no insert was tried while the disk was full"
    assert "again from their first retained record" in log, "the sink did not read the broken part's rows again"


def parts_on_disk(chdb_path: Path, table: str) -> dict[Path, tuple[str, int, int]]:
    """The table's part directories (active or merged away, not yet removed), each with its
    partition and block range, read from the files: the sink may have the ClickHouse
    directory open, and chDB allows one process."""
    folder = chdb_path / "data" / "default" / table
    parts = {}
    for path in folder.iterdir() if folder.exists() else ():
        if match := re.fullmatch(r"(\w+?)_(\d+)_(\d+)_\d+(_\d+)?", path.name):
            parts[path] = (match[1], int(match[2]), int(match[3]))
    return parts


def covered(parts: dict[Path, tuple[str, int, int]], part: Path) -> list[Path]:
    """The other parts whose blocks `part` holds (merged into it)."""
    partition, low, high = parts[part]
    return [p for p, (q, lo, hi) in parts.items() if p != part and q == partition and low <= lo and hi <= high]


def largest_live_part(chdb_path: Path, table: str) -> Path | None:
    """The directory of the table's part covering the most insert blocks; None if none."""
    parts = parts_on_disk(chdb_path, table)
    merged = {p for part in parts for p in covered(parts, part)}
    return max((p for p in parts if p not in merged), key=lambda p: parts[p][2] - parts[p][1], default=None)


def break_part(directory: Path | None) -> None:
    """Truncate a column file of the part in `directory`, as a merge that ran out of disk can
    leave one (all its files were empty)."""
    assert directory is not None, "no part to break"
    with next(directory.glob("*.bin")).open("r+b") as column:
        column.truncate(10)


def break_largest_part(run, table: str) -> int:
    """Break `table`'s largest part, chosen from the files while no ClickHouse is open (one
    open merges parts meanwhile); returns its rows."""
    part = largest_live_part(run.chdb_path, table)
    assert part is not None, f"{table} has no part"
    for source in covered(parts_on_disk(run.chdb_path, table), part):  # as ClickHouse removes them after a while
        shutil.rmtree(source)
    rows = int((part / "count.txt").read_text())
    break_part(part)
    return rows


def counts(run, tables: list[str]) -> dict[str, int]:
    """Rows of each table as stored (copies included); opening it, ClickHouse checks its parts."""
    with clickhouse(run.chdb_path) as client:
        return {table: client.command(f"SELECT count() FROM {table}") for table in tables}


def test_rows_of_a_part_clickhouse_finds_broken_are_read_again_from_kafka(reference, run) -> None:
    records, expected = reference
    run_live(run, records, "broken-part")
    tables = ["input_events", "probe_minutes"]
    before = counts(run, tables)
    broken = {table: break_largest_part(run, table) for table in tables}
    after = counts(run, tables)
    assert {t: before[t] - after[t] for t in tables} == broken, "ClickHouse did not set the broken parts aside"

    sink = run.sink(**WORKER_ENV)
    try:
        sink.wait_until(lambda: "again from their first retained record" in sink.log_path.read_text(), 60,
                        "the sink reading its topics again")
        sink.wait_committed(run.settings, sink_topics(run.settings), 120)
    finally:
        sink.stop()
    assert_same(expected, outcome(run), "two broken parts")
    with clickhouse(run.chdb_path) as client:
        assert sorted(r[0] for r in client.query("SELECT table_name FROM sink_repairs").result_rows) == tables
