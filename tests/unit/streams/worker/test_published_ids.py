"""Ids on the breach topic at a takeover: read from each kind of record, dropped from what is sent again."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson

from schemas import codec
from schemas.outputs import ContactAlert, Lifecycle, LifecycleType, SloAlert
from streams.settings import Settings
from streams.worker.published_ids import PublishedIds, event_id_of

AT = datetime(2026, 12, 7, 9, tzinfo=timezone.utc)


def _lifecycle(eid: str, corrects: str | None = None, service: str = "checkout") -> bytes:
    return codec.dumps(Lifecycle(
        event_id=eid, instance_id="ticket:T1:gold:response", version=1,
        type=LifecycleType.correction if corrects else LifecycleType.breached, at=AT, kind="ticket", entity_id="T1",
        contract_id="gold", customer="acme", service=service, metric="response", level="P1", target_s=3600.0,
        elapsed_s=3600.0, threshold=None, corrects=corrects, ola=None, schema_version=1))


def test_the_id_is_read_from_every_kind_of_breach_record() -> None:
    slo = SloAlert(event_id="s1", type="firing", alert="fast", severity="page", at=AT, contract_id="gold",
                   customer="acme", service="checkout", sli="availability", objective=0.999)
    contact = ContactAlert(event_id="c1", type="breached", contract_id="gold", customer="acme", objective="sl",
                           queue="billing", channel=None, measure="service_level", interval_start=AT, at=AT,
                           value=0.5, target=0.8)
    assert event_id_of(_lifecycle("l1")) == b"l1"
    assert event_id_of(codec.dumps(slo)) == b"s1"
    assert event_id_of(codec.dumps(contact)) == b"c1"
    # A correction names the id it retracts first (keys sorted): that one is not its own.
    assert event_id_of(_lifecycle("l2", corrects="l1")) == b"l2"
    # A value that spells the key is escaped in JSON, so it is never taken for it.
    tricky = _lifecycle("l3", service='x","event_id":"l1')
    assert orjson.loads(tricky)["event_id"] == "l3"
    assert event_id_of(tricky) == b"l3"
    assert event_id_of(b'{"type":"breached"}') is None


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _published(ids: set[bytes], window_s: float = 300.0) -> tuple[PublishedIds, _Clock, list[int]]:
    clock, reads = _Clock(), []

    def read(since_ms: int) -> frozenset[bytes]:
        reads.append(since_ms)
        return frozenset(ids)

    settings = Settings(output_dedupe_s=window_s)
    return PublishedIds(settings, read=read, monotonic=clock, wall=lambda: 1_800_000_000.0), clock, reads


def test_records_already_on_the_topic_are_not_sent_again_for_the_window() -> None:
    published, clock, reads = _published({b"old1", b"old2"})
    records = [(b"k", _lifecycle("old1")), (b"k", _lifecycle("new1")), (b"k", _lifecycle("old2"))]
    assert published.fresh(records) == records  # nothing read yet
    asyncio.run(published.ready())
    assert reads == [(1_800_000_000 - 300) * 1000]  # the window back from the wall clock, in ms
    assert published.fresh(records) == [records[1]]
    asyncio.run(published.ready())
    assert len(reads) == 1  # read once per assignment
    clock.now += 301
    assert published.fresh(records) == records  # past the window: sent as they are


def test_an_assignment_reads_the_topic_again() -> None:
    ids: set[bytes] = {b"a"}
    published, _, reads = _published(ids)
    asyncio.run(published.ready())
    ids.add(b"b")
    published.stale()
    asyncio.run(published.ready())
    assert len(reads) == 2
    assert published.fresh([(b"k", _lifecycle("b"))]) == []


def test_a_window_of_zero_reads_nothing() -> None:
    published, _, reads = _published({b"a"}, window_s=0)
    asyncio.run(published.ready())
    assert reads == []
    records = [(b"k", _lifecycle("a"))]
    assert published.fresh(records) == records
