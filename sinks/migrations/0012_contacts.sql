-- Contact-centre service levels (docs/contacts.md). Interval records are stored as the
-- worker published them (JSONEachRow, no Python per row): inserted into the Null table
-- below, split by its views into one contact_intervals row per channel and one
-- contact_objective_intervals row per objective measure judged. A corrected interval
-- comes again with a higher version: ReplacingMergeTree keeps the newest.
CREATE TABLE IF NOT EXISTS contact_intervals
(
    customer        LowCardinality(String),
    queue           String,
    channel         LowCardinality(String),
    interval_start  DateTime('UTC'),
    version         UInt32,
    offered         UInt32,
    answered        UInt32,
    abandoned       UInt32,
    wait_answered_s Float64,
    handle_s        Float64,
    fcr_recorded    UInt32,
    fcr_resolved    UInt32,
    short_le_s      Array(Float64),
    short_abandoned Array(UInt32),
    within_le_s     Array(Float64),
    answered_within Array(UInt32)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (customer, queue, channel, interval_start);

CREATE TABLE IF NOT EXISTS contact_objective_intervals
(
    contract_id    LowCardinality(String),
    customer       LowCardinality(String),
    objective      String,
    queue          String,
    channel        Nullable(String),
    measure        LowCardinality(String),
    interval_start DateTime('UTC'),
    version        UInt32,
    num            Float64,
    den            Float64,
    value          Float64,
    target         Float64,
    met            Bool
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (contract_id, objective, customer, queue, measure, interval_start);

CREATE TABLE IF NOT EXISTS contact_intervals_in
(
    customer       String,
    queue          String,
    interval_start DateTime('UTC'),
    version        UInt32,
    channels       Array(Tuple(channel String, offered UInt32, answered UInt32, abandoned UInt32,
                               wait_answered_s Float64, handle_s Float64, fcr_recorded UInt32, fcr_resolved UInt32,
                               short_le_s Array(Float64), short_abandoned Array(UInt32),
                               within_le_s Array(Float64), answered_within Array(UInt32))),
    objectives     Array(Tuple(contract_id String, objective String, channel Nullable(String), measure String,
                               num Float64, den Float64, value Float64, target Float64, met Bool))
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_intervals_in_mv TO contact_intervals AS
SELECT customer, queue, c.channel AS channel, interval_start, version, c.offered AS offered, c.answered AS answered,
       c.abandoned AS abandoned, c.wait_answered_s AS wait_answered_s, c.handle_s AS handle_s,
       c.fcr_recorded AS fcr_recorded, c.fcr_resolved AS fcr_resolved, c.short_le_s AS short_le_s,
       c.short_abandoned AS short_abandoned, c.within_le_s AS within_le_s, c.answered_within AS answered_within
FROM contact_intervals_in
ARRAY JOIN channels AS c;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_objective_intervals_in_mv TO contact_objective_intervals AS
SELECT o.contract_id AS contract_id, customer, o.objective AS objective, queue, o.channel AS channel,
       o.measure AS measure, interval_start, version, o.num AS num, o.den AS den, o.value AS value,
       o.target AS target, o.met AS met
FROM contact_intervals_in
ARRAY JOIN objectives AS o;

-- Objective breaches and recoveries as published on the breach topic, once per event_id.
CREATE TABLE IF NOT EXISTS contact_alerts
(
    event_id       String,
    type           LowCardinality(String),
    contract_id    LowCardinality(String),
    customer       LowCardinality(String),
    objective      String,
    queue          String,
    channel        Nullable(String),
    measure        LowCardinality(String),
    interval_start DateTime('UTC'),
    at             DateTime('UTC'),
    value          Nullable(Float64),
    target         Float64,
    corrects       Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(interval_start)
ORDER BY event_id;

-- The facts that hold (corrections applied), as sla_events does for SLAs.
CREATE VIEW IF NOT EXISTS contact_events AS
SELECT * EXCEPT (corrects)
FROM contact_alerts FINAL
WHERE type != 'correction'
  AND event_id NOT IN (SELECT assumeNotNull(corrects) FROM contact_alerts FINAL WHERE type = 'correction');

-- The contact-centre figures per customer, queue and channel, rolled up by hour, day and month
-- (UTC, of the queue time). Short abandons and answered-within counts are per threshold
-- (short_le_s, within_le_s: those of the policy in force; a policy change starts rows of its own).
-- Service level and abandonment rate depend on a contract's formula: contact_objective_levels_*.
CREATE VIEW IF NOT EXISTS contact_levels_hourly AS
SELECT
    customer, queue, channel, toStartOfHour(interval_start) AS hour,
    sum(offered) AS offered, sum(answered) AS answered, sum(abandoned) AS abandoned,
    short_le_s, sumForEach(short_abandoned) AS short_abandoned, within_le_s, sumForEach(answered_within) AS answered_within,
    if(answered = 0, NULL, sum(wait_answered_s) / answered) AS asa_s,
    if(answered = 0, NULL, sum(handle_s) / answered) AS aht_s,
    if(sum(fcr_recorded) = 0, NULL, sum(fcr_resolved) / sum(fcr_recorded)) AS fcr
FROM contact_intervals FINAL
GROUP BY customer, queue, channel, hour, short_le_s, within_le_s;

CREATE VIEW IF NOT EXISTS contact_levels_daily AS
SELECT
    customer, queue, channel, toDate(interval_start) AS day,
    sum(offered) AS offered, sum(answered) AS answered, sum(abandoned) AS abandoned,
    short_le_s, sumForEach(short_abandoned) AS short_abandoned, within_le_s, sumForEach(answered_within) AS answered_within,
    if(answered = 0, NULL, sum(wait_answered_s) / answered) AS asa_s,
    if(answered = 0, NULL, sum(handle_s) / answered) AS aht_s,
    if(sum(fcr_recorded) = 0, NULL, sum(fcr_resolved) / sum(fcr_recorded)) AS fcr
FROM contact_intervals FINAL
GROUP BY customer, queue, channel, day, short_le_s, within_le_s;

CREATE VIEW IF NOT EXISTS contact_levels_monthly AS
SELECT
    customer, queue, channel, toStartOfMonth(interval_start) AS month,
    sum(offered) AS offered, sum(answered) AS answered, sum(abandoned) AS abandoned,
    short_le_s, sumForEach(short_abandoned) AS short_abandoned, within_le_s, sumForEach(answered_within) AS answered_within,
    if(answered = 0, NULL, sum(wait_answered_s) / answered) AS asa_s,
    if(answered = 0, NULL, sum(handle_s) / answered) AS aht_s,
    if(sum(fcr_recorded) = 0, NULL, sum(fcr_resolved) / sum(fcr_recorded)) AS fcr
FROM contact_intervals FINAL
GROUP BY customer, queue, channel, month, short_le_s, within_le_s;

-- Per contract objective measure, queue and month: the month's figure (the sum of the
-- intervals' numerators over that of their denominators) against the target, and the share
-- of judged intervals that met it (what credit tiers apply to).
CREATE VIEW IF NOT EXISTS contact_attainment_monthly AS
SELECT
    contract_id, customer, objective, queue, measure, month, intervals, intervals_met,
    intervals_met / intervals AS attainment, num / den AS value, target,
    toBool(if(measure = 'service_level', num >= target * den, num <= target * den)) AS month_met
FROM
(
    SELECT contract_id, customer, objective, queue, measure, toStartOfMonth(interval_start) AS month,
           count() AS intervals, countIf(met) AS intervals_met, sum(num) AS num, sum(den) AS den,
           any(target) AS target
    FROM contact_objective_intervals FINAL
    GROUP BY contract_id, customer, objective, queue, measure, month
);

-- The same by hour and by day: each objective measure's figure over the period (service level,
-- ASA or abandonment rate by the contract's formula) and whether it meets the target.
CREATE VIEW IF NOT EXISTS contact_objective_levels_hourly AS
SELECT
    contract_id, customer, objective, queue, measure, hour, intervals, intervals_met, num / den AS value, target,
    toBool(if(measure = 'service_level', num >= target * den, num <= target * den)) AS met
FROM
(
    SELECT contract_id, customer, objective, queue, measure, toStartOfHour(interval_start) AS hour,
           count() AS intervals, countIf(met) AS intervals_met, sum(num) AS num, sum(den) AS den,
           any(target) AS target
    FROM contact_objective_intervals FINAL
    GROUP BY contract_id, customer, objective, queue, measure, hour
);

CREATE VIEW IF NOT EXISTS contact_objective_levels_daily AS
SELECT
    contract_id, customer, objective, queue, measure, day, intervals, intervals_met, num / den AS value, target,
    toBool(if(measure = 'service_level', num >= target * den, num <= target * den)) AS met
FROM
(
    SELECT contract_id, customer, objective, queue, measure, toDate(interval_start) AS day,
           count() AS intervals, countIf(met) AS intervals_met, sum(num) AS num, sum(den) AS den,
           any(target) AS target
    FROM contact_objective_intervals FINAL
    GROUP BY contract_id, customer, objective, queue, measure, day
);

-- The credit tier each contract objective measure earned per queue and month: the largest
-- credit whose `below` the month's attainment (share of intervals met) falls under; 0 when none.
CREATE VIEW IF NOT EXISTS contact_credits_monthly AS
SELECT
    a.contract_id AS contract_id, a.customer AS customer, a.objective AS objective, a.queue AS queue,
    a.measure AS measure, a.month AS month, a.attainment AS attainment,
    arrayMax(arrayConcat([0.], arrayFilter((p, b) -> a.attainment < b, c.credit_percent, c.credit_below))) AS credit_percent
FROM contact_attainment_monthly AS a
LEFT JOIN (SELECT * FROM slo_contracts FINAL) AS c ON c.contract_id = a.contract_id;
