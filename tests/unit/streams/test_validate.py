import hashlib
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from schemas import codec
from schemas.deadletter import DeadLetter, Reason
from schemas.events import TicketEvent
from streams.tools.synthetic import bad_records
from streams.validate import Limits, Rejection, validate, validate_many, wrong_key

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
TICKET = {
    "event_id": "e1", "occurred_at": "2026-11-27T11:59:00Z", "source": "desk", "ticket_id": "T1",
    "customer": "acme", "service": "checkout", "priority": "P2", "status": "open",
}


def reject(kind: str, data: bytes | None, limits: Limits = Limits()) -> Rejection:
    result = validate(kind, data, NOW, limits)
    assert isinstance(result, Rejection), result
    return result


def test_valid_ticket_is_parsed() -> None:
    result = validate("ticket", orjson.dumps(TICKET), NOW)
    assert isinstance(result, TicketEvent)
    assert result.ticket_id == "T1" and result.public_reply is False


@pytest.mark.parametrize(
    ("change", "reason", "mentions"),
    [
        ({"priority": 2}, Reason.invalid, "priority"),
        ({"ticket_id": None}, Reason.invalid, "ticket_id: Field required"),
        ({"status": "escalated"}, Reason.invalid, "status"),
        ({"occurred_at": "2026-11-27T11:59:00"}, Reason.invalid, "occurred_at"),
        ({"occurred_at": "2026-11-27T13:00:01Z"}, Reason.bad_timestamp, "future"),
        ({"occurred_at": "2024-10-01T00:00:00Z"}, Reason.bad_timestamp, "past"),
        ({"kind": "probe"}, Reason.invalid, "kind"),
    ],
)
def test_field_problems_are_named(change: dict, reason: Reason, mentions: str) -> None:
    value = {k: v for k, v in {**TICKET, **change}.items() if v is not None}
    rejection = reject("ticket", orjson.dumps(value))
    assert rejection.reason is reason
    assert mentions in rejection.detail


def test_one_hour_ahead_is_still_accepted() -> None:
    value = {**TICKET, "occurred_at": "2026-11-27T13:00:00Z"}
    assert isinstance(validate("ticket", orjson.dumps(value), NOW), TicketEvent)


def test_malformed_json_non_objects_empty_and_oversized() -> None:
    assert reject("ticket", b'{"event_id": ').reason is Reason.malformed_json
    assert reject("ticket", b"[1, 2]").reason is Reason.invalid
    assert reject("ticket", None).reason is Reason.invalid
    assert reject("ticket", b"\xff\xfe").reason is Reason.malformed_json
    big = orjson.dumps({**TICKET, "source": "x" * 2000})
    rejection = reject("ticket", big, Limits(max_bytes=1024))
    assert rejection.reason is Reason.too_large and "1024" in rejection.detail


def test_every_synthetic_bad_record_is_rejected_for_its_stated_reason() -> None:
    for kind, key, raw, expected in bad_records(NOW - timedelta(minutes=5), 64 * 1024):
        result = validate(kind, raw, NOW)
        if expected == "wrong_key":  # valid content; the worker checks the key
            assert not isinstance(result, Rejection) and key != result.entity_id
        else:
            assert isinstance(result, Rejection) and result.reason.value == expected, raw[:80]


PROBE = {
    "event_id": "p1", "occurred_at": "2026-11-27T11:59:00Z", "source": "synthetic", "probe_id": "p",
    "service": "checkout", "region": "eu", "ok": True, "latency_ms": 12.5, "status_code": 200,
}


@pytest.mark.parametrize(("kind", "base", "change", "field"), [
    ("probe", PROBE, {"ok": 1}, "ok"),
    ("probe", PROBE, {"ok": "true"}, "ok"),
    ("probe", PROBE, {"latency_ms": True}, "latency_ms"),
    ("probe", PROBE, {"latency_ms": "12"}, "latency_ms"),
    ("probe", PROBE, {"status_code": 200.0}, "status_code"),
    ("probe", PROBE, {"status_code": "200"}, "status_code"),
    ("ticket", TICKET, {"public_reply": 1}, "public_reply"),
    ("ticket", TICKET, {"occurred_at": 1795867140}, "occurred_at"),
    ("ticket", TICKET, {"occurred_at": 1795867140000}, "occurred_at"),
    ("ticket", TICKET, {"occurred_at": "1795867140"}, "occurred_at"),
])
def test_types_are_strict_at_the_contract_edge(kind: str, base: dict, change: dict, field: str) -> None:
    """No coercion: `1` is not true, `true` is not 1, and a number is not a date."""
    rejection = reject(kind, orjson.dumps({**base, **change}))
    assert rejection.reason is Reason.invalid and rejection.detail.startswith(field)


