"""The example alert rules and Grafana dashboard in deploy/ name only metrics slastream exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import streams.metrics as metrics

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
NAME = re.compile(r"\b((?:slastream|process)_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


def families() -> dict[str, str]:
    """Every metric family a slastream process can expose: name -> type (LIVE gauges included)."""
    found = {name: "gauge" for name in metrics.LIVE}
    for collector in list(REGISTRY._collector_to_names):  # the default registry: the module's metrics and the process's
        found.update({family.name: family.type for family in collector.collect()})
    return found


def exposed() -> set[str]:
    """Every sample name those families can have."""
    return {name + suffix for name, kind in families().items() for suffix in SUFFIXES.get(kind, ("",))}


def rules() -> list[dict]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "slastream-alerts.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads((DEPLOY / "grafana" / "slastream-dashboard.json").read_text())
    return [target["expr"] for panel in doc["panels"] for target in panel["targets"]]


def test_every_alert_rule_is_complete_and_names_existing_metrics() -> None:
    found = rules()
    assert {"SlastreamLagGrowing", "SlastreamAcknowledgementHeld", "SlastreamTicksStalled",
            "SlastreamInsertFailures", "SlastreamDeadLetterRate"} <= {r["alert"] for r in found}
    for rule in found:
        assert rule["expr"] and rule["for"] and rule["labels"]["severity"] and rule["annotations"]["summary"]
        assert set(NAME.findall(rule["expr"])) <= exposed(), rule["alert"]


def test_every_dashboard_panel_names_existing_metrics_and_shows_every_slastream_metric() -> None:
    named = {n for e in dashboard_exprs() for n in NAME.findall(e)}
    assert named <= exposed(), named - exposed()
    ours = {f for f in families() if f.startswith("slastream_")}
    assert ours and {f for f in ours if not any(n == f or n.startswith(f + "_") for n in named)} == set()


def test_a_misspelt_metric_would_be_caught() -> None:
    assert "slastream_records_consumd_total" not in exposed() and "slastream_records_consumed_total" in exposed()
