"""Ticks after an outage: how long one tick holds the worker's loop when thousands of deadlines
are due at once, with the worker's bound on entities a tick advances (FIRE_AT_MOST) beside
none, in one run, on the same tickets.

The SLA tracker as the worker runs it (streams/worker/tracking.py, the worker's collector
settings), with plain dicts for tables and a publish that only counts: the broker's part of a
tick is not in these figures. `--tickets` new P1 tickets over ten minutes on 6 partitions;
then the clock jumps two hours (every response and resolution deadline of partition 0 passed)
and partition 0 is ticked until nothing more fires. Prints the CPU time of each tick: the
longest, the median, the total, and the lifecycle events fired.

    python bench/ticks.py [--tickets 60000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.events import Priority, TicketEvent, TicketStatus  # noqa: E402
from schemas.policy import parse_policy  # noqa: E402
from streams.engine import build  # noqa: E402
from streams.engine.clocks import ClockEngine  # noqa: E402
from streams.runtime import collect_less  # noqa: E402
from streams.worker.tracking import FIRE_AT_MOST, SlaTracker  # noqa: E402
from streams.worker.types import Record, Table as StateTable  # noqa: E402

POLICY = """
calendars:
  always: {timezone: UTC, hours: {mon-sun: "00:00-24:00"}}
contracts:
  - id: gold
    customer: acme
    services: ["*"]
    tickets:
      calendar: always
      warn_at: [0.5, 0.75]
      targets:
        P1: {response: 15m, resolution: 1h}
"""
START = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)


async def after_outage(tickets: int, most: int) -> list[tuple[float, int]]:
    """(CPU seconds, lifecycle events) of each tick of partition 0 after the clock jumped."""
    tables: dict[str, StateTable] = {"ticket": {}, "incident": {}}

    async def publish(events: Sequence[Record], statuses: Sequence[Record]) -> None:
        pass

    async def nothing() -> None:
        pass

    tracker = SlaTracker(ClockEngine(parse_policy(POLICY)), tables, publish, lambda: START, stored=nothing,
                         fire_at_most=most)
    for i in range(tickets):
        at = START + timedelta(seconds=i * 600 / tickets)
        event = TicketEvent(event_id=f"e{i}", occurred_at=at, source="bench", ticket_id=f"T{i}", customer="acme",
                            service="checkout", priority=Priority.P1, status=TicketStatus.new)
        await tracker.on_event(event, i % 6, i // 6, at, nothing)
    for partition in range(6):
        await tracker.on_tick(partition, lambda kind: None)  # writes the entries
    later = START + timedelta(hours=2)
    ticks = []
    while True:
        t0 = time.process_time()
        fired = await tracker.on_tick(0, lambda kind: later)
        ticks.append((time.process_time() - t0, fired))
        if not tracker.behind(0):
            return ticks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=60_000)
    args = parser.parse_args()
    collect_less()  # as in the worker
    table = Table(title=f"one partition's ticks after a two-hour jump, {args.tickets // 6:,} tickets due on it; FIRE_AT_MOST "
                        f"(engine {build()}, CPU time, broker not included)")
    for column in ("entities a tick", "ticks", "lifecycle events", "longest tick (ms)", "median tick (ms)",
                   "all ticks (ms)"):
        table.add_column(column, justify="right")
    for most, label in ((FIRE_AT_MOST, f"{FIRE_AT_MOST:,}"), (10**9, "no bound")):
        ticks = asyncio.run(after_outage(args.tickets, most))
        times = [t for t, _ in ticks]
        table.add_row(label, f"{len(ticks)}", f"{sum(n for _, n in ticks):,}", f"{max(times) * 1000:,.0f}",
                      f"{statistics.median(times) * 1000:,.0f}", f"{sum(times) * 1000:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
