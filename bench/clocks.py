"""Clock engine benchmark: ticket updates through the batch replay driver on one core.

Prints engine events/s (apply + deadline firing from the watermark) with Python's default
garbage collector and with replay's and what-if's (streams/runtime.py), and with the policy's OLAs on
(the same updates: every ticket starts with the service desk, a quarter go to network and
back, some with a supplier meanwhile): the escalation teams' OLAs, then every group's
(the desk's too, which doubles the clocks of every ticket), beside the rate at
which the same events are merely parsed and validated from JSON (the cost every event
pays before the engine) measured in the same run, the serialised state size per SLA
instance, and peak RSS. The updates are generated 10,000 at a time outside the timed
parts, as a replay reads a file: what stays in memory is the engine's.

    python bench/clocks.py [--updates 1000000] [--tickets 100000]

The title says whether the engine ran compiled (setup.py) or as Python; SLASTREAM_ENGINE=python
runs it as Python where it is compiled (A/B runs).
"""

from __future__ import annotations

import argparse
import heapq
import random
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.events import Priority, TicketEvent, TicketStatus  # noqa: E402
from schemas.policy import Policy, parse_policy  # noqa: E402
from streams.engine import build  # noqa: E402
from streams.engine.clocks import ClockEngine  # noqa: E402
from streams.engine.replay import Replay  # noqa: E402
from streams.engine.state_codec import dump_state  # noqa: E402
from streams.runtime import REPLAY_YOUNG, collect_less  # noqa: E402

POLICY = """
calendars:
  emea:
    timezone: Europe/Berlin
    hours: {mon-fri: "08:00-18:00"}
    holidays: {country: DE}
contracts:
  - id: gold
    customer: acme
    services: ["*"]
    tickets:
      calendar: emea
      warn_at: [0.75, 0.9]
      targets:
        P1: {response: 1h, resolution: 8h}
        P2: {response: 4h, resolution: 2d}
        P3: {response: 1d, resolution: 5d}
        P4: {response: 2d, resolution: 10d}
  - id: ops
    customer: globex
    services: ["*"]
    tickets:
      warn_at: [0.5]
      targets:
        P1: {response: 15m, resolution: 4h}
        P2: {response: 1h, resolution: 1d}
"""
# OLAs of the escalation teams (network, the supplier), and the same with the service desk's:
# the desk holds every ticket, so its OLA adds two clocks to each ticket's two SLA clocks.
DESK_OLA = """
  - group: desk
    warn_at: [0.75]
    targets:
      P1: {response: 30m, resolution: 4h}
      P2: {response: 2h, resolution: 1d}
      P3: {resolution: 3d}
      P4: {resolution: 5d}
"""
OLAS = """
olas:
  - group: network
    calendar: emea
    targets:
      P1: {response: 1h, resolution: 8h}
      P2: {resolution: 2d}
      P3: {resolution: 5d}
      P4: {resolution: 10d}
  - supplier: telco
    targets:
      P1: {resolution: 1d}
      P2: {resolution: 3d}
"""
# Support groups along a ticket's path: every ticket starts with the service desk; one in four
# goes to network for three updates and comes back (a ping-pong), a tenth of those with a
# supplier meanwhile.
GROUPS = [["desk"] * 10, ["desk"] * 3 + ["network"] * 3 + ["desk"] * 4]
PATH = ["new", "open*", "pending", "open", "on_hold", "open", "solved", "reopened", "solved", "closed"]


def updates(n_tickets: int, per_ticket: int, seed: int = 7) -> Iterator[TicketEvent]:
    """Ticket lifecycles interleaved in event-time order, as one partition would carry them."""
    rng = random.Random(seed)
    base = datetime(2026, 11, 2, 6, tzinfo=timezone.utc)
    heap = [(base + timedelta(seconds=i * 20), i, 0) for i in range(n_tickets)]
    heapq.heapify(heap)
    customers = ["acme", "globex"]
    while heap:
        at, i, step = heapq.heappop(heap)
        status = PATH[step % len(PATH)]
        yield TicketEvent.model_construct(
            event_id=f"t{i}-{step}", occurred_at=at, source="bench", kind="ticket", ticket_id=f"T{i}",
            customer=customers[i % 2], service="checkout", priority=Priority(f"P{1 + (i + step // 4) % 4}"),
            status=TicketStatus(status.rstrip("*")), public_reply=status.endswith("*"),
            assignment_group=GROUPS[i % 4 == 3][step % 10], supplier="telco" if i % 40 == 3 and 3 <= step < 6 else None,
        )
        if step + 1 < per_ticket:
            heapq.heappush(heap, (at + timedelta(minutes=rng.randint(2, 240)), i, step + 1))


