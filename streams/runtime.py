"""Process-wide settings for the long-running commands (worker, sink, whatif)."""

from __future__ import annotations

import gc


def collect_less() -> None:
    """What start-up loaded is never garbage, so the collector stops scanning it (freeze),
    and the young generation is collected every 50,000 allocations instead of 700. The
    engine and Faust allocate many short-lived objects and few cycles; with the defaults
    the engine ran about 1.4x slower (bench/clocks.py prints both)."""
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
