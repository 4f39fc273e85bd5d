-- The last status of each month stays queryable as that month's final figures (error rate
-- and budget over the month's window, rules firing): slo_status keeps only the newest row
-- per objective. A status as of a month's first instant closes the month that just ended
-- (its window is that month), so it counts for that month.
CREATE TABLE IF NOT EXISTS slo_status_monthly
(
    month             Date,
    contract_id       LowCardinality(String),
    customer          LowCardinality(String),
    service           LowCardinality(String),
    sli               LowCardinality(String),
    objective         Float64,
    window            String,
    as_of             DateTime64(3, 'UTC'),
    error_rate_5m     Nullable(Float64),
    error_rate_30m    Nullable(Float64),
    error_rate_1h     Nullable(Float64),
    error_rate_6h     Nullable(Float64),
    error_rate_1d     Nullable(Float64),
    error_rate_3d     Nullable(Float64),
    error_rate_window Nullable(Float64),
    burn_rate_1h      Float64,
    budget_remaining  Float64,
    firing            Array(String)
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY (contract_id, service, sli, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS slo_status_monthly_mv TO slo_status_monthly AS
SELECT toStartOfMonth(as_of - toIntervalMillisecond(1)) AS month, * FROM slo_status;

INSERT INTO slo_status_monthly SELECT toStartOfMonth(as_of - toIntervalMillisecond(1)) AS month, * FROM slo_status FINAL;
