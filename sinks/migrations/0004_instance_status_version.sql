-- SLA status rows ordered by `version`, which only grows for an instance (applied events
-- plus published lifecycle events), so the current row is the last fact whatever order rows
-- arrive in. Keyed by `as_of` before, a row written after a correction could carry an
-- earlier as_of than the row it supersedes and lose to it.
CREATE TABLE IF NOT EXISTS sla_instance_status
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
ENGINE = ReplacingMergeTree(version)
ORDER BY instance_id;

-- Rows written before: their versions are never above the new ones of the same instance.
INSERT INTO sla_instance_status SELECT * FROM sla_instances;

DROP TABLE IF EXISTS sla_instances;

-- The old name stays readable: every status row received.
CREATE VIEW IF NOT EXISTS sla_instances AS SELECT * FROM sla_instance_status;

DROP VIEW IF EXISTS sla_instances_current;

CREATE VIEW IF NOT EXISTS sla_instances_current AS SELECT * FROM sla_instance_status FINAL;
