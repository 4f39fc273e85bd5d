-- Probe results reach the sink as lines of the results the worker accepted from one input
-- partition (streams/verdict.py), each as the event's JSON beside its record's offset. Inserted
-- here, the view below makes one input_events row per result (the payload is the result's
-- text, as the worker wrote it), so the worker writes no row per result and ClickHouse
-- splits them. The Null engine keeps nothing itself. Lines of the earlier form (one
-- input_events row each) still go into input_events directly.
CREATE TABLE IF NOT EXISTS probe_events_in
(
    topic     LowCardinality(String),
    partition UInt32,
    offsets   Array(UInt64),
    results   Array(String)
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS probe_events_in_mv TO input_events AS
SELECT 'probe' AS kind, f.1 AS event_id, f.4 AS entity_id, '' AS customer,
       parseDateTime64BestEffort(f.2, 3, 'UTC') AS occurred_at, f.3 AS source, topic, partition, offset,
       r AS payload
FROM probe_events_in
ARRAY JOIN offsets AS offset, results AS r,
           arrayMap(x -> JSONExtract(x, 'Tuple(event_id String, occurred_at String, source String, service String)'),
                    results) AS f;
