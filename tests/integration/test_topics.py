from confluent_kafka.admin import AdminClient, ConfigResource

from streams.topics import create_topics, topic_specs


def test_create_twice_changes_nothing(run) -> None:
    settings = run.settings
    again = create_topics(settings)
    assert set(again.values()) == {"exists"}
    admin = AdminClient(settings.kafka_client_config())
    meta = admin.list_topics(timeout=10).topics
    for spec in topic_specs(settings):
        assert len(meta[spec.name].partitions) == 3
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.topic_tickets)
    config = admin.describe_configs([resource])[resource].result()
    assert config["retention.ms"].value == str(settings.input_retention_ms)
    assert config["cleanup.policy"].value == "delete"
    assert config["message.timestamp.type"].value == "LogAppendTime"  # a producer cannot choose its records' time
