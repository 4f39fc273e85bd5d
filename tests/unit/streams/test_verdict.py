"""The verdict worker and sink both reach on an input record, and the row of an accepted probe result."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.deadletter import Reason
from schemas.events import ProbeEvent
from streams.validate import Limits, Rejection
from streams.verdict import Consumed, accepted, accepted_many, probe_rows, record_time

PRODUCED = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
TICKET = {
    "event_id": "e1", "occurred_at": "2026-11-27T11:59:00Z", "source": "desk", "ticket_id": "T1",
    "customer": "acme", "service": "checkout", "priority": "P2", "status": "open",
}


def record(value: dict, key: bytes | None = b"T1", at: datetime = PRODUCED) -> Consumed:
    return Consumed("sla.tickets", 0, 0, key, orjson.dumps(value), at)


def test_record_time_reads_kafka_milliseconds_and_falls_back_to_now() -> None:
    assert record_time(int(PRODUCED.timestamp() * 1000)) == PRODUCED
    assert abs(record_time(-1) - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_the_verdict_is_taken_against_the_record_timestamp_not_the_wall_clock() -> None:
    soon = {**TICKET, "occurred_at": "2026-11-27T12:30:00Z"}  # 30 min after it was produced: accepted
    assert not isinstance(accepted("ticket", record(soon), Limits()), Rejection)
    late = accepted("ticket", record(soon, at=PRODUCED - timedelta(hours=2)), Limits())
    assert isinstance(late, Rejection) and late.reason == Reason.bad_timestamp


def test_accepted_probe_results_are_one_line_each_beside_its_record_s_offset_in_utc() -> None:
    event = ProbeEvent(event_id="r1", occurred_at="2026-11-27T13:00:00.25+01:00", source="runner", probe_id="http",
                       service="checkout", region="eu", ok=False, latency_ms=12.5, status_code=503)
    other = event.model_copy(update={"event_id": "r2"})
    line = orjson.loads(probe_rows("sla.probes", 4, [77, 78], [event, other]))
    assert line == {"topic": "sla.probes", "partition": 4, "offsets": [77, 78],
                    "results": [orjson.loads(event.model_dump_json()), orjson.loads(other.model_dump_json())]}
    assert line["results"][0]["occurred_at"] == "2026-11-27T12:00:00.250000Z"
    assert [ProbeEvent.model_validate(r) for r in line["results"]] == [event, other]


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))])),
    latency=st.floats(min_value=0, max_value=1e300, allow_nan=False, allow_infinity=False),
    text=st.text(min_size=1, max_size=20),
    ok=st.booleans(), code=st.integers(0, 999),
)
def test_a_probe_row_s_payload_is_what_the_model_writes(at, latency, text, ok, code) -> None:
    """The line writes the event's fields itself (a third of model_dump_json's cost): the same JSON."""
    event = ProbeEvent(event_id=text, occurred_at=at, source=text, probe_id=text, service=text, region=text,
                       ok=ok, latency_ms=latency, status_code=code)
    (payload,) = orjson.loads(probe_rows("sla.probes", 0, [1], [event]))["results"]
    assert payload == orjson.loads(event.model_dump_json())


def test_a_batch_of_the_key_s_service_in_time_is_accepted_whole_and_anything_else_result_by_result() -> None:
    """The batch checks (key, time) are made once per record when all pass; a record where one
    fails gets the same verdicts as result-by-result checks would give."""
    def batch(*results: dict) -> Consumed:
        return Consumed("sla.probes", 0, 0, b"checkout", orjson.dumps(list(results)), PRODUCED)

    good = {"event_id": "r1", "occurred_at": "2026-11-27T11:59:00Z", "source": "runner", "probe_id": "http",
            "service": "checkout", "region": "eu", "ok": True, "latency_ms": 80.0, "status_code": 200}
    assert all(isinstance(r, ProbeEvent) for r in accepted_many("probe", batch(good, good), Limits()))
    late = {**good, "occurred_at": "2026-11-27T14:00:00Z"}  # two hours after the record: too far ahead
    other = {**good, "service": "search"}
    verdicts = accepted_many("probe", batch(good, late, other), Limits())
    assert isinstance(verdicts[0], ProbeEvent)
    assert [(v.reason, v.detail.split(":")[0]) for v in verdicts[1:]] == [
        (Reason.bad_timestamp, "occurred_at 2026-11-27T14"), (Reason.wrong_key, "result 3 of 3")]
    not_utf8 = Consumed("sla.probes", 0, 0, b"\xff", orjson.dumps([good, good]), PRODUCED)
    assert [v.reason for v in accepted_many("probe", not_utf8, Limits())] == [Reason.wrong_key] * 2


@settings(max_examples=300, deadline=None)
@given(
    value=st.sampled_from([
        {}, {"latency_ms": -1.0}, {"occurred_at": "2026-11-27T14:00:00Z"}, {"occurred_at": "2025-01-01T00:00:00Z"},
        {"occurred_at": "2026-11-27T13:00:00Z"}, {"service": "search"}, {"kind": "ticket"}, {"extra": 1}]),
    key=st.sampled_from([b"checkout", b"search", None, b"\xff"]),
    text=st.sampled_from([None, b" ", b"x", b"]"]),
)
def test_a_single_result_gets_the_verdict_accepted_gives(value, key, text) -> None:
    """accepted_many checks a single result itself (cheaper than the general path): the same
    verdict, reason and detail as `accepted`, whatever is wrong with the record."""
    good = {"event_id": "r1", "occurred_at": "2026-11-27T11:59:00Z", "source": "runner", "probe_id": "http",
            "service": "checkout", "region": "eu", "ok": True, "latency_ms": 80.0, "status_code": 200}
    data = orjson.dumps({**good, **value})
    if text is not None:
        data = text + data if text == b" " else data + text  # leading space; trailing bytes
    record = Consumed("sla.probes", 0, 0, key, data, PRODUCED)
    assert accepted_many("probe", record, Limits()) == [accepted("probe", record, Limits())]
