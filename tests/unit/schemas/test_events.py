from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from schemas.events import IncidentEvent, ProbeEvent, TicketEvent

BASE = {"event_id": "e1", "source": "desk"}


def test_occurred_at_is_stored_in_utc() -> None:
    event = TicketEvent(
        **BASE, occurred_at="2026-03-29T03:30:00+02:00", ticket_id="T1",
        customer="acme", service="checkout", priority="P1", status="new",
    )
    assert event.occurred_at == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)
    assert event.occurred_at.utcoffset().total_seconds() == 0


def test_timestamp_without_offset_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        IncidentEvent(
            **BASE, occurred_at="2026-03-29T03:30:00", incident_id="I1",
            service="s", customer="c", severity="SEV1", status="triggered",
        )


def test_unknown_fields_and_enum_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="severity"):
        IncidentEvent(
            **BASE, occurred_at="2026-03-29T03:30:00Z", incident_id="I1",
            service="s", customer="c", severity="SEV9", status="triggered",
        )
    with pytest.raises(ValidationError, match="colour"):
        ProbeEvent(
            **BASE, occurred_at="2026-03-29T03:30:00Z", probe_id="p", service="s",
            region="r", ok=True, latency_ms=1.0, status_code=200, colour="red",
        )


def test_entity_id_is_the_kafka_key_of_each_kind() -> None:
    probe = ProbeEvent(
        **BASE, occurred_at="2026-03-29T03:30:00Z", probe_id="p", service="search",
        region="r", ok=False, latency_ms=0, status_code=503,
    )
    assert probe.entity_id == "search"


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00", "1969-12-31T23:59:59Z",
                                "3000-01-01T00:00:00Z"])
def test_instants_no_sla_event_can_have_are_refused_like_any_bad_field(at: str) -> None:
    """Near year 1 or 9999 an instant cannot even be converted to UTC (an OverflowError before)."""
    with pytest.raises(ValidationError, match="(?s)occurred_at.*between the years 1970 and 2999"):
        TicketEvent(**BASE, occurred_at=at, ticket_id="T1", customer="acme", service="checkout", priority="P1",
                    status="new")
