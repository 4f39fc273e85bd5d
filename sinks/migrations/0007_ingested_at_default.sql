-- Probe results reach the sink as rows the worker wrote (JSONEachRow, streams/verdict.py),
-- which leave out the time they are stored: the table fills it in.
ALTER TABLE input_events MODIFY COLUMN ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC');
