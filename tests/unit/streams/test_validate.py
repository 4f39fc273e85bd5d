from datetime import datetime, timedelta, timezone

import orjson
import pytest

from schemas.deadletter import Reason
from schemas.events import TicketEvent
from streams.synthetic import bad_records
from streams.validate import Limits, Rejection, validate

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
    for kind, _key, raw, expected in bad_records(NOW - timedelta(minutes=5), 64 * 1024):
        assert reject(kind, raw).reason.value == expected, raw[:80]
