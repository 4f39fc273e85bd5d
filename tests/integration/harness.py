"""Live equals replay: one workload through the live worker and through the engine offline.

A workload is synthetic input of every kind, produced before the worker starts (so it
works through a backlog on several partitions). `run_live` runs a worker over it to the
end and returns what it left in Kafka and ClickHouse, in a form two runs (or a run and
the replay) can be compared by: every row of every table, with only the columns that do
not name the run (topics, offsets, ingest times). The chaos suite builds on the same.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

from schemas.events import IncidentEvent, TicketEvent
from schemas.policy_files import load_policy
from sinks.kafka_sink import sink_topics
from streams.engine.clocks import ClockEngine
from streams.engine.replay import Replay
from streams.kafka_util import read_all, worker_lag
from streams.tools.synthetic import SyntheticSource, contact_day
from streams.tools.workerproc import WorkerProcess, WorkerStalled, peak_rss_mib
from streams.validate import validate
from tests.conftest import REPO, clickhouse
from tests.integration.helpers import send

POLICY = REPO / "examples" / "demo-policy.yaml"
Record = tuple[str, str, bytes]  # kind, key, value

# Every table and view an analyst reads, by the columns that are the same in any run (not
# topics, offsets or ingest times). Wall-clock dependent parts are cut off in `comparable`.
TABLES = {
    "events": "SELECT kind, event_id, entity_id, occurred_at, source, payload FROM events FINAL",
    "breaches": "SELECT * FROM breaches FINAL",
    "sla_events": "SELECT * FROM sla_events",
    "sla_instances_current": "SELECT instance_id, state, outcome, breached, stopped_at, elapsed_s, level, "
                             "started_at, target_s, contract_id, version, as_of FROM sla_instances_current",
    "probe_minutes": "SELECT * FROM probe_minutes FINAL",
    "probe_hours": "SELECT * FROM probe_hours",
    "slo_minutes": "SELECT * FROM slo_minutes FINAL",
    "slo_alerts": "SELECT * FROM slo_alerts FINAL",
    "slo_status": "SELECT * FROM slo_status FINAL",
    "slo_attainment_monthly": "SELECT * FROM slo_attainment_monthly",
    "service_credits_monthly": "SELECT * FROM service_credits_monthly",
    "incident_mtta_mttr_daily": "SELECT * FROM incident_mtta_mttr_daily",
    "ola_breaches": "SELECT * FROM ola_breaches FINAL",
    "ola_events": "SELECT * FROM ola_events",
    "ola_instances_current": "SELECT instance_id, state, outcome, breached, stopped_at, elapsed_s, level, "
                             "started_at, target_s, ola, version, as_of FROM ola_instance_status FINAL",
    "ola_attainment_monthly": "SELECT * FROM ola_attainment_monthly",
    "sla_time_split": "SELECT * FROM sla_time_split",
    "ticket_handoffs": "SELECT * FROM ticket_handoffs",
    "group_handoffs": "SELECT * FROM group_handoffs",
    # Contacts: an interval's version counts its publications, which restarts may add to; a
    # fact's id and published value depend on whether it was once taken back (docs/contacts.md).
    "contact_intervals": "SELECT * EXCEPT version FROM contact_intervals FINAL",
    "contact_objective_intervals": "SELECT * EXCEPT version FROM contact_objective_intervals FINAL",
    "contact_events": "SELECT * EXCEPT (event_id, value) FROM contact_events",
    "contact_attainment_monthly": "SELECT * FROM contact_attainment_monthly",
    "contact_credits_monthly": "SELECT * FROM contact_credits_monthly",
}


def workload(events: int, seed: int = 7, span: timedelta = timedelta(hours=1),
             ends_ago: timedelta = timedelta(minutes=3), contact_hours: float = 0) -> list[Record]:
    """`events` synthetic records whose event times spread over `span`, ending `ends_ago`; with
    `contact_hours`, the finished contacts of that many hours before them first."""
    source = SyntheticSource(seed)
    end = datetime.now(timezone.utc).replace(microsecond=0) - ends_ago
    step = span / events
    contacts = contact_day(end - span, seed, contact_hours) if contact_hours else []
    return [(kind, key, orjson.dumps(value)) for kind, key, value in contacts] + [
        (kind, key, orjson.dumps(value)) for kind, key, value in (source.record(end - span + step * i)
                                                                 for i in range(events))]


@dataclass
class Outcome:
    """What one run left behind."""

    tables: dict[str, list[tuple[Any, ...]]]
    breach_records: int  # records on the breach topic (copies included)
    breach_ids: int  # distinct event ids among them
    watermark: datetime  # the latest ticket or incident event time
    self_stops: list[str] = field(default_factory=list)  # workers that stopped themselves: exit code and why

    @property
    def copy_rate(self) -> float:
        """Copies on the breach topic per distinct event id (what an alerting system that does
        not drop repeated ids would page again for)."""
        return (self.breach_records - self.breach_ids) / max(self.breach_ids, 1)

    def comparable(self) -> dict[str, list[tuple[Any, ...]]]:
        """The tables without what the wall clock decides after the input ends.

        Once a worker has read everything, deadlines fire by the wall clock: facts after the
        watermark and `breached` of instances still running depend on when the run ended.
        """
        out = dict(self.tables)
        for name in ("breaches", "sla_events", "ola_breaches", "ola_events"):
            out[name] = [r for r in self.tables[name] if r[4] <= self.watermark]
        # Which version is the latest (and its as_of) can depend on facts fired after the input
        # ended; `as_of` compares the rows of versions two runs both have.
        for name in ("sla_instances_current", "ola_instances_current"):
            out[name] = [r[:10] if r[1] == "stopped" else (r[0], r[1], None, None, None, None, *r[6:10])
                         for r in self.tables[name]]
        # The split of a running instance is as of its latest row: only stopped ones compare.
        out["sla_time_split"] = [r for r in self.tables["sla_time_split"] if r[5] is not None]
        # SLO alerts after the last minute with probe data: no-data after a silence, and rules
        # still evaluated minute by minute while firing, as the idle partition's minutes close.
        last_minute = max(r[3] for r in self.tables["events"] if r[0] == "probe").replace(second=0, microsecond=0)
        out["slo_alerts"] = [r for r in self.tables["slo_alerts"] if r[4] <= last_minute + timedelta(minutes=1)]
        return out

    def as_of(self) -> dict[tuple[str, int], datetime]:
        """(instance, version) -> as_of of each instance's current status row."""
        return {(r[0], r[10]): r[11] for r in self.tables["sla_instances_current"]}

    @property
    def facts(self) -> set[tuple[Any, ...]]:
        """(event_id, instance_id, type, at) of each SLA and OLA lifecycle fact that holds, up to the watermark."""
        comparable = self.comparable()
        return {(r[0], r[1], r[3], r[4]) for name in ("sla_events", "ola_events") for r in comparable[name]}

    @property
    def corrections(self) -> int:
        return sum(1 for name in ("breaches", "ola_breaches") for r in self.tables[name] if r[3] == "correction")

    def instances(self) -> set[str]:
        """Every SLA and OLA instance with a status row."""
        return {r[0] for name in ("sla_instances_current", "ola_instances_current") for r in self.tables[name]}

    def stopped(self) -> dict[str, tuple[Any, ...]]:
        """instance -> (state, outcome, breached, stopped_at, elapsed_s) of the stopped SLA and OLA instances."""
        return {r[0]: (r[1], r[2], bool(r[3]), r[4], round(r[5], 3))
                for name in ("sla_instances_current", "ola_instances_current") for r in self.tables[name]
                if r[1] == "stopped"}


