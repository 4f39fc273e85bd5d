"""Nothing lost under crashes (issue 11): a workload through a worker SIGKILLed at random
moments and restarted at once on the same state, compared with an uninterrupted run.

Every table and view must hold exactly the same rows (no row missing, extra or different),
and the breach topic the same event ids. `make chaos` runs it (CHAOS_KILLS=20,
CHAOS_EVENTS=40000, three seeds) and prints its figures. It is not in `make test` yet: it
still finds a difference in about one run of six (issue 11 stays open until it does not),
and a red CI would hold back everything else.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.harness import diff, run_chaos, run_live, workload

pytestmark = pytest.mark.skipif("CHAOS_KILLS" not in os.environ, reason="run by `make chaos` (CHAOS_KILLS set)")

KILLS = int(os.environ.get("CHAOS_KILLS", "5"))
EVENTS = int(os.environ.get("CHAOS_EVENTS", "20000"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))


def test_sigkills_at_random_moments_lose_double_and_change_nothing(runs) -> None:
    records = workload(EVENTS, seed=SEED)
    reference = run_live(runs(), records, "reference")
    crashed, chaos = run_chaos(runs(), records, kills=KILLS, seed=SEED)

    tables = diff(reference, crashed)
    rows = sum(d[0] for d in tables.values())
    missing = sum(d[1] for d in tables.values())
    extra = sum(d[2] for d in tables.values())
    copies = crashed.breach_records - crashed.breach_ids
    print(f"\nchaos: {chaos.kills} kills, {len(chaos.exits)} self-exits {chaos.exits}, {rows} rows compared in "
          f"{len(tables)} tables, {missing} missing, {extra} extra; breach topic {crashed.breach_records} records, "
          f"{crashed.breach_ids} ids ({copies / max(crashed.breach_records, 1):.1%} copies); "
          f"worker peak RSS {chaos.peak_rss_mib:.0f} MiB")
    for name, (_, gone, more, examples) in tables.items():
        if gone or more:
            print(f"{name}: {gone} missing, {more} extra", *examples, sep="\n  ")
    assert chaos.kills == KILLS
    assert {name: d for name, d in tables.items() if d[1] or d[2]} == {}, "tables differ from the uninterrupted run"
    assert crashed.facts == reference.facts
