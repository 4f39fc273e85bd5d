"""Serialised bytes that are kept: trimmed to their length.

orjson 3.12 and later return a bytes object that keeps the whole buffer it wrote into: at
least 4 KiB, doubled until the JSON fits, so a 40-byte key holds 4 KiB and a 1.5 kB state
16 KiB (github.com/ijl/orjson since 3.12.0; Home Assistant trims theirs alike). Harmless for a
record sent at once; for one that is kept (table keys and values, cached keys, a what-if's
outputs) it is ten to a hundred times its size. Those are compacted where they are made.
"""

from __future__ import annotations

from typing import Any

import orjson


def compact(data: bytes) -> bytes:
    """`data` in a bytes object of its own length (a copy, about 0.1 µs for a key)."""
    return b"".join((data, b""))  # `data + b""` would hand back `data` itself


def dumps_kept(value: Any) -> bytes:
    """`value`'s JSON (orjson) to be kept: a table key or value, a cached key."""
    return compact(orjson.dumps(value))
