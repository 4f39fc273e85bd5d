"""Kept serialised bytes hold their length, not orjson's whole buffer (tracemalloc sees what
each allocation really took)."""

from __future__ import annotations

import tracemalloc
from typing import Callable

import orjson

from schemas.compact import compact
from schemas.outputs import entity_key

KEYS = 2_000


def held_per_item(make: Callable[[int], bytes]) -> float:
    """Bytes allocated per item for `KEYS` items made by `make` and kept."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make(i) for i in range(KEYS)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(kept) == KEYS
    return held / KEYS


def test_compact_is_the_same_bytes_in_an_object_of_their_size() -> None:
    raw = orjson.dumps({"state": "x" * 1500})
    assert compact(raw) == raw and compact(b"") == b""
    # A key of about 40 bytes: the list's slot, the object's header and the bytes themselves.
    assert held_per_item(lambda i: compact(orjson.dumps(["ticket", "acme", f"T{i}"]))) < 120


def test_entity_keys_kept_by_the_worker_are_compact() -> None:
    # Cached entries, the due index and the tables hold one per entity: orjson's own buffer
    # would be 4 KiB each (3.12 and later).
    assert held_per_item(lambda i: entity_key("ticket", "acme", f"T{i}")) < 120