def chunks(n_tickets: int, per_ticket: int, size: int = 10_000) -> Iterator[list[TicketEvent]]:
    """The updates `size` at a time: generated outside the timed part, never all in memory."""
    chunk: list[TicketEvent] = []
    for event in updates(n_tickets, per_ticket):
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    per_ticket = args.updates // args.tickets

    # The baseline is the best of three passes: one pass swung 2x within an hour (2026-12-06).
    total, parse_s = 0, [0.0, 0.0, 0.0]
    for chunk in chunks(args.tickets, per_ticket):
        raw = [orjson.dumps(e.model_dump(mode="json")) for e in chunk]
        for n in range(3):
            t0 = time.process_time()
            for data in raw:
                TicketEvent.model_validate_json(data)
            parse_s[n] += time.process_time() - t0
        total += len(raw)

    policy, escalation, every_group = parse_policy(POLICY), parse_policy(POLICY + OLAS), parse_policy(POLICY + OLAS + DESK_OLA)

    def replayed(policy: Policy = policy) -> tuple[Replay, int, float]:
        replay = Replay(ClockEngine(policy))
        outputs, engine_s = 0, 0.0
        for chunk in chunks(args.tickets, per_ticket):
            t0 = time.process_time()
            for event in chunk:
                outputs += len(replay.feed(event))
            engine_s += time.process_time() - t0
        return replay, outputs, engine_s

    default_s = replayed()[2]  # Python's default garbage collector
    collect_less(REPLAY_YOUNG)  # then set as in replay and what-if
    replay, outputs, engine_s = replayed()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the summary below reads states back
    escalation_replay, escalation_outputs, escalation_s = replayed(escalation)
    every_replay, every_outputs, every_s = replayed(every_group)

    def clocks(run: Replay) -> int:
        """SLA and OLA instances of a replay (those put away are read back for this only)."""
        assert run.watermark is not None  # set by the first event
        return sum(len(run.engine.status(state, run.watermark)) for state in run.entities())

    def with_olas(outputs_: int, seconds: float, run: Replay) -> str:
        n = clocks(run)
        return (f"{outputs_:,} lifecycle events out; {seconds / engine_s - 1:.0%} slower than without; "
                f"{n:,} clocks ({n / instances:.2f}x): {seconds / n / (engine_s / instances) - 1:+.0%} time per clock")

    away = replay.shelf.count
    sizes = 0
    for state in replay.entities():
        sizes += len(dump_state(state))
    instances = clocks(replay)

    table = Table(title=f"clock engine ({build()}), {total:,} ticket updates over {args.tickets:,} tickets, one core "
                        "(CPU time)")
    table.add_column("what")
    table.add_column("events/s", justify="right")
    table.add_column("note")
    table.add_row("baseline: parse + validate JSON (pydantic)", f"{total / min(parse_s):,.0f}",
                  "same events, same run; best of three passes")
    table.add_row("engine: apply + fire deadlines (replay), default collector", f"{total / default_s:,.0f}", "")
    table.add_row("engine: apply + fire deadlines (replay)", f"{total / engine_s:,.0f}",
                  f"{outputs:,} lifecycle events out; collector as in replay and what-if")
    table.add_row("engine with the escalation teams' OLAs on", f"{total / escalation_s:,.0f}",
                  with_olas(escalation_outputs, escalation_s, escalation_replay))
    table.add_row("engine with every group's OLAs on (the desk's too)", f"{total / every_s:,.0f}",
                  with_olas(every_outputs, every_s, every_replay))
    Console().print(table)
    print(f"SLA instances: {instances:,}; serialised state: {sizes / instances:,.0f} bytes per instance "
          f"({sizes / (len(replay.states) + away):,.0f} per ticket with {per_ticket} events); tickets put away (every "
          f"instance stopped a day before): {away:,}; peak RSS {rss_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
