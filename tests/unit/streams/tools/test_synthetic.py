from collections import Counter
from datetime import datetime, timedelta, timezone

from schemas.events import EVENT_MODELS
from streams.tools.synthetic import SyntheticSource

AT = datetime(2026, 11, 1, tzinfo=timezone.utc)


def records(seed: int, n: int) -> list:
    source = SyntheticSource(seed)
    return [source.record(AT + timedelta(seconds=i)) for i in range(n)]


def test_same_seed_same_records_and_all_valid() -> None:
    first = records(5, 2000)
    assert first == records(5, 2000)
    assert first != records(6, 2000)
    for kind, key, value in first:
        event = EVENT_MODELS[kind].model_validate(value)
        assert event.entity_id == key


def test_mix_and_lifecycles_look_like_real_traffic() -> None:
    recs = records(1, 5000)
    kinds = Counter(kind for kind, _, _ in recs)
    assert 0.70 < kinds["probe"] / 5000 < 0.80
    tickets: dict[str, list[str]] = {}
    for kind, key, value in recs:
        if kind == "ticket":
            tickets.setdefault(key, []).append(value["status"])
    assert all(statuses[0] == "new" for statuses in tickets.values())
    assert any(statuses[-1] == "closed" for statuses in tickets.values())
    assert len({v["event_id"] for _, _, v in recs}) == 5000


def test_tickets_pass_between_groups_and_some_come_back() -> None:
    paths: dict[str, list[str]] = {}
    suppliers = set()
    for kind, key, value in records(1, 5000):
        if kind == "ticket":
            paths.setdefault(key, []).append(value["assignment_group"])
            suppliers.add(value.get("supplier"))
    assert all(path[0] == "service-desk" for path in paths.values())
    moved = [p for p in paths.values() if len(set(p)) > 1]
    assert 0.1 < len(moved) / len(paths) < 0.6
    assert any(p.index("network") < len(p) - 1 and p[-1] == "service-desk" for p in moved if "network" in p)  # ping-pong
    assert suppliers == {None, "telco"}


def test_a_day_of_contacts_is_valid_in_end_order_and_has_a_bad_hour() -> None:
    from streams.tools.synthetic import contact_day

    end = AT + timedelta(days=1)
    day = contact_day(end, seed=3)
    assert day == contact_day(end, seed=3) and len(day) > 1000
    contacts = [EVENT_MODELS["contact"].model_validate(value) for _, _, value in day]
    assert all(kind == "contact" and c.queue == key for (kind, key, _), c in zip(day, contacts))
    ends = [c.ended_at for c in contacts]
    assert ends == sorted(ends) and ends[-1] <= end and ends[0] >= end - timedelta(days=1)
    assert len({(c.customer, c.contact_id) for c in contacts}) == len(contacts)

    def abandoned(hours_before: int) -> float:  # share of acme's contacts queued in that hour that gave up
        hour = [c for c in contacts if c.customer == "acme"
                and end - timedelta(hours=hours_before) <= c.queued_at < end - timedelta(hours=hours_before - 1)]
        return sum(c.abandoned_at is not None for c in hour) / len(hour)
    assert abandoned(5) > 0.15 and abandoned(8) < 0.1
