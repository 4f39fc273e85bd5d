"""Contacts live: a synthetic week through the real broker and the worker's contact feed, with
a SIGKILL of the worker in the middle and late contacts after every interval was published,
then the sink into embedded ClickHouse. The last version of every interval, the objective
facts that hold and the monthly views equal the figures tests/integration/contact_week.py
computes from the generated records; invalid and too-old contacts are dead-lettered with
their reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction

import orjson

from schemas.deadletter import DeadLetter
from streams.kafka_util import lag, read_all, worker_lag
from tests.conftest import clickhouse
from tests.integration import contact_week
from tests.integration.helpers import send

START = (datetime.now(timezone.utc) - timedelta(days=8)).replace(hour=0, minute=0, second=0, microsecond=0)
ENV = {"CONTACT_LATENESS_S": "60", "CONTACT_IDLE_S": "3", "STORE": "rocksdb://"}


def late_contacts() -> list[dict]:
    """Ten abandons after 40 s, queued at 13:05 on the week's last day: that interval of acme's
    support queue now misses service level and abandonment (published again, corrected)."""
    queued = START + timedelta(days=6, hours=13, minutes=5)
    return [{"contact_id": f"late-{i}", "source": "acd", "customer": "acme", "queue": "support", "channel": "voice",
             "queued_at": contact_week._iso(queued), "abandoned_at": contact_week._iso(queued + timedelta(seconds=40)),
             "ended_at": contact_week._iso(queued + timedelta(seconds=40))} for i in range(10)]


def refused() -> list[tuple[dict, str, str]]:
    """Records the worker must dead-letter: (record, reason, a part of the detail)."""
    base = {"contact_id": "x", "source": "acd", "customer": "acme", "queue": "support", "channel": "voice",
            "queued_at": contact_week._iso(START + timedelta(days=6, hours=9)),
            "answered_at": contact_week._iso(START + timedelta(days=6, hours=9, seconds=5)),
            "ended_at": contact_week._iso(START + timedelta(days=6, hours=9, minutes=5))}
    too_old = START + timedelta(hours=9)  # the week's first day: over CONTACT_KEEP_DAYS (3) behind
    return [
        ({**base, "contact_id": "both", "abandoned_at": base["answered_at"]}, "invalid",
         "exactly one of answered_at and abandoned_at"),
        ({**base, "contact_id": "order", "ended_at": base["queued_at"]}, "invalid", "times out of order"),
        ({**base, "contact_id": "fax", "channel": "fax"}, "invalid", "channel"),
        ({**base, "contact_id": "old", "queued_at": contact_week._iso(too_old),
          "answered_at": contact_week._iso(too_old + timedelta(seconds=5)),
          "ended_at": contact_week._iso(too_old + timedelta(minutes=5))}, "late", "no longer kept"),
    ]


def as_records(contacts: list[dict]) -> list[tuple[str, str, bytes]]:
    return [("contact", c["queue"], orjson.dumps(c)) for c in contacts]


def latest_intervals(run) -> dict[tuple[str, str, datetime], dict]:
    s = run.settings
    out: dict[tuple[str, str, datetime], dict] = {}
    for msg in read_all(s, s.topic_contact_intervals):
        r = orjson.loads(msg.value())
        key = (r["customer"], r["queue"], datetime.fromisoformat(r["interval_start"]))
        if key not in out or r["version"] > out[key]["version"]:
            out[key] = r
    return out


def holding_facts(run) -> set[tuple]:
    s = run.settings
    alerts = {}
    for msg in read_all(s, s.topic_breaches):
        r = orjson.loads(msg.value())
        if r.get("kind") == "contact":
            assert alerts.setdefault(r["event_id"], r) == r  # a copy is the same record
    taken = {r["corrects"] for r in alerts.values() if r["type"] == "correction"}
    return {(r["contract_id"], r["objective"], r["customer"], r["queue"], r["measure"], r["type"],
             datetime.fromisoformat(r["interval_start"]))
            for eid, r in alerts.items() if r["type"] != "correction" and eid not in taken}


def figures(record: dict) -> dict[str, tuple]:
    return {c["channel"]: (c["offered"], c["answered"], c["abandoned"], Fraction(c["wait_answered_s"]),
                           Fraction(c["handle_s"]), c["fcr_recorded"], c["fcr_resolved"]) for c in record["channels"]}


def test_a_week_of_contacts_through_a_sigkill_and_late_contacts(run, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(contact_week.POLICY)
    env = {"SLA_POLICY_FILE": str(policy), **ENV}
    week = contact_week.week(START)
    records = as_records(week)
    records.insert(100, records[40])  # a copy, redelivered
    cut = len(records) // 2
    send(run.settings, records[:cut])
    s = run.settings
    first = run.worker(**env)
    first.wait_until(lambda: len(latest_intervals(run)) > 50 and worker_lag(s, [s.topic_contacts]) < cut, 120,
                     "some intervals published and contacts committed", every=0.5)
    first.kill()
    send(s, records[cut:] + as_records([r for r, _, _ in refused()]))
    expected = contact_week.intervals(week)
    second = run.worker(**env, supervised=True)
    second.wait_until(lambda: len(latest_intervals(run)) == len(expected) and worker_lag(s, [s.topic_contacts]) == 0,
                      180, "every interval published", every=1.0)

    late = late_contacts()
    send(s, as_records(late))
    expected = contact_week.intervals(week + late)
    corrected = (("acme", "support", START + timedelta(days=6, hours=13)))
    second.wait_until(lambda: figures(latest_intervals(run)[corrected]) == expected[corrected]
                      and worker_lag(s, [s.topic_contacts]) == 0, 120, "the corrected interval", every=1.0)
    second.stop()

    published = latest_intervals(run)
    assert {k: figures(r) for k, r in published.items()} == expected
    assert published[corrected]["version"] >= 2
    assert holding_facts(run) == contact_week.facts(week + late)
    bad = {("invalid", "acme"), ("late", "acme")}
    letters = [orjson.loads(m.value()) for m in read_all(s, s.topic_deadletter)]
    originals = [orjson.loads(DeadLetter.model_validate(letter).payload()) for letter in letters]
    assert {(letter["reason"], original["customer"]) for letter, original in zip(letters, originals)} == bad
    for record, reason, detail in refused():  # each once or more (read again after the kill)
        assert any(letter["reason"] == reason and detail in letter["detail"] and original["contact_id"] == record["contact_id"]
                   for letter, original in zip(letters, originals)), record["contact_id"]

    run.store(**env)
    stored, events, months, inputs, daily, judged_daily = views(run)
    assert stored == expected
    assert events == contact_week.facts(week + late)
    assert months == contact_week.monthly(week + late)
    assert inputs == len(week) + len(late) + 1  # the copy once; the too-old contact is stored (as late probes are)
    by_day: dict[tuple, list[int]] = {}
    for (customer, queue, start), channels in expected.items():
        day = by_day.setdefault((customer, queue, start.date()), [0, 0, 0])
        for offered, answered, abandoned, *_ in channels.values():
            day[0], day[1], day[2] = day[0] + offered, day[1] + answered, day[2] + abandoned
    assert daily == {k: tuple(v) for k, v in by_day.items()}
    judged: dict[tuple, list[int]] = {}
    for (contract, objective, _, queue, measure), rows in contact_week.judgements(week + late).items():
        for start, met, _, _ in rows:
            n = judged.setdefault((contract, objective, queue, measure, start.date()), [0, 0])
            n[0], n[1] = n[0] + 1, n[1] + met
    assert judged_daily == {k: tuple(v) for k, v in judged.items()}

    # Read again from the start by a new consumer group (another APP_ID: state and offsets of its
    # own): the same intervals (versions from 1 again) and facts under the same ids; the stored
    # tables do not change.
    again = f"{s.app_id}-again"
    replayer = run.worker(**env, APP_ID=again, DATA_DIR=str(tmp_path / "again"))
    replayer.wait_until(lambda: lag(s, f"{again}-contacts", [s.topic_contacts]) == 0, 180,
                        "the contacts read again", every=1.0)
    replayer.stop()
    run.store(**env)
    assert views(run) == (stored, events, months, inputs, daily, judged_daily)


def views(run) -> tuple:
    """What the sink stored: intervals, facts that hold, monthly and daily views, contact inputs."""
    with clickhouse(run.chdb_path) as client:
        stored: dict[tuple, dict[str, tuple]] = {}
        for customer, queue, channel, start, *counts in client.query(
                "SELECT customer, queue, channel, interval_start, offered, answered, abandoned, wait_answered_s, "
                "handle_s, fcr_recorded, fcr_resolved FROM contact_intervals FINAL").result_rows:
            counts[3:5] = [Fraction(counts[3]), Fraction(counts[4])]
            stored.setdefault((customer, queue, start.replace(tzinfo=timezone.utc)), {})[channel] = tuple(counts)
        events = {(*r[:6], r[6].replace(tzinfo=timezone.utc)) for r in client.query(
            "SELECT contract_id, objective, customer, queue, measure, type, interval_start FROM contact_events").result_rows}
        months = {(*r[:4], datetime(r[4].year, r[4].month, 1, tzinfo=timezone.utc), *r[5:]) for r in client.query(
            "SELECT a.contract_id, a.objective, a.queue, a.measure, a.month, a.intervals, a.intervals_met, "
            "round(a.value, 9), c.credit_percent FROM contact_attainment_monthly AS a "
            "JOIN contact_credits_monthly AS c USING (contract_id, objective, customer, queue, measure, month)").result_rows}
        inputs = client.command("SELECT count() FROM input_events FINAL WHERE kind = 'contact'")
        daily = {(r[0], r[1], r[2]): r[3:] for r in client.query(
            "SELECT customer, queue, day, sum(offered), sum(answered), sum(abandoned) FROM contact_levels_daily "
            "GROUP BY customer, queue, day").result_rows}
        judged_daily = {(*r[:4], r[4]): tuple(r[5:]) for r in client.query(
            "SELECT contract_id, objective, queue, measure, day, intervals, intervals_met FROM "
            "contact_objective_levels_daily").result_rows}
    return stored, events, months, inputs, daily, judged_daily

