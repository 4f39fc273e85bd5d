"""Process-wide settings for the long-running commands (worker, sink, replay, whatif)."""

from __future__ import annotations

import gc
from typing import Final

WORKER_YOUNG: Final = 50_000
# Batch runs of the clock engine (replay, what-if). The engine makes no reference cycles
# (tests/unit/streams/engine/test_properties.py): what it drops is freed by reference counting,
# and each collection only scans its live states again, finding nothing (with every group's
# OLAs, bench/clocks.py replays a fifth faster than at 50,000: docs/architecture.md).
REPLAY_YOUNG: Final = 1_000_000


def collect_less(young: int = WORKER_YOUNG) -> None:
    """What start-up loaded is never garbage, so the collector stops scanning it (freeze),
    and the young generation is collected every `young` allocations (net of frees) instead
    of 700. The engine and Faust allocate many short-lived objects and few cycles; with the
    defaults the engine ran about 1.4x slower (bench/clocks.py prints both). Batch runs pass
    REPLAY_YOUNG; the worker keeps collections small, as each one holds its loop."""
    gc.freeze()
    gc.set_threshold(young, 10, 10)
