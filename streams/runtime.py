"""Process-wide settings for the long-running commands (worker, sink, replay, whatif)."""

from __future__ import annotations

import gc
from typing import Final

# The worker. Its collections are not bounded by the threshold: the count is allocations net
# of frees, and the worker replaces its cached entity states at every change (a new object
# allocated, an old one freed), so the young generation grows with every state replaced and
# each collection scans all of them. At a paced ticket load a threshold of 50,000 made 20
# collections in a minute, the longest 0.63-0.67 s (a middle generation); 200,000 made 4, the
# longest 0.20-0.24 s, for 5-8 % less CPU (docs/architecture.md, fourteenth round). Since the
# engine's state classes are compiled `acyclic` (sixteenth round) only the tracker's `Entry`
# and tuples the collector untracks at first sight are left of a state: 2 collections, the
# longest 70 ms, in the same replica.
WORKER_YOUNG: Final = 200_000
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
    REPLAY_YOUNG; the worker's is lower, as a collection holds its loop and cycles made by
    libraries (Faust, asyncio) are freed sooner."""
    gc.freeze()
    gc.set_threshold(young, 10, 10)
