-- OLAs and underpinning contracts (docs/sla-semantics.md, "OLAs"): internal teams' lifecycle
-- events and status rows, in tables of their own so that no customer-facing query (the
-- portal's customer pages read breaches and sla_instance_status) can show internal groups.
CREATE TABLE IF NOT EXISTS ola_breaches
(
    event_id    String,
    instance_id String,
    version     UInt32,
    type        LowCardinality(String),
    at          DateTime64(3, 'UTC'),
    entity_id   String,
    ola         LowCardinality(String),
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

-- OLA facts that hold (corrections applied), as sla_events does for SLAs.
CREATE VIEW IF NOT EXISTS ola_events AS
SELECT * EXCEPT (corrects)
FROM ola_breaches FINAL
WHERE type != 'correction'
  AND event_id NOT IN (SELECT assumeNotNull(corrects) FROM ola_breaches FINAL WHERE type = 'correction');

CREATE TABLE IF NOT EXISTS ola_instance_status
(
    instance_id String,
    version     UInt32,
    entity_id   String,
    ola         LowCardinality(String),
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

-- OLA attainment per team, metric, priority (at the outcome) and month of the outcome.
CREATE VIEW IF NOT EXISTS ola_attainment_monthly AS
SELECT
    ola,
    metric,
    level AS priority,
    toStartOfMonth(at) AS month,
    countIf(type = 'met') AS met,
    countIf(type = 'missed') AS missed,
    met / (met + missed) AS attainment
FROM ola_events
WHERE type IN ('met', 'missed')
GROUP BY ola, metric, priority, month;

-- A customer SLA instance's elapsed time split by the assignment group holding the ticket
-- ('' for none), one row per group, from the instance's status records.
CREATE TABLE IF NOT EXISTS sla_held_time
(
    instance_id      String,
    version          UInt32,
    assignment_group String,
    held_s           Float64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (instance_id, assignment_group);

-- The split of each instance's latest status row only (a late event can take a group out).
CREATE VIEW IF NOT EXISTS sla_time_split AS
SELECT i.customer AS customer, i.contract_id AS contract_id, i.entity_id AS entity_id, i.instance_id AS instance_id,
       i.metric AS metric, i.outcome AS outcome, i.breached AS breached, i.elapsed_s AS elapsed_s,
       h.assignment_group AS assignment_group, h.held_s AS held_s
FROM sla_held_time AS h FINAL
INNER JOIN (SELECT * FROM sla_instance_status FINAL) AS i ON i.instance_id = h.instance_id AND i.version = h.version;

-- Each ticket's path through assignment groups in event time (repeats of a group in a row
-- collapsed, unassigned stretches left out) and its hand-offs (moves between groups).
CREATE VIEW IF NOT EXISTS ticket_handoffs AS
SELECT customer, entity_id AS ticket_id, path, greatest(length(path) - 1, 0) AS handoffs,
       length(path) - length(arrayDistinct(path)) AS returns
FROM
(
    SELECT customer, entity_id,
           arrayCompact(arrayFilter(g -> g != '', arrayMap(x -> x.3, arraySort(groupArray(
               (occurred_at, event_id, JSONExtractString(payload, 'assignment_group'))))))) AS path
    FROM input_events FINAL
    WHERE kind = 'ticket'
    GROUP BY customer, entity_id
);

-- Per group: tickets it handed on, and how often a ticket came back to it (ping-pong).
CREATE VIEW IF NOT EXISTS group_handoffs AS
SELECT group_name AS assignment_group, countIf(i < length(path)) AS handed_on,
       countIf(has(arraySlice(path, 1, i - 1), group_name)) AS came_back, uniqExact((customer, ticket_id)) AS tickets
FROM ticket_handoffs
ARRAY JOIN path AS group_name, arrayEnumerate(path) AS i
GROUP BY assignment_group;
