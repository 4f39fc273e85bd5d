"""Type aliases the worker's modules share."""

from __future__ import annotations

from typing import Awaitable, Callable, MutableMapping

Ack = Callable[[], Awaitable[object]]  # acknowledges one input record to Faust
Record = tuple[bytes, bytes]  # an output's Kafka key and value
Table = MutableMapping[bytes, bytes]  # a Faust table of raw bytes (a plain dict in tests)