@dataclass
class Expected:
    """What the engine gives offline for the same input, fed in event-time order."""

    facts: set[tuple[Any, ...]] = field(default_factory=set)
    corrections: int = 0
    stopped: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    instances: set[str] = field(default_factory=set)


def replay(records: list[Record]) -> Expected:
    """The workload's valid ticket and incident events through the replay driver."""
    events = []
    for kind, _key, value in records:
        event = validate(kind, value, datetime.now(timezone.utc))
        if isinstance(event, (TicketEvent, IncidentEvent)):
            events.append(event)
    engine = Replay(ClockEngine(load_policy(POLICY)))
    out = Expected()
    for event in sorted(events, key=lambda e: e.occurred_at):
        for fact in engine.feed(event):
            if fact.type.value == "correction":
                out.corrections += 1
            out.facts.add((fact.event_id, fact.instance_id, fact.type.value, _naive(fact.at)))
    for status in engine.final():
        out.instances.add(status.instance_id)
        if status.state == "stopped":
            stopped_at = None if status.stopped_at is None else _naive(status.stopped_at)
            out.stopped[status.instance_id] = (status.state, status.outcome, status.breached, stopped_at,
                                               round(status.elapsed_s, 3))
    return out


def _naive(at: datetime) -> datetime:
    """UTC without tzinfo, as ClickHouse returns DateTime64(3, 'UTC') (milliseconds)."""
    return at.astimezone(timezone.utc).replace(tzinfo=None, microsecond=at.microsecond // 1000 * 1000)


WORKER_ENV = {"STORE": "rocksdb://", "SLA_POLICY_FILE": str(POLICY), "PROBE_IDLE_S": "3", "CONTACT_IDLE_S": "3"}


def produce(run: Any, records: list[Record]) -> None:
    """Send the workload and check it landed in order: each input partition in event-time
    order, as produced (the comparison of two runs means nothing otherwise)."""
    send(run.settings, records)
    for topic in run.settings.input_topics.values():
        last: dict[int, datetime] = {}
        for m in read_all(run.settings, topic):
            value = orjson.loads(m.value() or b"{}")
            at = datetime.fromisoformat(value.get("occurred_at") or value.get("ended_at") or "1970-01-01T00:00:00Z")
            assert at >= last.get(m.partition() or 0, at), f"{topic}[{m.partition()}]@{m.offset()} landed out of order"
            last[m.partition() or 0] = at


def start(run: Any, name: str) -> tuple[WorkerProcess, WorkerProcess]:
    """A worker (RocksDB store under `name`) and a ClickHouse sink for the run."""
    return run.worker(**WORKER_ENV, DATA_DIR=str(run.tmp / f"{name}-state")), run.sink(**WORKER_ENV)


def run_live(run: Any, records: list[Record], name: str, stall_s: float = 120.0) -> Outcome:
    """Produce `records`, then run one worker and one sink over them to the end."""
    produce(run, records)
    worker, sink = start(run, name)
    try:
        finish(run, worker, sink, stall_s)
    finally:
        worker.stop()
        sink.stop()
    return outcome(run)


def run_faulted(run: Any, records: list[Record], fault: Callable[[], None], name: str = "faulted",
                stall_s: float = 180.0) -> Outcome:
    """Like run_live, with `fault()` done once the worker has committed a fifth of its input."""
    exits: list[str] = []
    produce(run, records)
    worker, sink = start(run, name)
    inputs = list(run.settings.input_topics.values())
    try:
        worker.wait_until(lambda: worker_lag(run.settings, inputs) < len(records) * 0.8, 600,
                          "a fifth of the input committed")
        fault()
        worker = supervise(run, worker, sink, {**WORKER_ENV, "DATA_DIR": str(run.tmp / f"{name}-state")}, stall_s,
                           exits)
    finally:
        worker.stop()
        sink.stop()
    return replace(outcome(run), self_stops=exits)


@dataclass
class Chaos:
    """What a chaos run did to its processes."""

    kills: int = 0  # of the worker
    sink_kills: int = 0
    peak_rss_mib: float = 0.0
    exits: list[str] = field(default_factory=list)  # workers that ended by themselves: exit code and why


def run_chaos(run: Any, records: list[Record], kills: int, seed: int, stall_s: float = 180.0) -> tuple[Outcome, Chaos]:
    """Like run_live, but SIGKILL the worker `kills` times at random moments (2-8 s apart; every
    third one 0.5-2 s after a restart, while it joins the group and recovers), restarting it at
    once on the same state directory; every fourth kill takes the sink with it. Then let the last
    ones finish."""
    rng = random.Random(seed)
    env = {**WORKER_ENV, "DATA_DIR": str(run.tmp / "chaos-state")}
    produce(run, records)
    chaos = Chaos()
    worker, sink = run.worker(**env), run.sink(**WORKER_ENV)
    try:
        while chaos.kills < kills:
            soon = chaos.kills % 3 == 2
            deadline = time.monotonic() + (rng.uniform(0.5, 2.0) if soon else rng.uniform(2.0, 8.0))
            while time.monotonic() < deadline and worker.alive():
                chaos.peak_rss_mib = max(chaos.peak_rss_mib, peak_rss_mib(worker.pid))
                time.sleep(0.1)
            if not worker.alive():  # e.g. stopped itself on an offset gap: a supervisor restarts it
                chaos.exits.append(self_exit(worker))
            else:
                worker.kill()
                chaos.kills += 1
                if chaos.kills % 4 == 0:
                    sink.kill()
                    chaos.sink_kills += 1
                    sink = run.sink(**WORKER_ENV)
            worker = run.worker(**env)
        worker = supervise(run, worker, sink, env, stall_s, chaos.exits)
        chaos.peak_rss_mib = max(chaos.peak_rss_mib, peak_rss_mib(worker.pid))
    finally:
        worker.stop()
        sink.stop()
    return outcome(run), chaos


def supervise(run: Any, worker: WorkerProcess, sink: WorkerProcess, env: dict[str, str], stall_s: float,
              exits: list[str]) -> WorkerProcess:
    """`finish`, as a supervisor would: a worker that stops itself (it does on skipped records,
    to resume from the committed offset) is started again, at most 5 times; returns the last."""
    while True:
        try:
            finish(run, worker, sink, stall_s)
            return worker
        except RuntimeError:
            if worker.alive() or len(exits) >= 5:
                raise
            exits.append(self_exit(worker))
            worker = run.worker(**env)


def self_exit(worker: WorkerProcess) -> str:
    """A worker that ended by itself: its exit code and why it stopped (its last line saying so)."""
    lines = worker.log_path.read_text(errors="replace").splitlines()
    why = [line for line in lines if line.startswith("slastream: ")] or [line for line in lines if "[ERROR]" in line]
    return f"exit {worker.proc.returncode if worker.proc else -1}: {why[-1][-300:] if why else 'no reason logged'}"


def finish(run: Any, worker: WorkerProcess, sink: WorkerProcess, stall_s: float) -> None:
    """Until the worker has processed every input record and the sink stored every record."""
    wait_progressing(worker, run.settings, list(run.settings.input_topics.values()), stall_s)
    wait_progressing(sink, run.settings, sink_topics(run.settings), stall_s)


def outcome(run: Any) -> Outcome:
    """What the run left in Kafka and ClickHouse (no sink may be running: chDB is exclusive)."""
    settings = run.settings
    ids = [orjson.loads(m.value())["event_id"] for m in read_all(settings, settings.topic_breaches)]
    with clickhouse(run.chdb_path) as client:
        tables = {name: sorted(map(_rounded, client.query(sql).result_rows), key=repr) for name, sql in TABLES.items()}
    watermark = max(r[3] for r in tables["events"] if r[0] in ("ticket", "incident"))
    return Outcome(tables, len(ids), len(set(ids)), watermark)


def _rounded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Floats to 9 decimals: a view's sums and means differ in the last bits with the order
    ClickHouse adds rows in (parts and threads), which no run controls."""
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)


def wait_progressing(worker: WorkerProcess, settings: Any, topics: list[str], stall_s: float) -> None:
    """Until the process's group has committed all of `topics`; on a stall, its stacks go to its log."""
    try:
        worker.wait_committed(settings, topics, stall_s)
    except WorkerStalled:
        if worker.alive():
            stacks = subprocess.run([str(Path(sys.executable).with_name("py-spy")), "dump", "--pid", str(worker.pid)],
                                    capture_output=True, text=True, check=False)
            with worker.log_path.open("a") as log:
                log.write(f"\n--- stalled: py-spy dump ---\n{stacks.stdout}{stacks.stderr}")
        raise


def diff(reference: Outcome, other: Outcome) -> dict[str, tuple[int, int, int, list[str]]]:
    """Per table: (rows in the reference, rows missing from `other`, rows only in `other`,
    a few examples of both)."""
    out = {}
    ours, theirs = reference.comparable(), other.comparable()
    for name, rows in ours.items():
        want, got = Counter(map(repr, rows)), Counter(map(repr, theirs[name]))
        missing, extra = want - got, got - want
        examples = [f"missing {r}" for r in list(missing)[:3]] + [f"extra {r}" for r in list(extra)[:3]]
        out[name] = (len(rows), sum(missing.values()), sum(extra.values()), examples)
    return out
