"""The probe feed's counting, without Kafka: which records a commit may pass, and what is
dead-lettered. A real ProbeTracker over a dict table, an injected wall clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson

from schemas.deadletter import Reason
from schemas.events import ProbeEvent
from schemas.policy import parse_policy
from sinks.rows import COLUMNS
from streams.engine.slo_plan import SloPlan
from streams.validate import Limits
from streams.verdict import Consumed, probe_rows
from streams.worker.probe_feed import Held, ProbeCounting, commit_position
from streams.worker.probe_tracking import ProbeTracker
from tests.unit.streams.conftest import utc

POLICY = parse_policy("""
contracts:
  - id: gold
    customer: acme
    services: [checkout]
    probes:
      availability: {objective: 0.999}
""")
T0 = utc("2026-11-27 10:00")


class Feed:
    """ProbeCounting with the worker's verdict and tracker; records numbered from offset 0."""

    def __init__(self) -> None:
        self.wall = T0
        self.letters: list[tuple[int, Reason]] = []
        self.minutes: list[bytes] = []

        async def publish(minutes, alerts, statuses) -> None:
            self.minutes += [v for _, v in minutes]

        async def stored() -> None:
            pass

        self.probes = ProbeTracker(SloPlan(POLICY), {}, publish, lambda: self.wall,
                                   lateness=timedelta(seconds=60), idle=timedelta(minutes=2), stored=stored)
        self.lines: list[dict] = []  # the lines that store the accepted results
        self.counting = ProbeCounting(Limits(), self.probes,
                                      lambda record, reason, detail: self.letters.append((record.offset, reason)),
                                      lambda record, events: self.lines.append(orjson.loads(probe_rows(
                                          record.topic, record.partition, [record.offset] * len(events), events))))
        self.held = Held(0)
        self.offset = 0

    def send(self, value: dict | bytes, key: bytes = b"checkout") -> int:
        offset, self.offset = self.offset, self.offset + 1
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        self.counting.count(Consumed("sla.probes", 0, offset, key, data, self.wall), self.held)
        return offset

    def tick(self) -> None:
        asyncio.run(self.probes.on_tick(0, True))

    @property
    def rows(self) -> list[dict]:
        """The accepted results, each with its record's offset."""
        return [{**result, "offset": offset} for line in self.lines for offset, result in zip(line["offsets"], line["results"])]

    @property
    def position(self) -> int | None:
        return commit_position(self.held, self.probes, 0)


def probe(at: datetime, eid: str) -> dict:
    return {"event_id": eid, "occurred_at": at.isoformat(), "source": "p", "probe_id": "p1",
            "service": "checkout", "region": "eu", "ok": True, "latency_ms": 80.0, "status_code": 200}


def test_a_commit_passes_a_result_only_once_its_minute_is_closed_and_stored() -> None:
    f = Feed()
    f.send(probe(T0 + timedelta(seconds=10), "p0"))
    f.send(b"{not json")  # done at once, but behind a result still counting
    assert f.position == 0 and f.letters == [(1, Reason.malformed_json)]
    f.wall = T0 + timedelta(minutes=3)
    f.send(probe(T0 + timedelta(minutes=2, seconds=30), "p1"))
    f.send(probe(T0 + timedelta(minutes=2, seconds=30), "p2"))  # two agree: the watermark passes 10:00 + 60 s
    f.tick()
    assert len(f.minutes) == 1  # 10:00 closed and published
    assert f.position == 2  # up to the first result of the open minute 10:02


def test_a_late_result_and_a_copy_are_done_at_once_and_a_late_one_is_dead_lettered() -> None:
    f = Feed()
    f.wall = T0 + timedelta(minutes=3)
    f.send(probe(T0 + timedelta(minutes=2, seconds=30), "p1"))
    f.send(probe(T0 + timedelta(minutes=2, seconds=31), "p2"))
    f.tick()  # closes every minute before 10:01
    f.send(probe(T0 + timedelta(seconds=20), "old"))  # for the closed minute 10:00
    f.send(probe(T0 + timedelta(minutes=2, seconds=30), "p1"))  # the same event id again
    assert f.letters == [(2, Reason.late)]
    assert [(r["event_id"], r["offset"]) for r in f.rows] == [("p1", 0), ("p2", 1), ("old", 2), ("p1", 3)]  # all valid
    assert f.position == 0 and f.held.next_read == 4  # p1 and p2 still count in 10:02
    f.wall = T0 + timedelta(minutes=10)
    f.tick()  # idle for two minutes and caught up: 10:02 closes by the wall clock
    assert f.position == 4


def test_a_result_keyed_by_another_service_is_refused() -> None:
    f = Feed()
    f.send(probe(T0, "p0"), key=b"search")
    assert f.letters == [(0, Reason.wrong_key)] and f.position == 1


def test_a_batch_record_is_held_until_the_minutes_of_all_its_results_are_closed() -> None:
    f = Feed()
    f.wall = T0 + timedelta(minutes=5)
    batch = [probe(T0 + timedelta(seconds=10), "a"), {**probe(T0, "bad"), "ok": 1},
             probe(T0 + timedelta(minutes=1, seconds=5), "b")]  # minutes 10:00 and 10:01, one invalid
    f.send(orjson.dumps(batch))
    assert f.letters == [(0, Reason.invalid)] and f.position == 0
    assert [r["event_id"] for r in f.rows] == ["a", "b"]
    (line,) = f.lines  # the record's valid results, each beside the record's offset
    assert list(line) == list(COLUMNS["probe_events_in"]) and (line["topic"], line["partition"]) == ("sla.probes", 0)
    assert line["offsets"] == [0, 0]
    assert ProbeEvent.model_validate(line["results"][0]).event_id == "a"
    f.send(orjson.dumps([probe(T0 + timedelta(minutes=2, seconds=1), "c"), probe(T0 + timedelta(minutes=2, seconds=2), "d")]))
    f.tick()  # the watermark (10:02:01 less 60 s) closes 10:00 only
    assert len(f.minutes) == 1 and f.position == 0  # b (10:01) holds the batch record
    f.send(orjson.dumps([probe(T0 + timedelta(minutes=3), "e"), probe(T0 + timedelta(minutes=3, seconds=1), "f")]))
    f.tick()  # 10:01 closes too
    assert [orjson.loads(m)["total"] for m in f.minutes] == [1, 1] and f.position == 1
