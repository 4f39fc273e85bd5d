"""Durations as written in policy files: 90s, 15m, 4h, 2d, 1h30m, or ISO 8601 (PT4H, P1DT2H)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_SHORT = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(value: Any) -> timedelta:
    """Parse a policy duration; raises ValueError with the accepted forms."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        short = _SHORT.match(text)
        if short and any(short.groups()):
            d, h, m, s = (int(g or 0) for g in short.groups())
            result = timedelta(days=d, hours=h, minutes=m, seconds=s)
        elif (iso := _ISO.match(text)) and any(iso.groups()):
            iw, id_, ih, im, is_ = iso.groups()
            result = timedelta(
                weeks=int(iw or 0), days=int(id_ or 0), hours=int(ih or 0), minutes=int(im or 0), seconds=float(is_ or 0)
            )
        else:
            result = None
        if result is not None:
            if result <= timedelta(0):
                raise ValueError(f"duration {value!r} must be positive")
            return result
    raise ValueError(f"bad duration {value!r}: use 90s, 15m, 4h, 2d, 1h30m or ISO 8601 such as PT4H")


def format_duration(value: timedelta) -> str:
    """Shortest `1d2h3m4s` form."""
    total = int(value.total_seconds())
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
