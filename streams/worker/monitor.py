"""Faust's Monitor without its statistics per record.

Faust's Monitor sensor counts every message and event by topic, stream and task, and
times each (in the ticket burst benchmark's profile about 3 % of the worker). Those counts
are read only by Faust's web pages, which the worker does not use: its own metrics are in
streams/metrics.py. What Faust's consumer reads back is kept: the time each partition last
delivered an event (its slow-processing checks), end offsets and commits.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor


class QuietMonitor(Monitor):
    """Monitor whose per-record hooks do nothing but what Faust itself reads."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None
