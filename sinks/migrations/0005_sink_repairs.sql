-- Broken parts ClickHouse set aside (system.detached_parts) that the sink answered by
-- reading its topics again from the first retained record (sinks/repair.py), so that the
-- same part does not start a second re-read.
CREATE TABLE IF NOT EXISTS sink_repairs
(
    table_name  String,
    part        String,
    repaired_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (table_name, part);
