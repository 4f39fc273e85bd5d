-- Every valid input event, once per (kind, event_id).
-- ReplacingMergeTree collapses redelivered copies; the `events` view hides not-yet-merged ones.
CREATE TABLE IF NOT EXISTS events_raw
(
    kind        LowCardinality(String),
    event_id    String,
    entity_id   String,
    occurred_at DateTime64(3, 'UTC'),
    source      LowCardinality(String),
    topic       LowCardinality(String),
    partition   UInt32,
    offset      UInt64,
    ingested_at DateTime64(3, 'UTC'),
    payload     String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (kind, event_id);

CREATE VIEW IF NOT EXISTS events AS
SELECT kind, event_id, entity_id, occurred_at, source, topic, partition, offset, ingested_at, payload
FROM events_raw FINAL;
