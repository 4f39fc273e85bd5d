from streams.worker.due_index import DueIndex
from streams.engine.instants import micros
from tests.unit.streams.conftest import utc as _utc


def utc(text: str) -> int:
    return micros(_utc(text))


A, B, C = ("ticket", b"A"), ("ticket", b"B"), ("incident", b"C")


def test_pop_due_per_partition_in_time_order_and_rescheduling() -> None:
    index = DueIndex()
    index.set(0, A, utc("2026-11-27 10:05"))
    index.set(0, B, utc("2026-11-27 10:01"))
    index.set(1, C, utc("2026-11-27 10:00"))
    index.set(0, A, utc("2026-11-27 10:02"))  # rescheduled earlier; the old entry is stale
    assert index.pop_due(0, "ticket", utc("2026-11-27 10:03")) == [B, A]
    assert index.pop_due(0, "ticket", utc("2026-11-27 11:00")) == []  # stale 10:05 entry of A is skipped
    assert index.pop_due(1, "incident", utc("2026-11-27 09:59")) == []
    assert index.pop_due(1, "incident", utc("2026-11-27 10:00")) == [C]


def test_each_kind_is_popped_by_its_own_clock() -> None:
    index = DueIndex()
    index.set(0, A, utc("2026-11-27 10:00"))
    index.set(0, ("incident", b"D"), utc("2026-11-27 10:00"))
    assert index.pop_due(0, "incident", utc("2026-11-27 09:00")) == []
    assert index.pop_due(0, "ticket", utc("2026-11-27 10:00")) == [A]


def test_none_removes_and_clear_forgets() -> None:
    index = DueIndex()
    index.set(0, A, utc("2026-11-27 10:00"))
    index.set(0, A, None)
    assert index.pop_due(0, "ticket", utc("2026-11-27 12:00")) == [] and len(index) == 0
    index.set(2, B, utc("2026-11-27 10:00"))
    index.indexed.add(2)
    index.clear()
    assert len(index) == 0 and not index.indexed


def test_pop_due_takes_at_most_the_earliest_and_first_due_skips_stale_entries() -> None:
    index = DueIndex()
    for minute, key in ((3, A), (1, B), (2, ("ticket", b"D"))):
        index.set(0, key, utc(f"2026-11-27 10:0{minute}"))
    assert index.pop_due(0, "ticket", utc("2026-11-27 11:00"), most=2) == [B, ("ticket", b"D")]
    assert index.first_due(0, "ticket") == utc("2026-11-27 10:03")
    index.set(0, A, utc("2026-11-27 10:09"))  # rescheduled: its 10:03 entry is stale
    assert index.first_due(0, "ticket") == utc("2026-11-27 10:09")
    index.set(0, A, None)
    assert index.first_due(0, "ticket") is None and index.first_due(5, "incident") is None


def test_a_key_scheduled_on_another_partition_leaves_the_first() -> None:
    index = DueIndex()
    index.set(0, A, utc("2026-11-27 10:00"))
    index.set(1, A, utc("2026-11-27 10:05"))
    assert index.pop_due(0, "ticket", utc("2026-11-27 11:00")) == [] and index.first_due(0, "ticket") is None
    assert index.pop_due(1, "ticket", utc("2026-11-27 11:00")) == [A] and len(index) == 0
