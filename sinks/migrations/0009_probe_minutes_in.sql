-- Minute records are stored as the worker published them (JSONEachRow, parsed by
-- ClickHouse, no Python per row): inserted here, split by the views below into
-- probe_minutes (one row per minute) and slo_minutes (one per covering contract). The Null
-- engine keeps nothing itself.
CREATE TABLE IF NOT EXISTS probe_minutes_in
(
    service        String,
    minute         DateTime('UTC'),
    total          UInt32,
    good           UInt32,
    latency_sum_ms Float64,
    latency_max_ms Float64,
    fast_le_ms     Array(Float64),
    fast           Array(UInt32),
    contracts      Array(Tuple(contract_id String, customer String, fast Nullable(UInt32), excluded Bool))
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS probe_minutes_in_mv TO probe_minutes AS
SELECT service, minute, total, good, latency_sum_ms, latency_max_ms, fast_le_ms, fast
FROM probe_minutes_in;

CREATE MATERIALIZED VIEW IF NOT EXISTS slo_minutes_in_mv TO slo_minutes AS
SELECT c.contract_id AS contract_id, c.customer AS customer, service, minute, total, good,
       c.fast AS fast, c.excluded AS excluded
FROM probe_minutes_in
ARRAY JOIN contracts AS c;