def test_an_integer_latency_is_a_number() -> None:
    assert validate("probe", orjson.dumps({**PROBE, "latency_ms": 12}), NOW).latency_ms == 12.0  # type: ignore[union-attr]


def test_a_dead_letter_record_fits_the_broker_limit_whatever_came_in() -> None:
    huge = b"{" + b"x" * 5_000_000
    record = DeadLetter.of(Reason.too_large, "d" * 10_000, "t", 0, 1, b"k" * 2_000_000, huge, NOW)
    assert len(codec.dumps(record)) < 512 * 1024
    assert record.truncated and record.payload_bytes == len(huge)
    assert record.payload_sha256 == hashlib.sha256(huge).hexdigest() and huge.startswith(record.payload())
    small = DeadLetter.of(Reason.invalid, "d", "t", 0, 1, b"k", b"[1]", NOW)
    assert (small.truncated, small.payload()) == (False, b"[1]")


def test_a_wrong_key_names_the_field_and_both_values() -> None:
    event = validate("probe", orjson.dumps(PROBE), NOW)
    assert wrong_key(event, b"p-eu-1") == "the Kafka key must be the service ('checkout'); got key 'p-eu-1'"  # type: ignore[arg-type]
    assert wrong_key(event, None).endswith("got no key")  # type: ignore[arg-type]


def test_a_record_nested_deeper_than_repr_can_recurse_is_rejected_not_raised() -> None:
    deep = b'{"a":' * 1000 + b"1" + b"}" * 1000  # within orjson's depth limit, beyond repr()'s
    result = validate("ticket", deep, NOW)
    assert isinstance(result, Rejection) and result.reason is Reason.invalid
    assert "a: Extra inputs are not permitted (got {'a': {'a': {...}}})" in result.detail


PROBE = {"event_id": "p1", "occurred_at": "2026-11-27T11:59:00Z", "source": "runner", "probe_id": "http",
         "service": "checkout", "region": "eu", "ok": True, "latency_ms": 80.0, "status_code": 200}


def test_a_probe_batch_is_judged_result_by_result() -> None:
    batch = [PROBE, {**PROBE, "event_id": "p2", "ok": "yes"}, {**PROBE, "event_id": "p3"}, 7]
    verdicts = validate_many("probe", orjson.dumps(batch), NOW)
    assert [getattr(v, "event_id", None) for v in verdicts] == ["p1", None, "p3", None]
    bad = [v for v in verdicts if isinstance(v, Rejection)]
    assert [v.reason for v in bad] == [Reason.invalid, Reason.invalid]
    assert bad[0].detail.startswith("result 2 of 4: ok:") and bad[1].detail == "result 4 of 4: expected a JSON object, got int"


def test_a_single_probe_result_and_an_unreadable_batch_get_one_verdict() -> None:
    (one,) = validate_many("probe", orjson.dumps(PROBE), NOW)
    assert not isinstance(one, Rejection) and one.event_id == "p1"
    for data, reason, detail in ((b"[]", Reason.invalid, "a batch holds 1 to 1000 results; this one holds 0"),
                                 (orjson.dumps([PROBE] * 1001), Reason.invalid, "this one holds 1001"),
                                 (b"[{", Reason.malformed_json, "not valid JSON"),
                                 (b"12", Reason.invalid, "expected a JSON object or array, got int"),
                                 (b"[1, 2, 3]", Reason.invalid, "expected a JSON object or an array of objects, "
                                                                "got an array of int")):
        (verdict,) = validate_many("probe", data, NOW, Limits(max_bytes=10**6))
        assert isinstance(verdict, Rejection) and verdict.reason == reason and detail in verdict.detail, verdict


def test_only_probe_records_may_be_batches() -> None:
    (verdict,) = validate_many("ticket", orjson.dumps([TICKET]), NOW)
    assert isinstance(verdict, Rejection) and verdict.detail == "expected a JSON object, got list"
