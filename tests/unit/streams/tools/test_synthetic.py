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
