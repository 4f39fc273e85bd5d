"""Live equals replay (issue 10): the same workload through the live worker, twice, and offline.

The workload is produced before the worker starts, so it works through a backlog on three
partitions of four topics. What must hold: the lifecycle facts, their ids and the final
status of every finished SLA instance equal the replay's; the live worker publishes no
correction that replay does not; the contact intervals equal those the contact core gives
offline (what `slastream whatif` runs); two uninterrupted runs leave equal tables and the
same ids, and put each id on the breach topic once.

`make test` runs it on 20,000 events, `make chaos` on 40,000 (HARNESS_EVENTS).
"""

from __future__ import annotations

import os

from datetime import datetime, timezone

import orjson

from schemas.events import ContactEvent
from schemas.policy_files import load_policy
from streams.whatif.simulate import simulate
from tests.integration.harness import POLICY, replay, run_live, workload

EVENTS = int(os.environ.get("HARNESS_EVENTS", "20000"))


def test_live_equals_replay_and_two_runs_agree(runs) -> None:
    records = workload(EVENTS, contact_hours=6)
    expected = replay(records)
    contacts = [ContactEvent.model_validate_json(value) for kind, _, value in records if kind == "contact"]
    first = run_live(runs(), records, "first")
    assert expected.corrections == 0  # event-time order: nothing to correct
    assert first.corrections == 0, "the live worker published corrections that replay does not"
    assert first.facts == {f for f in expected.facts if f[3] <= first.watermark}
    assert first.stopped() == expected.stopped
    assert first.instances() == expected.instances
    assert any(":ola:" in i for i in expected.instances)  # the workload reassigns tickets between groups
    assert first.breach_records == first.breach_ids, "copies on the breach topic without a crash"
    offline = simulate(load_policy(POLICY), contacts, datetime.now(timezone.utc)).contact_intervals
    assert sorted(first.tables["contact_intervals"], key=repr) == sorted(
        ((i["customer"], i["queue"], c["channel"], datetime.fromisoformat(i["interval_start"]).replace(tzinfo=None),
          *(c[f] for f in ("offered", "answered", "abandoned", "wait_answered_s", "handle_s", "fcr_recorded",
                           "fcr_resolved", "short_le_s", "short_abandoned", "within_le_s", "answered_within")))
         for i in map(orjson.loads, offline) for c in i["channels"]), key=repr)
    assert first.tables["contact_events"], "the bad hour breaches the demo policy's contact objectives"

    second = run_live(runs(), records, "second")
    a, b = first.comparable(), second.comparable()
    for name in a:
        assert a[name] == b[name], f"{name} differs between two uninterrupted runs"
    assert second.breach_records == second.breach_ids
    # A status row is a function of the input: the same version has the same as_of in both runs
    # (it came from the partition clock at the writing tick before), never before started_at.
    same = first.as_of().keys() & second.as_of().keys()
    assert len(same) > len(first.as_of()) * 0.9
    assert {k: first.as_of()[k] for k in same} == {k: second.as_of()[k] for k in same}
    assert all(r[11] >= r[7] for run in (first, second) for name in ("sla_instances_current", "ola_instances_current")
               for r in run.tables[name])
