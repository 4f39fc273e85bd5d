-- SLA lifecycle events as published on the breach topic, once per event_id.
CREATE TABLE IF NOT EXISTS breaches
(
    event_id    String,
    instance_id String,
    version     UInt32,
    type        LowCardinality(String),
    at          DateTime64(3, 'UTC'),
    kind        LowCardinality(String),
    entity_id   String,
    contract_id LowCardinality(String),
    customer    LowCardinality(String),
    service     LowCardinality(String),
    metric      LowCardinality(String),
    level       LowCardinality(String),
    target_s    Nullable(Float64),
    elapsed_s   Float64,
    threshold   Nullable(Float64),
    corrects    Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY event_id;

-- Facts that hold: every warning/breached/met/missed not retracted by a correction.
CREATE VIEW IF NOT EXISTS sla_events AS
SELECT * EXCEPT (corrects)
FROM breaches FINAL
WHERE type != 'correction'
  AND event_id NOT IN (SELECT assumeNotNull(corrects) FROM breaches FINAL WHERE type = 'correction');

-- Status rows of SLA instances; the row with the latest as_of wins.
CREATE TABLE IF NOT EXISTS sla_instances
(
    instance_id String,
    version     UInt32,
    kind        LowCardinality(String),
    entity_id   String,
    contract_id LowCardinality(String),
    customer    LowCardinality(String),
    service     LowCardinality(String),
    metric      LowCardinality(String),
    level       LowCardinality(String),
    state       LowCardinality(String),
    started_at  DateTime64(3, 'UTC'),
    stopped_at  Nullable(DateTime64(3, 'UTC')),
    target_s    Nullable(Float64),
    elapsed_s   Float64,
    deadline    Nullable(DateTime64(3, 'UTC')),
    breached    Bool,
    outcome     Nullable(String),
    as_of       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY instance_id;

CREATE VIEW IF NOT EXISTS sla_instances_current AS
SELECT * FROM sla_instances FINAL;

-- Mean time to acknowledge / resolve per service and day of trigger, from the incident events.
CREATE VIEW IF NOT EXISTS incident_mtta_mttr_daily AS
SELECT
    service,
    toDate(triggered_at) AS day,
    count() AS incidents,
    countIf(acknowledged_at IS NOT NULL) AS acknowledged,
    countIf(resolved_at IS NOT NULL) AS resolved,
    avgIf(dateDiff('millisecond', triggered_at, acknowledged_at) / 1000, acknowledged_at IS NOT NULL) AS mtta_s,
    avgIf(dateDiff('millisecond', triggered_at, resolved_at) / 1000, resolved_at IS NOT NULL) AS mttr_s
FROM
(
    SELECT
        entity_id,
        argMin(JSONExtractString(payload, 'service'), occurred_at) AS service,
        min(occurred_at) AS triggered_at,
        minIfOrNull(occurred_at, JSONExtractString(payload, 'status') = 'acknowledged') AS acknowledged_at,
        minIfOrNull(occurred_at, JSONExtractString(payload, 'status') = 'resolved') AS resolved_at
    FROM events
    WHERE kind = 'incident'
    GROUP BY entity_id
)
GROUP BY service, day;
