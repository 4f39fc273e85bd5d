"""Hostile input for the fuzz run: valid events with bad records of every sort between them.

Each bad record is a mutation of a valid one (or noise); `hostile` checks offline that the
contract refuses it, so a mutation the models would accept fails the run at once instead
of being counted as bad input that was "stored".
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any, Callable, get_args

import orjson

from schemas.events import EVENT_MODELS
from streams.validate import Rejection, validate

Record = tuple[str, str, bytes]  # kind, key, value
ENTITY = {"ticket": "ticket_id", "incident": "incident_id", "probe": "service"}
BROKER_LIMIT = 1_000_000  # the producer's default message.max.bytes


def _wrong_type(value: Any, rng: random.Random, nullable: bool) -> Any:
    """A value of another type; never null for a field that may be null (an optional one)."""
    if isinstance(value, bool):
        choices = [1, 0, "true", None, [True]]
    elif isinstance(value, (int, float)):
        choices = [True, str(value), None, [value], {"v": value}]
    else:
        choices = [123, 1.5, False, None, [value], {"v": value}]
    return rng.choice([c for c in choices if not (nullable and c is None)])


def _nullable(kind: str, name: str) -> bool:
    field = EVENT_MODELS[kind].model_fields.get(name)
    return field is not None and type(None) in get_args(field.annotation)


ODD_DATES: list[Any] = [
    1764237600, 1764237600.5, 1764237600000, "1764237600", "2026-11-27", "27/11/2026 10:00",
    "2026-11-27T10:00:00", "2026-02-30T10:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "2026-11-27T10:00:00+25:00", "", "now", None, "2026-11-27T10:00:00Z" * 20,
]


def _huge(rng: random.Random, kind: str, key: str, event: dict[str, Any]) -> Record:
    """Over the size limit (64 KiB), now and then close to the broker's 1 MB."""
    size = rng.randint(100_000, 950_000) if rng.random() < 0.1 else rng.randint(66_000, 70_000)
    return kind, key, orjson.dumps({**event, rng.choice(["source", "event_id"]): "h" * size})


def _mutations(rng: random.Random, kind: str, key: str, event: dict[str, Any]) -> list[Callable[[], Record]]:
    def with_(**change: Any) -> Record:
        return kind, key, orjson.dumps({**event, **change})

    def field_(name: str, value: Any) -> Record:
        return kind, key, orjson.dumps({**event, name: value})

    raw = orjson.dumps(event)
    name = rng.choice(sorted(event))
    return [
        lambda: (kind, key, rng.randbytes(rng.randint(0, 300))),  # noise
        lambda: (kind, key, raw[: rng.randrange(len(raw))]),  # truncated
        lambda: (kind, key, b"[" * (d := rng.randint(100, 2000)) + b"]" * d),  # deeply nested
        lambda: (kind, key, b'{"a":' * (d := rng.randint(50, 1500)) + b"1" + b"}" * d),
        lambda: field_(name, _wrong_type(event[name], rng, _nullable(kind, name))),  # wrong type
        lambda: field_("occurred_at", rng.choice(ODD_DATES)),  # odd dates
        lambda: (kind, key, raw.replace(b'"source":"', b'"source":"\xff\xfe\xc3', 1)),  # not UTF-8
        lambda: field_("source", "x" * rng.randint(300, 2000)),  # over a field's length
        lambda: with_(unknown=rng.random()),  # a field the contract does not have
        lambda: (kind, key, rng.choice([b"", b"null", b"true", b"1", b'"text"', b"NaN", b"{}", b"[]"])),
        lambda: (kind, key, raw[:-1] + b',"x":' + b"1" * rng.randint(400, 5000) + b"}"),  # huge number
        lambda: (kind, f"{key}-other", raw),  # valid, keyed by another entity
    ]


def hostile(records: list[Record], bad_share: float, seed: int) -> tuple[list[Record], int]:
    """`records` (all valid) with bad ones between them, about `bad_share` of the result;
    returns the mix and how many are bad."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    out: list[Record] = []
    bad = 0
    for kind, key, value in records:
        out.append((kind, key, value))
        while rng.random() < bad_share:  # geometric: about bad_share/(1-bad_share) per valid record
            event = orjson.loads(value)
            # Huge records are 1 in 100: enough to hit every size path without gigabytes of input.
            record = _huge(rng, kind, key, event) if rng.random() < 0.01 else rng.choice(
                _mutations(rng, kind, key, event))()
            _, bad_key, bad_value = record
            if len(bad_value) + len(bad_key) > BROKER_LIMIT:
                continue
            accepted = validate(kind, bad_value, now)
            assert isinstance(accepted, Rejection) or bad_key != getattr(accepted, ENTITY[kind]), \
                f"the contract accepts a mutation meant to be bad: {bad_value[:300]!r}"
            out.append(record)
            bad += 1
    return out, bad
