"""The schedule replay fires deadlines from: against a plain dict sorted on every pop."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.engine.schedule import Schedule


def test_due_keys_come_earliest_first_and_ties_in_key_order() -> None:
    schedule: Schedule[str] = Schedule()
    schedule.set("b", 20)
    schedule.set("c", 10)
    schedule.set("a", 20)
    schedule.set("d", 30)
    assert schedule.pop_due(9) == []
    assert schedule.pop_due(20) == ["c", "a", "b"]
    assert len(schedule) == 1
    assert schedule.pop_due(100) == ["d"]
    assert schedule.pop_due(100) == []


def test_a_key_scheduled_again_is_due_only_at_its_last_instant() -> None:
    schedule: Schedule[str] = Schedule()
    schedule.set("a", 10)
    schedule.set("a", 30)
    schedule.set("b", 10)
    assert schedule.pop_due(20) == ["b"]
    schedule.set("a", 40)
    schedule.set("a", 30)  # back to an instant it left: listed there twice, due once
    assert schedule.pop_due(35) == ["a"]
    schedule.set("c", 50)
    schedule.set("c", None)
    assert schedule.pop_due(60) == []
    assert len(schedule) == 0


# A step: (key, instant or None) schedules, ("pop", now) pops.
steps = st.lists(st.one_of(
    st.tuples(st.sampled_from("abcdef"), st.one_of(st.none(), st.integers(0, 40))),
    st.tuples(st.just("pop"), st.integers(0, 40), st.one_of(st.none(), st.integers(1, 4))),
), max_size=60)


@given(steps)
def test_the_schedule_pops_what_a_sorted_dict_would(program: list[tuple]) -> None:
    """Pops (some of them bounded by `most`) and the first instant, against a dict sorted each time."""
    schedule: Schedule[str] = Schedule()
    reference: dict[str, int] = {}
    for what, at, *most in program:
        if what == "pop":
            assert at is not None
            due = sorted((t, k) for k, t in reference.items() if t <= at)[:most[0]]
            for _, key in due:
                del reference[key]
            assert schedule.pop_due(at, most[0]) == [key for _, key in due]
        else:
            schedule.set(what, at)
            if at is None:
                reference.pop(what, None)
            else:
                reference[what] = at
        assert len(schedule) == len(reference)
        assert schedule.first() == min(reference.values(), default=None)
