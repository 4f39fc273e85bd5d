"""Entities a replay puts away go to disk and come back only under their own key."""

from __future__ import annotations

from datetime import timedelta

from schemas.policy import Policy
from streams.engine.clocks import ClockEngine
from streams.engine.instants import span
from streams.engine.replay import Replay
from streams.engine.shelf import Shelf
from tests.unit.streams.conftest import ticket


def test_a_shelf_gives_back_what_it_took_once() -> None:
    shelf = Shelf()
    assert shelf.take(b"k") is None and list(shelf.states()) == []  # nothing written yet
    shelf.put([(b"b", b"2"), (b"a", b"1")])
    assert shelf.count == 2 and list(shelf.states()) == [b"1", b"2"]  # by key, left on the shelf
    assert shelf.take(b"a") == b"1" and shelf.take(b"a") is None and shelf.take(b"zz") is None
    assert shelf.count == 1 and list(shelf.states()) == [b"2"]


def test_ids_that_a_separator_would_confuse_come_back_to_their_own_customer(policy: Policy) -> None:
    # ("a\x1fb", "c") and ("a", "b\x1fc") joined with \x1f are one text; each is its own entity.
    replay = Replay(ClockEngine(policy), put_away_after=span(timedelta(seconds=1)))
    first = ticket("e1", "2026-11-27 10:00", "new", tid="c", customer="a\x1fb")
    second = ticket("e2", "2026-11-27 10:00", "new", tid="b\x1fc", customer="a")
    for n, event in enumerate([first, second]):
        replay.feed(event)
        replay.feed(ticket(f"s{n}", "2026-11-27 10:05", "solved", tid=event.ticket_id, customer=event.customer))
    replay.advance(first.occurred_at + timedelta(days=3))
    assert replay.shelf.count == 2 and not replay.states
    # A late reply for the second comes back with the second's history only.
    replay.feed(ticket("r2", "2026-11-27 10:01", "open", tid="b\x1fc", customer="a"))
    back = replay.states[("ticket", "a", "b\x1fc")]
    assert [e.event_id for e in back.events] == ["e2", "r2", "s1"] and replay.shelf.count == 1


def test_a_key_never_shelved_is_answered_without_asking_the_database() -> None:
    shelf = Shelf()
    shelf.put([(f"k{n}".encode(), b"s") for n in range(1000)])
    assert shelf._db is not None
    asked: list[str] = []
    shelf._db.set_trace_callback(asked.append)
    misses = [shelf.take(f"new{n}".encode()) for n in range(1000)]
    assert misses == [None] * 1000 and len(asked) < 20  # a false "maybe" now and then
    assert shelf.take(b"k7") == b"s" and len(asked) >= 1 and shelf.count == 999
