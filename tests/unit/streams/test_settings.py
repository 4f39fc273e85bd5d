from pathlib import Path

import pytest

from streams.settings import Settings


def test_environment_overrides_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "slastream.yaml"
    config.write_text("topic_tickets: from.file\nbatch_rows: 500\nkafka_bootstrap_servers: file:9092\n")
    monkeypatch.setenv("SLASTREAM_CONFIG", str(config))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env:9092")
    settings = Settings()
    assert settings.topic_tickets == "from.file"
    assert settings.batch_rows == 500
    assert settings.kafka_bootstrap_servers == "env:9092"


def test_sasl_ssl_reaches_the_kafka_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    settings = Settings()
    conf = settings.kafka_client_config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("svc", "s3cret")
    assert "s3cret" not in repr(settings)  # secrets never show up in logs
    assert settings.ssl_context() is not None


def test_unknown_setting_in_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("batch_rowz: 5\n")
    monkeypatch.setenv("SLASTREAM_CONFIG", str(config))
    with pytest.raises(ValueError, match="batch_rowz"):
        Settings()
