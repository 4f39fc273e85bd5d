"""OpenSLO v1 SLO documents: translation into contracts, and refusals with their lines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schemas.openslo import parse_openslo
from schemas.policy import PolicyError
from schemas.policy_files import load_policy

GOLD = Path(__file__).resolve().parents[2] / "data" / "openslo" / "gold.yaml"
TEXT = GOLD.read_text()


def test_two_documents_become_one_contract() -> None:
    (contract,) = parse_openslo(TEXT)
    assert (contract.id, contract.customer, contract.services) == ("gold", "acme", ("checkout",))
    probes = contract.probes
    assert probes is not None and probes.availability is not None and probes.latency is not None
    assert (probes.availability.objective, probes.availability.window, probes.availability.timeslice_target) == (
        0.999, "month", None)
    assert (probes.latency.threshold_ms, probes.latency.objective, probes.latency.window) == (
        300.0, 0.99, timedelta(weeks=4))
    assert probes.latency.timeslice_target == 0.95
    assert [r.name for r in probes.burn_rate_alerts] == ["page-1h", "page-6h", "ticket-3d"]


@pytest.mark.parametrize(("old", "new", "line", "where", "message"), [
    ("kind: SLO\nmetadata:\n  name: checkout-latency", "kind: SLI\nmetadata:\n  name: checkout-latency",
     27, "document 2: kind", "Input should be 'SLO'"),
    ("{type: slastream, spec: {field: latency_ms}}", "{type: prometheus, spec: {query: up}}",
     35, "document 2: spec.indicator.spec.thresholdMetric.metricSource.type", "Input should be 'slastream'"),
    ("spec: {field: latency_ms}", "spec: {field: status_code}",
     35, "document 2: spec.indicator.spec.thresholdMetric", "the threshold source must be"),
    ("[{duration: 4w, isRolling: true}]", "[{duration: 1Q, isRolling: true}]",
     36, "document 2: spec.timeWindow", "unsupported rolling duration '1Q'"),
    ("timeZone: UTC", "timeZone: Europe/Berlin", 21, "document 1: spec.timeWindow[0].calendar.timeZone", "Input should be"),
    ("timeSliceWindow: 1m", "timeSliceWindow: 5m", 38, "document 2: spec.objectives", "Timeslices needs"),
    ("  budgetingMethod: Occurrences\n", "  budgetingMethod: Occurrences\n  alertPolicies: [fast-burn]\n",
     23, "document 1: spec.alertPolicies", "unknown or unsupported field"),
    ("  indicator:\n    metadata: {name: checkout-ok}", "  indicatorRef: checkout-ok\n  indicator:\n    metadata: {name: checkout-ok}",
     11, "document 1: spec.indicatorRef", "unknown or unsupported field"),
    ("{displayName: three nines, target: 0.999}", "{displayName: three nines, target: 1.5}",
     23, "document 1: spec.objectives", "strictly between 0 and 1"),
])
def test_unsupported_input_is_refused_with_its_line(old: str, new: str, line: int, where: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(PolicyError) as err:
        parse_openslo(TEXT.replace(old, new, 1), "gold.yaml")
    problem = err.value.problems[0]
    assert (problem.line, problem.path) == (line, where), str(err.value)
    assert message in problem.message


def test_load_policy_reads_openslo_alone_or_beside_a_policy(tmp_path: Path) -> None:
    assert [c.id for c in load_policy(GOLD).contracts] == ["gold"]
    policy = tmp_path / "policy.yaml"
    policy.write_text("contracts:\n  - {id: silver, customer: initech, services: [search], probes: {availability: {objective: 0.99}}}\n")
    assert [c.id for c in load_policy(policy, GOLD).contracts] == ["silver", "gold"]
    policy.write_text(policy.read_text().replace("silver", "gold"))
    with pytest.raises(PolicyError, match="contract gold: already defined"):
        load_policy(policy, GOLD)


def test_cli_validates_openslo_beside_a_policy(tmp_path: Path) -> None:
    import subprocess
    import sys

    policy = tmp_path / "policy.yaml"
    policy.write_text("contracts:\n  - {id: silver, customer: initech, services: [search], probes: {availability: {objective: 0.99}}}\n")
    ok = subprocess.run([sys.executable, "-m", "streams.cli", "policy", "validate", str(policy), "--openslo", str(GOLD)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "2 contract(s)" in ok.stdout and "gold: customer acme" in ok.stdout
    broken = tmp_path / "slo.yaml"
    broken.write_text(TEXT.replace("budgetingMethod: Timeslices", "budgetingMethod: RatioTimeslices"))
    ko = subprocess.run([sys.executable, "-m", "streams.cli", "policy", "validate", str(policy), "--openslo", str(broken)],
                        capture_output=True, text=True)
    assert ko.returncode == 1
    assert f"{broken}: line 37: document 2: spec.budgetingMethod: Input should be 'Occurrences' or 'Timeslices'" in ko.stdout
