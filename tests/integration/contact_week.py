"""A synthetic week of contacts with a bad afternoon, and the figures it must give, computed
here from the generated records in plain Python (not by streams/engine/contacts.py).

Two customers each have a queue named "support" (kept apart: ids and queues are scoped by
customer); acme also has "sales". Every 15-minute interval gets a few voice and chat
contacts; on the third day from 13:00 to 17:00 acme's waits are long and many give up.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from fractions import Fraction

POLICY = """
contracts:
  - id: care
    customer: acme
    services: ["*"]
    contacts:
      short_abandon: 5s
      objectives:
        - queue: support
          service_level: {target: 0.8, within: 20s}
          max_asa: 30s
          max_abandonment: 0.1
        - queue: "*"
          channel: chat
          max_asa: 60s
    credits:
      - {below: 0.95, credit: 5}
      - {below: 0.9, credit: 10}
  - id: care-globex
    customer: globex
    services: ["*"]
    contacts:
      service_level_formula: answered
      objectives:
        - queue: support
          service_level: {target: 0.8, within: 30s}
"""
# (contract, objective, customer, queue pattern, channel or None, measure, formula, short s, within s, limit)
OBJECTIVES = [
    ("care", "support", "acme", "support", None, "service_level", "offered_minus_short_abandons", 5, 20, Fraction("0.8")),
    ("care", "support", "acme", "support", None, "asa", "", 5, 0, Fraction(30)),
    ("care", "support", "acme", "support", None, "abandonment", "", 5, 0, Fraction("0.1")),
    ("care", "*/chat", "acme", "*", "chat", "asa", "", 5, 0, Fraction(60)),
    ("care-globex", "support", "globex", "support", None, "service_level", "answered", 5, 30, Fraction("0.8")),
]
QUEUES = [("acme", "support"), ("acme", "sales"), ("globex", "support")]
INTERVAL = timedelta(minutes=15)


def week(start: datetime, days: int = 7, seed: int = 29) -> list[dict]:
    """Contact records in the order a platform sends them (by end time)."""
    rng = random.Random(seed)
    out = []
    n = 0
    for slot in range(days * 96):
        at = start + slot * INTERVAL
        bad = slot // 96 == 2 and 13 <= at.hour < 17
        for customer, queue in QUEUES:
            for _ in range(rng.randint(5, 10)):
                n += 1
                queued = at + timedelta(seconds=rng.randint(0, 899))
                channel = rng.choice(["voice", "voice", "chat"])
                wait = rng.choice([2, 4, 6, 8, 10, 12, 14, 16, 18, 35]) + (rng.randint(60, 300) if bad and customer == "acme" else 0)
                record = {"contact_id": f"{customer}-{n}", "source": "acd", "customer": customer, "queue": queue,
                          "channel": channel, "queued_at": _iso(queued)}
                if rng.random() < (0.4 if bad else 0.03):
                    gave_up = queued + timedelta(seconds=rng.choice([2, 4, wait]))
                    record |= {"abandoned_at": _iso(gave_up), "ended_at": _iso(gave_up)}
                else:
                    answered = queued + timedelta(seconds=wait)
                    record |= {"answered_at": _iso(answered), "ended_at": _iso(answered + timedelta(seconds=rng.randint(60, 900))),
                               "first_contact_resolution": rng.random() < 0.7}
                out.append(record)
    return sorted(out, key=lambda r: r["ended_at"])


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def interval_start(at: datetime) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + (at - epoch) // INTERVAL * INTERVAL


def _wait(record: dict) -> Fraction:
    left = record.get("answered_at") or record["abandoned_at"]
    return Fraction(int((_at(left) - _at(record["queued_at"])).total_seconds() * 1_000_000), 1_000_000)


def intervals(records: list[dict]) -> dict[tuple[str, str, datetime], dict[str, tuple]]:
    """(customer, queue, interval start) -> channel -> (offered, answered, abandoned, answer
    waits s, handle s, fcr recorded, fcr resolved); each contact id once per customer."""
    seen, out = set(), defaultdict(lambda: defaultdict(lambda: [0, 0, 0, Fraction(0), Fraction(0), 0, 0]))
    for r in records:
        if (r["customer"], r["contact_id"]) in seen:
            continue
        seen.add((r["customer"], r["contact_id"]))
        c = out[(r["customer"], r["queue"], interval_start(_at(r["queued_at"])))][r["channel"]]
        c[0] += 1
        if "answered_at" in r:
            c[1] += 1
            c[3] += _wait(r)
            c[4] += Fraction(int((_at(r["ended_at"]) - _at(r["answered_at"])).total_seconds()))
            if "first_contact_resolution" in r:
                c[5] += 1
                c[6] += r["first_contact_resolution"]
        else:
            c[2] += 1
    return {k: {ch: tuple(v) for ch, v in chans.items()} for k, chans in out.items()}


Judged = dict[tuple[str, str, str, str, str], list[tuple[datetime, bool, Fraction, int]]]


def judgements(records: list[dict]) -> Judged:
    """(contract, objective, customer, queue, measure) -> (interval start, met, num, den) of
    every interval with something to judge, in time order; each contact id once per customer."""
    seen, by_slot = set(), defaultdict(list)
    for r in records:
        if (r["customer"], r["contact_id"]) not in seen:
            seen.add((r["customer"], r["contact_id"]))
            by_slot[(r["customer"], r["queue"], interval_start(_at(r["queued_at"])))].append(r)
    out: Judged = defaultdict(list)
    for contract, label, customer, pattern, channel, measure, formula, short_s, within_s, limit in OBJECTIVES:
        for (cust, queue, start), rs in sorted(by_slot.items()):
            if cust != customer or pattern not in ("*", queue):
                continue
            rs = [r for r in rs if channel is None or r["channel"] == channel]
            answered = [r for r in rs if "answered_at" in r]
            short = sum(1 for r in rs if "abandoned_at" in r and _wait(r) <= short_s)
            num: Fraction
            if measure == "service_level":
                num = Fraction(sum(1 for r in answered if _wait(r) <= within_s))
                den = {"offered_minus_short_abandons": len(rs) - short, "answered": len(answered)}[formula]
                met = num >= limit * den
            elif measure == "asa":
                num, den = sum((_wait(r) for r in answered), Fraction(0)), len(answered)
                met = num <= limit * den
            else:
                num, den = Fraction(sum(1 for r in rs if "abandoned_at" in r) - short), len(rs) - short
                met = num <= limit * den
            if den > 0:
                out[(contract, label, customer, queue, measure)].append((start, met, num, den))
    return out


def facts(records: list[dict]) -> set[tuple[str, str, str, str, str, str, datetime]]:
    """(contract, objective, customer, queue, measure, breached | recovered, interval start)
    that hold once every record is in."""
    out = set()
    for (contract, label, customer, queue, measure), judged in judgements(records).items():
        before = None
        for start, met, _, _ in judged:
            if not met:
                out.add((contract, label, customer, queue, measure, "breached", start))
            elif before is False:
                out.add((contract, label, customer, queue, measure, "recovered", start))
            before = met
    return out


CREDITS = {"care": [(0.95, 5.0), (0.9, 10.0)], "care-globex": []}


def monthly(records: list[dict]) -> set[tuple]:
    """(contract, objective, queue, measure, month, intervals, met, month's value, credit %)."""
    out = set()
    for (contract, label, _, queue, measure), judged in judgements(records).items():
        months: dict[datetime, list] = defaultdict(list)
        for start, met, num, den in judged:
            months[start.replace(day=1, hour=0, minute=0)].append((met, num, den))
        for month, rows in months.items():
            met = sum(1 for m, _, _ in rows if m)
            attainment = met / len(rows)
            credit = max([c for below, c in CREDITS[contract] if attainment < below], default=0.0)
            value = sum(n for _, n, _ in rows) / sum(d for _, _, d in rows)
            out.add((contract, label, queue, measure, month, len(rows), met, round(float(value), 9), credit))
    return out
