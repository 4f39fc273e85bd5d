"""What-if benchmark: a history of ticket updates and probe results through `whatif` on one core.

Prints events/s of the simulation under the current and a proposed policy (CPU time), the
time to store and read back each policy's figures (scratch chDB), the whole comparison's
time beside the time to read the same events from JSON lines (parse and validate, as
`whatif --events` and `replay` read a file) and the rate at which they are merely replayed
by the bare clock engine (bench/clocks.py's driver), peak RSS, and how long 10 million
events would take. Issue 31's figure is `--updates 1000000 --tickets 100000`.

    python bench/whatif.py [--updates 200000] [--tickets 20000] [--probes 200000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clocks import POLICY, updates  # noqa: E402
from schemas.events import IncidentEvent, ProbeEvent, TicketEvent  # noqa: E402
from schemas.policy import parse_policy  # noqa: E402
from streams.engine.clocks import ClockEngine  # noqa: E402
from streams.engine.replay import Replay, parse_lines  # noqa: E402
from streams.runtime import REPLAY_YOUNG, collect_less  # noqa: E402
from streams.validate import AnyEvent  # noqa: E402
from streams.whatif.history import History  # noqa: E402
from streams.whatif.run import whatif  # noqa: E402

PROBES = """
    probes:
      availability: {objective: 0.999, window: month}
      latency: {threshold_ms: 300, objective: 0.99, window: month}
      burn_rate_alerts: google-sre-default
    credits:
      - {below: 0.999, credit: 10}
      - {below: 0.99, credit: 25}
"""


def probes(n: int, base: datetime, span: timedelta, services: int = 20) -> list[ProbeEvent]:
    """`n` results spread over `span` from `base`, `services` services, one in 200 failed."""
    step = span / n
    return [ProbeEvent.model_construct(
        event_id=f"p{i}", occurred_at=base + step * i, source="bench", kind="probe", probe_id="p",
        service="checkout" if i % services == 0 else f"svc{i % services}", region="eu", ok=i % 200 != 0,
        latency_ms=float(50 + i % 400), status_code=200) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=200_000)
    args = parser.parse_args()
    current_text = POLICY.replace('services: ["*"]\n    tickets:', 'services: ["*"]\n' + PROBES.strip("\n") + "\n    tickets:", 1)
    current = parse_policy(current_text)
    proposed = parse_policy(current_text.replace("P1: {response: 1h, resolution: 8h}", "P1: {response: 30m, resolution: 4h}")
                            .replace("objective: 0.999", "objective: 0.9995"))
    tickets = list(updates(args.tickets, args.updates // args.tickets))
    first, last = tickets[0].occurred_at, tickets[-1].occurred_at  # probes over the same weeks
    events: list[AnyEvent] = sorted([*tickets, *probes(args.probes, first, last - first)],
                                    key=lambda e: (e.occurred_at, e.event_id))
    until = events[-1].occurred_at + timedelta(days=1)
    n_tickets = sum(1 for e in events if not isinstance(e, ProbeEvent))

    lines = [orjson.dumps(e.model_dump(mode="json")) for e in events]
    t0 = time.process_time()
    parsed = sum(1 for _ in parse_lines(lines))
    parse_s = time.process_time() - t0
    assert parsed == len(events)
    del lines
    collect_less(REPLAY_YOUNG)  # as `slastream whatif` once it has read the history

    replay = Replay(ClockEngine(current))
    t0 = time.process_time()
    for e in events:
        if isinstance(e, (TicketEvent, IncidentEvent)):
            replay.feed(e)
    engine_s = time.process_time() - t0

    t0 = time.perf_counter()
    comparison, a, b = whatif(current, proposed, History(events, []), until, Console(quiet=True))
    total_s = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(title=f"whatif over {len(events):,} events ({n_tickets:,} ticket updates, {args.probes:,} probe results), one core")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("baseline: bare engine replay of the ticket updates, events/s (CPU)", f"{n_tickets / engine_s:,.0f}")
    for name, run in (("current", a), ("proposed", b)):
        table.add_row(f"{name} policy: simulation, events/s (CPU)", f"{len(events) / run.seconds:,.0f}")
    figures_s = total_s - a.seconds - b.seconds
    table.add_row("both: figures stored in and read from scratch chDB, s (wall)", f"{figures_s:.1f}")
    table.add_row("whole comparison, s (wall)", f"{total_s:.1f}")
    table.add_row("baseline: the same events read from JSON lines (parse + validate), s (CPU)", f"{parse_s:.1f}")
    table.add_row("whole comparison / reading the events", f"{total_s / parse_s:.1f}x")
    table.add_row("instances changing outcome / figures differing", f"{len(comparison.changes):,} / {comparison.differences:,}")
    per_event = max(a.seconds, b.seconds) / len(events)
    table.add_row("10 million events, one policy, simulation alone (estimate)", f"{per_event * 1e7 / 60:,.0f} min")
    table.add_row("peak RSS MiB", f"{rss:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
