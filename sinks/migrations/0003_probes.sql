-- Closed (service, minute) buckets of probe results. A minute published again (replay,
-- recovery) has the same key and the same counts: ReplacingMergeTree keeps one.
CREATE TABLE IF NOT EXISTS probe_minutes
(
    service        LowCardinality(String),
    minute         DateTime('UTC'),
    total          UInt32,
    good           UInt32,
    latency_sum_ms Float64,
    latency_max_ms Float64,
    fast_le_ms     Array(Float64),
    fast           Array(UInt32)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (service, minute);

-- Hour and day rollups. Each row keeps its minutes as a map (minute of the hour/day ->
-- counts) merged with maxMap, so a minute inserted twice is counted once.
CREATE TABLE IF NOT EXISTS probe_hours_agg
(
    service LowCardinality(String),
    hour    DateTime('UTC'),
    minutes SimpleAggregateFunction(maxMap, Tuple(Array(UInt16), Array(UInt32), Array(UInt32), Array(Float64), Array(Float64)))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (service, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS probe_hours_mv TO probe_hours_agg AS
SELECT service, toStartOfHour(minute) AS hour,
       maxMap([toUInt16(toMinute(minute))], [total], [good], [latency_sum_ms], [latency_max_ms]) AS minutes
FROM probe_minutes
GROUP BY service, hour;

CREATE TABLE IF NOT EXISTS probe_days_agg
(
    service LowCardinality(String),
    day     Date,
    minutes SimpleAggregateFunction(maxMap, Tuple(Array(UInt16), Array(UInt32), Array(UInt32), Array(Float64), Array(Float64)))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (service, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS probe_days_mv TO probe_days_agg AS
SELECT service, toDate(minute) AS day,
       maxMap([toUInt16(toHour(minute) * 60 + toMinute(minute))], [total], [good], [latency_sum_ms], [latency_max_ms]) AS minutes
FROM probe_minutes
GROUP BY service, day;

CREATE VIEW IF NOT EXISTS probe_hours AS
SELECT service, hour, length(m.1) AS minutes_with_data, arraySum(m.2) AS total, arraySum(m.3) AS good,
       arraySum(m.4) AS latency_sum_ms, arrayMax(m.5) AS latency_max_ms
FROM (SELECT service, hour, maxMap(minutes) AS m FROM probe_hours_agg GROUP BY service, hour);

CREATE VIEW IF NOT EXISTS probe_days AS
SELECT service, day, length(m.1) AS minutes_with_data, arraySum(m.2) AS total, arraySum(m.3) AS good,
       arraySum(m.4) AS latency_sum_ms, arrayMax(m.5) AS latency_max_ms
FROM (SELECT service, day, maxMap(minutes) AS m FROM probe_days_agg GROUP BY service, day);

-- How each closed minute counts for each contract covering the service.
CREATE TABLE IF NOT EXISTS slo_minutes
(
    contract_id LowCardinality(String),
    customer    LowCardinality(String),
    service     LowCardinality(String),
    minute      DateTime('UTC'),
    total       UInt32,
    good        UInt32,
    fast        Nullable(UInt32),
    excluded    Bool
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (contract_id, service, minute);

-- Probe objectives and credit tiers of the policy the workers run (written at start).
CREATE TABLE IF NOT EXISTS slo_contracts
(
    contract_id            LowCardinality(String),
    customer               LowCardinality(String),
    availability_objective Nullable(Float64),
    latency_objective      Nullable(Float64),
    latency_threshold_ms   Nullable(Float64),
    availability_timeslice Nullable(Float64),
    latency_timeslice      Nullable(Float64),
    credit_below           Array(Float64),
    credit_percent         Array(Float64),
    updated_at             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY contract_id;

-- Burn-rate and no-data alerts as published on the breach topic, once per event_id.
CREATE TABLE IF NOT EXISTS slo_alerts
(
    event_id         String,
    type             LowCardinality(String),
    alert            LowCardinality(String),
    severity         LowCardinality(String),
    at               DateTime64(3, 'UTC'),
    contract_id      LowCardinality(String),
    customer         LowCardinality(String),
    service          LowCardinality(String),
    sli              Nullable(String),
    objective        Nullable(Float64),
    factor           Nullable(Float64),
    long_window_s    Nullable(Float64),
    short_window_s   Nullable(Float64),
    long_burn        Nullable(Float64),
    short_burn       Nullable(Float64),
    budget_remaining Nullable(Float64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY event_id;

-- Latest rolling SLIs per (contract, service, SLI).
CREATE TABLE IF NOT EXISTS slo_status
(
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
ORDER BY (contract_id, service, sli);

-- Monthly (UTC) attainment per contract and service; maintenance minutes left out. With a
-- timeslice target (OpenSLO Timeslices) it is the share of good minutes, else of good results.
CREATE VIEW IF NOT EXISTS slo_attainment_monthly AS
SELECT
    contract_id, customer, service, month, total, good, fast, excluded_minutes,
    if(availability_objective IS NULL OR total = 0, NULL,
       if(availability_timeslice IS NULL, good / total, good_slices / slices)) AS availability,
    if(latency_objective IS NULL OR total = 0, NULL,
       if(latency_timeslice IS NULL, fast / total, fast_slices / slices)) AS latency_attainment,
    availability_objective, latency_objective,
    (1 - availability) / (1 - availability_objective) AS availability_budget_used,
    (1 - latency_attainment) / (1 - latency_objective) AS latency_budget_used
FROM
(
    SELECT
        m.contract_id AS contract_id, any(m.customer) AS customer, m.service AS service,
        toStartOfMonth(m.minute) AS month,
        sumIf(m.total, NOT m.excluded) AS total, sumIf(m.good, NOT m.excluded) AS good,
        sumIf(ifNull(m.fast, 0), NOT m.excluded) AS fast, countIf(m.excluded) AS excluded_minutes,
        countIf(NOT m.excluded) AS slices,
        countIf(NOT m.excluded AND m.good / m.total >= c.availability_timeslice) AS good_slices,
        countIf(NOT m.excluded AND ifNull(m.fast, 0) / m.total >= c.latency_timeslice) AS fast_slices,
        any(c.availability_objective) AS availability_objective, any(c.latency_objective) AS latency_objective,
        any(c.availability_timeslice) AS availability_timeslice, any(c.latency_timeslice) AS latency_timeslice
    FROM slo_minutes AS m FINAL
    LEFT JOIN (SELECT * FROM slo_contracts FINAL) AS c ON c.contract_id = m.contract_id
    GROUP BY m.contract_id, m.service, month
);

-- The credit tier each contract's service earned per month: the largest credit whose
-- `below` the month's availability falls under (0 when none; null without results).
CREATE VIEW IF NOT EXISTS service_credits_monthly AS
SELECT
    a.contract_id AS contract_id, a.customer AS customer, a.service AS service, a.month AS month,
    a.availability AS availability,
    if(a.availability IS NULL, NULL,
       arrayMax(arrayConcat([0.], arrayFilter((p, b) -> a.availability < b, c.credit_percent, c.credit_below)))) AS credit_percent
FROM slo_attainment_monthly AS a
LEFT JOIN (SELECT * FROM slo_contracts FINAL) AS c ON c.contract_id = a.contract_id;
