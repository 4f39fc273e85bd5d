"""docker-compose.yml cannot run here (no Docker engine); check it agrees with the code."""

from pathlib import Path

import yaml

from streams.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_services_and_variables_match_the_settings() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"kafka", "clickhouse", "worker", "sink", "topics"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["worker"]["command"][:2] == ["slastream", "worker"]
    assert services["sink"]["command"][:2] == ["slastream", "sink"]
    assert services["sink"]["environment"] == services["worker"]["environment"]  # one configuration
    assert services["sink"]["depends_on"]["clickhouse"] == {"condition": "service_healthy"}
    # Both stop themselves when only a restart can resume correctly (skipped records, a hung stop).
    assert services["worker"]["restart"] == services["sink"]["restart"] == "unless-stopped"

    env = services["worker"]["environment"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(env) <= known, f"unknown variables: {set(env) - known}"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["CLICKHOUSE_DSN"].startswith("http://") and "@clickhouse:8123" in env["CLICKHOUSE_DSN"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in services["worker"]["volumes"]}
    assert mounts[env["SLA_POLICY_FILE"]] == "./examples/policy.yaml"  # the policy the worker reads is mounted

    # The worker's settings load from exactly these variables.
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    assert settings.clickhouse_password is not None
    published = {p.split(":")[-1] for p in services["worker"].get("ports", [])}
    assert str(settings.web_port) in published and settings.web_bind == "0.0.0.0"  # reachable from the host


def test_kafka_service_is_single_node_kraft() -> None:
    kafka = yaml.safe_load(COMPOSE.read_text())["services"]["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
