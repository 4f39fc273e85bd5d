"""Contact-centre intervals and objectives, each figure worked out by hand in the comments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.events import ContactEvent
from schemas.outputs import ContactAlert, ContactInterval
from schemas.policy import parse_policy
from streams.engine.contacts import ContactIntervals
from streams.engine.instants import micros
from tests.unit.streams.conftest import utc

POLICY = """
contracts:
  - id: gold
    customer: acme
    services: ["*"]
    contacts:
      short_abandon: 5s
      service_level_formula: {formula}
      objectives:
        - queue: support
          service_level: {{target: 0.8, within: 20s}}
          max_asa: 30s
          max_abandonment: 0.1
        - queue: "*"
          channel: chat
          max_asa: 60s
"""
WALL = utc("2026-12-01 16:00")  # when the records are read; closing below idles past it


def engine(formula: str = "offered_minus_short_abandons", keep: timedelta = timedelta(days=3)) -> ContactIntervals:
    return ContactIntervals(parse_policy(POLICY.format(formula=formula)), lateness=timedelta(0),
                            idle=timedelta(minutes=1), keep=keep)


def contact(cid: str, queued: str, wait: float, answered: bool = True, handle: float = 60, queue: str = "support",
            channel: str = "voice", fcr: bool | None = None, customer: str = "acme") -> ContactEvent:
    q = utc(queued)
    left = q + timedelta(seconds=wait)
    return ContactEvent(contact_id=cid, source="acd", customer=customer, queue=queue, channel=channel,  # type: ignore[arg-type]
                        queued_at=q, answered_at=left if answered else None, abandoned_at=None if answered else left,
                        ended_at=left + timedelta(seconds=handle if answered else 0), first_contact_resolution=fcr)


# The 14:45 interval of queue "support", voice:
#   c1 14:46:00 answered after 10 s, handled 300 s, resolved at first contact
#   c2 14:47:00 answered after 25 s, handled 200 s, not resolved at first contact
#   c3 14:50:00 answered after 15 s, handled 100 s
#   c4 14:52:00 abandoned after 3 s (short: at or under 5 s)
#   c5 14:55:00 abandoned after 40 s
#   c6 14:59:59 answered 15:00:05 (6 s), handled 60 s: counts in 14:45, the interval it was queued in
# offered 6, answered 4, abandoned 2 (1 short); answered within 20 s: c1, c3, c6 = 3;
# waits 10 + 25 + 15 + 6 = 56 s (ASA 14 s); handle 300 + 200 + 100 + 60 = 660 s (AHT 165 s); FCR 1 of 2.
INTERVAL = [
    contact("c1", "2026-12-01 14:46:00", 10, handle=300, fcr=True),
    contact("c2", "2026-12-01 14:47:00", 25, handle=200, fcr=False),
    contact("c3", "2026-12-01 14:50:00", 15, handle=100),
    contact("c4", "2026-12-01 14:52:00", 3, answered=False),
    contact("c5", "2026-12-01 14:55:00", 40, answered=False),
    contact("c6", "2026-12-01 14:59:59", 6),
]


def fed(e: ContactIntervals, contacts: list[ContactEvent], close_at: str) -> tuple[list[ContactInterval], list[ContactAlert]]:
    for c in contacts:
        e.add(c, WALL)
    return e.close(utc(close_at), caught_up=True)


def test_interval_metrics_and_the_boundary() -> None:
    intervals, _ = fed(engine(), INTERVAL, "2026-12-01 16:01")
    assert len(intervals) == 1  # c6 did not open the 15:00 interval
    (row,) = intervals[0].channels
    assert (intervals[0].interval_start, row.channel, intervals[0].version) == (utc("2026-12-01 14:45"), "voice", 1)
    assert (row.offered, row.answered, row.abandoned) == (6, 4, 2)
    assert (row.short_le_s, row.short_abandoned) == ([5.0], [1])
    assert (row.within_le_s, row.answered_within) == ([20.0], [3])
    assert (row.wait_answered_s, row.handle_s) == (56.0, 660.0)
    assert (row.fcr_recorded, row.fcr_resolved) == (2, 1)


@pytest.mark.parametrize("formula, level", [
    ("offered", 3 / 6),  # answered within 20 s over offered
    ("offered_minus_short_abandons", 3 / 5),  # the short abandon is not offered
    ("answered", 3 / 4),  # abandons do not count at all
])
def test_each_service_level_formula(formula: str, level: float) -> None:
    _, alerts = fed(engine(formula), INTERVAL, "2026-12-01 16:01")
    by_measure = {a.measure: a for a in alerts}
    assert by_measure["service_level"].type == "breached" and by_measure["service_level"].value == level
    # abandonment (2 - 1) / (6 - 1) = 0.2 > 0.1, whatever the formula; ASA 14 s <= 30 s: met, nothing to say
    assert by_measure["abandonment"].value == 0.2 and by_measure["abandonment"].type == "breached"
    assert set(by_measure) == {"service_level", "abandonment"}
    assert {a.at for a in alerts} == {utc("2026-12-01 15:00")}


def test_short_abandon_is_at_or_under_the_threshold() -> None:
    (interval,), _ = fed(engine(), [contact("a", "2026-12-01 10:00:00", 5, answered=False),  # exactly 5 s: short
                                    contact("b", "2026-12-01 10:01:00", 5.000001, answered=False)], "2026-12-01 16:01")
    (row,) = interval.channels
    assert (row.abandoned, row.short_abandoned) == (2, [1])


def test_a_copy_never_counts_twice() -> None:
    e = engine()
    assert e.add(INTERVAL[0], WALL) == "counted"
    assert e.add(INTERVAL[0], WALL) == "duplicate"
    # the same id sent again with other content (another queue time) is a copy too
    assert e.add(contact("c1", "2026-12-01 15:10:00", 1), WALL) == "duplicate"
    (row,), _ = e.close(utc("2026-12-01 16:01"), caught_up=True)
    assert (row.channels[0].offered, row.interval_start) == (1, utc("2026-12-01 14:45"))
    # another customer's contact of the same id is its own
    assert e.add(contact("c1", "2026-12-01 14:46:00", 10, customer="globex"), WALL) == "counted"


def test_a_late_contact_corrects_a_published_interval_and_its_facts() -> None:
    e = engine()
    # 14:45 as above: service level 3 / 5 = 0.6 < 0.8 and abandonment 0.2: both breached.
    # 15:00: two answered in 10 s: service level 1.0, ASA 10 s, abandonment 0: met on every measure,
    # after a miss on service level and abandonment: both recovered at 15:00.
    later = [contact("d1", "2026-12-01 15:01:00", 10), contact("d2", "2026-12-01 15:02:00", 10)]
    intervals, alerts = fed(e, INTERVAL + later, "2026-12-01 16:01")
    assert [(r.interval_start, r.version) for r in intervals] == [(utc("2026-12-01 14:45"), 1), (utc("2026-12-01 15:00"), 1)]
    assert sorted((a.measure, a.type, a.interval_start.minute) for a in alerts) == [
        ("abandonment", "breached", 45), ("abandonment", "recovered", 0),
        ("service_level", "breached", 45), ("service_level", "recovered", 0)]
    first = {(a.measure, a.type): a.event_id for a in alerts}
    # Fifteen late contacts of 14:45, each answered in 5 s: offered 21, short 1, within 18:
    # 18 / 20 = 0.9 >= 0.8 met; abandonment 1 / 20 = 0.05 <= 0.1 met. The breaches no longer hold,
    # nor do the recoveries after them (14:45 met): four corrections, nothing new.
    late = [contact(f"l{i}", f"2026-12-01 14:{46 + i // 2}:{10 * (i % 2):02d}", 5) for i in range(15)]
    intervals, alerts = fed(e, late, "2026-12-01 16:02")
    assert [(r.interval_start, r.version, r.channels[0].offered, r.channels[0].answered_within) for r in intervals] == [
        (utc("2026-12-01 14:45"), 2, 21, [18])]
    assert all(a.type == "correction" for a in alerts) and len(alerts) == 4
    assert {a.corrects for a in alerts} == set(first.values())
    # Nothing changed since: closing again says nothing.
    assert e.close(utc("2026-12-01 16:03"), caught_up=True) == ([], [])


def test_a_fact_that_holds_again_gets_a_new_id() -> None:
    e = engine()
    # 10:00: one contact answered in 30 s: service level 0 / 1, breached.
    _, (breach,) = fed(e, [contact("x1", "2026-12-01 10:00:00", 30)], "2026-12-01 16:01")
    assert (breach.measure, breach.type) == ("service_level", "breached")
    # four fast ones: 4 / 5 = 0.8 met: the breach is taken back
    _, (taken,) = fed(e, [contact(f"x{i}", "2026-12-01 10:01:00", 1) for i in range(2, 6)], "2026-12-01 16:02")
    assert (taken.type, taken.corrects) == ("correction", breach.event_id)
    # two slow ones: 4 / 7 < 0.8, breached again: a new id, not the one taken back
    _, (again,) = fed(e, [contact(f"y{i}", "2026-12-01 10:02:00", 25) for i in range(2)], "2026-12-01 16:03")
    assert again.type == "breached" and again.event_id not in (breach.event_id, taken.event_id)


def test_contacts_older_than_kept_are_late() -> None:
    e = engine(keep=timedelta(hours=2))
    fed(e, [contact("a", "2026-12-01 14:00:00", 1)], "2026-12-01 17:00")
    # kept from the interval 2 h before the watermark (17:00): 15:00
    assert e.add(contact("b", "2026-12-01 14:59:59", 1), WALL) == "late"
    assert e.add(contact("c", "2026-12-01 15:00:00", 1), WALL) == "counted"
    # the interval of a was forgotten with its contact ids
    assert e.add(contact("a", "2026-12-01 14:00:00", 1), WALL) == "late"


def test_channel_objectives_judge_each_queue() -> None:
    e = engine()
    # The "*" chat objective (ASA <= 60 s) judges every queue's chats apart from its other channels:
    # sales chat waits 90 s: ASA 90 > 60, breached; sales voice waits 200 s (no voice objective on
    # sales); support chat waits 15 s: met. Support's own objective sums chat and voice:
    # ASA (15 + 10) / 2 = 12.5 s met, service level 2 of 2 within 20 s met, no abandons.
    _, alerts = fed(e, [contact("s1", "2026-12-01 09:00:00", 90, queue="sales", channel="chat"),
                        contact("s2", "2026-12-01 09:01:00", 200, queue="sales"),
                        contact("t1", "2026-12-01 09:02:00", 15, queue="support", channel="chat"),
                        contact("t2", "2026-12-01 09:03:00", 10, queue="support")], "2026-12-01 16:01")
    assert [(a.objective, a.queue, a.channel, a.measure, a.value, a.target) for a in alerts] == [
        ("*/chat", "sales", "chat", "asa", 90.0, 60.0)]


def test_one_record_from_a_clock_ahead_closes_nothing() -> None:
    e = engine()
    e.add(contact("a", "2026-12-01 10:00:00", 1), WALL)
    e.add(contact("b", "2026-12-01 10:01:00", 1), WALL)
    e.add(contact("z", "2026-12-03 10:00:00", 1), WALL)  # ends two days ahead, alone
    # not caught up (or not idle): only the watermark closes, and it trails the lone record
    assert e.close(WALL, caught_up=False) == ([], [])
    assert e.watermark == micros(utc("2026-12-01 10:02:01"))  # b's end: the lone record does not count


@pytest.mark.parametrize("change, message", [
    ({"abandoned_at": "2026-12-01T10:00:05Z"}, "exactly one of answered_at and abandoned_at"),
    ({"answered_at": None}, "exactly one of answered_at and abandoned_at"),
    ({"answered_at": "2026-12-01T09:59:00Z"}, "times out of order"),
    ({"ended_at": "2026-12-01T10:00:01Z"}, "times out of order"),
    ({"channel": "fax"}, "Input should be 'voice', 'chat', 'email' or 'messaging'"),
    ({"answered_at": None, "abandoned_at": "2026-12-01T10:00:05Z", "first_contact_resolution": True},
     "first_contact_resolution is for answered contacts only"),
])
def test_invalid_contacts_say_why(change: dict[str, object], message: str) -> None:
    record = {"contact_id": "c", "source": "acd", "customer": "acme", "queue": "support", "channel": "voice",
              "queued_at": "2026-12-01T10:00:00Z", "answered_at": "2026-12-01T10:00:05Z",
              "ended_at": "2026-12-01T10:03:00Z", **change}
    with pytest.raises(ValueError, match=message):
        ContactEvent.model_validate(record)


def test_the_interval_record_carries_each_measure_as_a_ratio() -> None:
    (interval,), _ = fed(engine(), INTERVAL, "2026-12-01 16:01")
    # service level 3 within 20 s of 6 - 1 short = 5; ASA 56 s over 4 answered; abandonment (2 - 1) / (6 - 1).
    # The "*/chat" objective has no chat contact here: nothing to judge, no line.
    assert [(o.objective, o.measure, o.num, o.den, o.value, o.met) for o in interval.objectives] == [
        ("support", "service_level", 3, 5, 0.6, False), ("support", "asa", 56.0, 4, 14.0, True),
        ("support", "abandonment", 1, 5, 0.2, False)]


def test_what_is_saved_restores_the_same_engine() -> None:
    import orjson

    from streams.engine.contacts import dump_series, dump_slot, load_series, load_slot

    first = engine()
    fed(first, INTERVAL + [contact("d1", "2026-12-01 15:01:00", 10)], "2026-12-01 16:01")
    slots, series, dropped, _ = first.unsaved()
    assert set(slots) == {("acme", "support", micros(utc("2026-12-01 14:45"))),
                          ("acme", "support", micros(utc("2026-12-01 15:00")))} and not dropped
    assert first.unsaved() == ({}, {}, set(), set())  # listed once
    # through JSON, as a table holds them
    second = engine()
    second.restore([(k, load_slot(orjson.loads(orjson.dumps(dump_slot(v))))) for k, v in slots.items()],
                   [(k, load_series(orjson.loads(orjson.dumps(dump_series(v))))) for k, v in series.items()],
                   first.closed_until, WALL)
    late = [contact(f"l{i}", "2026-12-01 14:48:00", 5) for i in range(15)]
    assert second.add(INTERVAL[2], WALL) == "duplicate"  # counted before the save
    assert fed(second, late, "2026-12-01 16:02") == fed(first, late, "2026-12-01 16:02")


def test_forgotten_intervals_are_listed_for_deletion() -> None:
    e = engine(keep=timedelta(hours=6))
    fed(e, [contact("a", "2026-12-01 10:00:00", 30)], "2026-12-01 16:01")  # breached at 10:00; kept from 10:00
    e.unsaved()
    fed(e, [], "2026-12-01 17:00")  # kept from 11:00 on: the 10:00 slot goes, its miss stays as `before`
    slots, series, dropped, gone = e.unsaved()
    assert dropped == {("acme", "support", micros(utc("2026-12-01 10:00")))} and not slots
    # ASA (30 s) and abandonment (none) met at 10:00: nothing later depends on them, they go too
    assert gone == {("gold", "support", "acme", "support", "asa"), ("gold", "support", "acme", "support", "abandonment")}
    (kept,) = series.values()
    assert (kept.judged, kept.before, kept.published) == ({}, False, {})
