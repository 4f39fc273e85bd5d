"""The verdict on an input record, which worker and sink reach alike: the record as both
read it (`Consumed`), its broker time, whether the event is accepted, and the
`input_events` rows accepted probe results become (the worker writes them, so the sink
stores them without judging the results again)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple, Sequence

import orjson

from schemas import codec
from schemas.deadletter import KEY_KEPT, DeadLetter, Reason
from schemas.events import ProbeEvent
from streams.validate import AnyEvent, Limits, Rejection, in_time, validate, validate_many, wrong_key


class Consumed(NamedTuple):
    """What worker and sink need of one input record (a tuple: one is made per record read)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: datetime  # when the broker appended the record (input topics use LogAppendTime)


def record_time(timestamp_ms: int | None) -> datetime:
    """A Kafka record timestamp as a datetime; now when the record has none."""
    if timestamp_ms is None or timestamp_ms < 0:
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc)


def accepted(kind: str, record: Consumed, limits: Limits) -> AnyEvent | Rejection:
    """The worker's verdict on an input record, which the sink repeats to store exactly the
    events the worker took: validation against the record's own timestamp (not the wall
    clock, so both processes, and any later re-read, agree), and the key the entity's id."""
    try:
        result = validate(kind, record.value, record.timestamp, limits)
    except Exception as exc:  # a bug in validation must not stop a process: the record is refused
        return Rejection(Reason.processing_error, f"{type(exc).__name__}: {exc}")
    return _keyed(result, record.key)


def accepted_many(kind: str, record: Consumed, limits: Limits) -> list[AnyEvent | Rejection]:
    """`accepted` for a record that may hold a batch (validate_many): a verdict per event."""
    value = record.value
    if kind == "probe" and value is not None and value[:1] == b"{" and len(value) <= limits.max_bytes:
        # A single result, the common case: parsed and checked by pydantic-core from the bytes,
        # its time and key checked here; anything else gets the verdict (and reason) below.
        try:
            event = ProbeEvent.model_validate_json(value)
        except Exception:
            pass
        else:
            if in_time(event.occurred_at, record.timestamp, limits) and event.service == _text(record.key):
                return [event]
    try:
        results = validate_many(kind, record.value, record.timestamp, limits)
    except Exception as exc:
        return [Rejection(Reason.processing_error, f"{type(exc).__name__}: {exc}")]
    if len(results) == 1:
        return [_keyed(results[0], record.key)]
    key = _text(record.key)
    if all(type(result) is ProbeEvent and result.service == key for result in results):
        return results  # a batch of one service, its key: one check for the batch
    out: list[AnyEvent | Rejection] = []
    for n, result in enumerate(results, 1):
        result = _keyed(result, record.key)
        if isinstance(result, Rejection) and result.reason == Reason.wrong_key:
            result = Rejection(result.reason, f"result {n} of {len(results)}: {result.detail}")
        out.append(result)
    return out


def _text(key: bytes | None) -> str | None:
    """A key as the text an entity id would have; None when it has none."""
    try:
        return None if key is None else key.decode()
    except UnicodeDecodeError:
        return None


def _keyed(result: AnyEvent | Rejection, key: bytes | None) -> AnyEvent | Rejection:
    """A valid event whose record's key is not its entity id is refused (wrong_key)."""
    if not isinstance(result, Rejection) and key != result.entity_id.encode():
        return Rejection(Reason.wrong_key, wrong_key(result, key))
    return result


def probe_rows(topic: str, partition: int, offsets: Sequence[int], events: Sequence[ProbeEvent]) -> bytes:
    """Accepted probe results of one input partition as a JSONEachRow line of `probe_events_in`:
    each result as its event's JSON beside the offset of its record, which ClickHouse splits
    into `input_events` rows (migration 0011; `ingested_at` is filled in by the table)."""
    return orjson.dumps({
        "topic": topic, "partition": partition, "offsets": offsets,
        # The event's fields in the model's order (its __dict__), as model_dump_json writes them at a
        # third of the cost: each an object where a String goes, stored as its text.
        "results": [event.__dict__ for event in events],
    }, option=orjson.OPT_UTC_Z)


def dead_letter(record: Consumed, reason: Reason, detail: str, at: datetime) -> tuple[bytes | None, bytes, dict[str, bytes]]:
    """A refused record's dead-letter record: key (the original's, bounded), value and headers."""
    letter = DeadLetter.of(reason, detail, record.topic, record.partition, record.offset, record.key, record.value, at)
    key = None if record.key is None else record.key[:KEY_KEPT]
    return key, codec.dumps(letter), {"slastream.reason": reason.value.encode()}
