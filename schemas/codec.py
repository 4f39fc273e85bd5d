"""orjson codec: bytes <-> Python for every topic slastream reads or writes."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from schemas.outputs import Lifecycle

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS


def dumps(value: BaseModel | dict[str, Any] | Lifecycle) -> bytes:
    """Serialise a model, dict or engine record to compact JSON with sorted keys (stable bytes)."""
    if isinstance(value, BaseModel):
        # Python mode: orjson writes datetimes and enums itself, to the same bytes as pydantic's
        # JSON mode, about a fifth faster (codec tests compare the two).
        value = value.model_dump()
    return orjson.dumps(value, option=_OPTIONS)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes; raises orjson.JSONDecodeError on malformed input."""
    return orjson.loads(data)
