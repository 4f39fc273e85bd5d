"""Turn raw record bytes into a validated event, or a reason to reject them."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import orjson
from pydantic import TypeAdapter, ValidationError

from schemas.deadletter import Reason
from schemas.events import EVENT_MODELS, MAX_BATCH, ContactEvent, IncidentEvent, ProbeBatch, ProbeEvent, TicketEvent

AnyEvent = IncidentEvent | TicketEvent | ProbeEvent | ContactEvent
_PROBE_BATCH = TypeAdapter(ProbeBatch)


@dataclass(frozen=True)
class Rejection:
    """Why a record was refused; goes to the dead-letter topic."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class Limits:
    """Bounds on what a record may look like."""

    max_bytes: int = 64 * 1024
    max_future: timedelta = timedelta(hours=1)
    max_past: timedelta = timedelta(days=400)


# What a problem quotes of the value it got: bounded in depth and length, since a hostile
# record can nest deeper than repr() can recurse, or hold megabytes.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother, _QUOTE.maxdict, _QUOTE.maxlist = 2, 50, 50, 3, 3


def describe(error: ValidationError) -> str:
    """One line per field problem: `path: message (got value)`."""
    parts = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in item["loc"]) or "<record>"
        got = "" if item["type"] == "missing" else f" (got {_QUOTE.repr(item['input']):.60})"
        parts.append(f"{path}: {item['msg']}{got}")
    return "; ".join(parts)


def validate(kind: str, data: bytes | None, now: datetime, limits: Limits = Limits()) -> AnyEvent | Rejection:
    """Parse and check one record of the given kind's topic against its model.

    `now` is injected so the "too far from now" rule is deterministic in tests.
    """
    if data is not None and len(data) <= limits.max_bytes:
        try:  # the common case, parsed and checked by pydantic-core from the bytes
            return _in_time(EVENT_MODELS[kind].model_validate_json(data), now, limits)
        except ValidationError:
            pass  # the path below names the problem (its reasons and details are the documented ones)
    obj = _parse(data, limits)
    if isinstance(obj, Rejection):
        return obj
    if not isinstance(obj, dict):  # the probe topic takes batches too (validate_many)
        return Rejection(Reason.invalid, f"expected a JSON object{' or array' if kind == 'probe' else ''}, "
                                         f"got {type(obj).__name__}")
    return _event(kind, obj, now, limits)


def validate_many(kind: str, data: bytes | None, now: datetime, limits: Limits = Limits()) -> list[AnyEvent | Rejection]:
    """Like `validate`, for a record that may also hold a batch: a JSON array of events (probe
    results only, `MAX_BATCH` at most). One verdict per event of the batch, each rejection
    naming its place ("result 3 of 100: ..."); one for the whole record when it is unreadable."""
    if kind != "probe" or data is None or len(data) > limits.max_bytes or data.lstrip()[:1] != b"[":
        return [validate(kind, data, now, limits)]
    try:  # a batch of valid results: parsed and checked by pydantic-core in one call
        events: list[ProbeEvent] = _PROBE_BATCH.validate_json(data)
    except ValidationError:
        pass  # judged result by result below
    else:
        times = [event.occurred_at for event in events]
        if in_time(min(times), now, limits) and in_time(max(times), now, limits):
            return cast(list[AnyEvent | Rejection], events)  # all in time: one check for the batch
        return [_in_time(event, now, limits) for event in events]
    obj = _parse(data, limits)
    if isinstance(obj, Rejection):
        return [obj]
    assert isinstance(obj, list)  # valid JSON that starts with "["
    if not 1 <= len(obj) <= MAX_BATCH:
        return [Rejection(Reason.invalid, f"a batch holds 1 to {MAX_BATCH} results; this one holds {len(obj)}")]
    if not any(isinstance(item, dict) for item in obj):  # not a batch at all: one rejection, not one per item
        return [Rejection(Reason.invalid, f"expected a JSON object or an array of objects, got an array of "
                                          f"{type(obj[0]).__name__}")]
    out: list[AnyEvent | Rejection] = []
    for n, item in enumerate(obj, 1):
        result = _event(kind, item, now, limits) if isinstance(item, dict) else Rejection(
            Reason.invalid, f"expected a JSON object, got {type(item).__name__}")
        if isinstance(result, Rejection):
            result = Rejection(result.reason, f"result {n} of {len(obj)}: {result.detail}")
        out.append(result)
    return out


def _parse(data: bytes | None, limits: Limits) -> object:
    if data is None:
        return Rejection(Reason.invalid, "record has no value")
    if len(data) > limits.max_bytes:
        return Rejection(Reason.too_large, f"record is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Rejection(Reason.malformed_json, f"not valid JSON: {exc}")


def _event(kind: str, obj: dict[str, object], now: datetime, limits: Limits) -> AnyEvent | Rejection:
    if obj.get("kind", kind) != kind:
        return Rejection(Reason.invalid, f"kind {obj.get('kind')!r} does not belong on the {kind} topic")
    try:
        event = EVENT_MODELS[kind].model_validate(obj)
    except ValidationError as exc:
        return Rejection(Reason.invalid, describe(exc))
    return _in_time(event, now, limits)


def in_time(at: datetime, now: datetime, limits: Limits) -> bool:
    """Whether an event time is neither too far in the future nor in the past of `now`."""
    return now - limits.max_past <= at <= now + limits.max_future


def _in_time(event: AnyEvent, now: datetime, limits: Limits) -> AnyEvent | Rejection:
    if event.occurred_at > now + limits.max_future:
        return Rejection(Reason.bad_timestamp, f"occurred_at {event.occurred_at.isoformat()} is more than {limits.max_future} in the future")
    if event.occurred_at < now - limits.max_past:
        return Rejection(Reason.bad_timestamp, f"occurred_at {event.occurred_at.isoformat()} is more than {limits.max_past} in the past")
    return event


_KEY_FIELD = {"ticket": "ticket_id", "incident": "incident_id", "probe": "service", "contact": "queue"}


def wrong_key(event: AnyEvent, key: bytes | None) -> str:
    """Why a valid event's Kafka key is refused: it must be the entity id, so that all of an
    entity's records share one partition (one owner of its state, in order)."""
    got = "no key" if key is None else f"key {key[:80].decode(errors='replace')!r}"
    return f"the Kafka key must be the {_KEY_FIELD[event.kind]} ({event.entity_id!r}); got {got}"
