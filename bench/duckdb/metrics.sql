-- SPEC §5 metrics written by hand in SQL, as an analyst would, on the tables of
-- load.sql: waterfall, conversion, touches, sla, win-rate and linear attribution,
-- with funnel.toml's default definitions (backfill, 48 h SLA, marketing touches,
-- 365-day lookback). The range is the 12 full months before the latest lead.
SET TimeZone = 'UTC';
SET VARIABLE as_of = (SELECT max(created_at) FROM leads);
SET VARIABLE range_to = (SELECT date_trunc('month', getvariable('as_of')));
SET VARIABLE range_from = (SELECT getvariable('range_to') - INTERVAL 12 MONTH);

CREATE OR REPLACE TEMP TABLE stage_map AS
SELECT * FROM (VALUES ('lead', 'lead', 1), ('new', 'lead', 1), ('mql', 'mql', 2),
    ('marketing qualified', 'mql', 2), ('sal', 'sal', 3), ('sql', 'sql', 4),
    ('opportunity', 'opportunity', 5), ('customer', 'customer', 6),
    ('recycled', 'recycled', 7), ('nurture', 'recycled', 7), ('disqualified', 'disqualified', 8))
    AS t(raw, stage, idx);

-- One row per lead: the first time it reached each stage (a later stage backfills
-- earlier ones), opportunity from linked opportunities, customer from won ones.
CREATE OR REPLACE TEMP TABLE lead_funnel AS
WITH ev AS (
    SELECT e.lead_id, m.idx, min(e.entered_at) AS ts
    FROM lead_stage_events e JOIN stage_map m ON lower(trim(e.stage)) = m.raw
    WHERE e.entered_at <= getvariable('as_of') AND m.idx <= 6
    GROUP BY ALL
    UNION ALL
    SELECT lead_id, 5, min(created_at) FROM opportunities
    WHERE lead_id IS NOT NULL AND created_at <= getvariable('as_of') GROUP BY ALL
    UNION ALL
    SELECT lead_id, 6, min(closed_at) FROM opportunities
    WHERE lead_id IS NOT NULL AND status = 'won' AND closed_at <= getvariable('as_of') GROUP BY ALL
), seen AS (
    SELECT lead_id,
        min(ts) FILTER (WHERE idx = 1) AS s1, min(ts) FILTER (WHERE idx = 2) AS s2,
        min(ts) FILTER (WHERE idx = 3) AS s3, min(ts) FILTER (WHERE idx = 4) AS s4,
        min(ts) FILTER (WHERE idx = 5) AS s5, min(ts) FILTER (WHERE idx = 6) AS s6
    FROM ev GROUP BY lead_id
)
SELECT l.lead_id, l.created_at, l.source,
    l.created_at AS lead_at,
    least(s.s2, s.s3, s.s4, s.s5, s.s6) AS mql_at,
    least(s.s3, s.s4, s.s5, s.s6) AS sal_at,
    least(s.s4, s.s5, s.s6) AS sql_at,
    least(s.s5, s.s6) AS opportunity_at,
    s.s6 AS customer_at
FROM leads l LEFT JOIN seen s USING (lead_id);

-- waterfall
SELECT count(*) AS leads, count(mql_at) AS mql, count(sal_at) AS sal, count(sql_at) AS sql,
    count(opportunity_at) AS opportunity, count(customer_at) AS customer
FROM lead_funnel
WHERE created_at >= getvariable('range_from') AND created_at < getvariable('range_to');

-- conversion: monthly cohorts
SELECT date_trunc('month', created_at) AS cohort, count(*) AS leads,
    count(mql_at) / count(*) AS lead_to_mql,
    count(sql_at) / nullif(count(mql_at), 0) AS mql_to_sql,
    count(customer_at) / nullif(count(sql_at), 0) AS sql_to_customer
FROM lead_funnel
WHERE created_at >= getvariable('range_from') AND created_at < getvariable('range_to')
GROUP BY 1 ORDER BY 1;

-- touches: counted marketing touches before each milestone
WITH counted AS (
    SELECT t.lead_id, t.occurred_at FROM touches t
    WHERE t.team = 'marketing' AND t.action IN ('open', 'click', 'visit', 'form', 'event',
        'download', 'reply', 'meeting', 'call') AND t.occurred_at <= getvariable('as_of')
), per AS (
    SELECT f.lead_id,
        count(c.occurred_at) FILTER (WHERE c.occurred_at <= f.lead_at) AS to_lead,
        count(c.occurred_at) FILTER (WHERE c.occurred_at <= f.mql_at) AS to_mql,
        count(c.occurred_at) FILTER (WHERE c.occurred_at <= f.sql_at) AS to_sql,
        any_value(f.mql_at) AS mql_at, any_value(f.sql_at) AS sql_at
    FROM lead_funnel f LEFT JOIN counted c USING (lead_id)
    WHERE f.created_at >= getvariable('range_from') AND f.created_at < getvariable('range_to')
    GROUP BY f.lead_id
)
SELECT avg(to_lead), median(to_lead), quantile_cont(to_lead, 0.9),
    avg(to_mql) FILTER (WHERE mql_at IS NOT NULL), median(to_mql) FILTER (WHERE mql_at IS NOT NULL),
    avg(to_sql) FILTER (WHERE sql_at IS NOT NULL), median(to_sql) FILTER (WHERE sql_at IS NOT NULL)
FROM per;

-- sla: MQL episodes in range handled (accepted or rejected) within 48 h
WITH mapped AS (
    SELECT e.lead_id, e.entered_at, m.stage FROM lead_stage_events e
    JOIN stage_map m ON lower(trim(e.stage)) = m.raw
), mqls AS (
    SELECT lead_id, entered_at AS mql_at FROM mapped WHERE stage = 'mql'
        AND entered_at >= getvariable('range_from') AND entered_at < getvariable('range_to')
), handled AS (
    SELECT q.lead_id, q.mql_at, min(m.entered_at) AS handled_at
    FROM mqls q LEFT JOIN mapped m ON m.lead_id = q.lead_id AND m.entered_at >= q.mql_at
        AND m.stage IN ('sal', 'sql', 'opportunity', 'customer', 'recycled', 'disqualified')
    GROUP BY ALL
)
SELECT count(*) AS mqls,
    count(*) FILTER (WHERE handled_at <= mql_at + INTERVAL 48 HOUR) AS within_sla,
    median(epoch(handled_at - mql_at) / 3600) AS median_hours
FROM handled;

-- win-rate: opportunities closed in range
SELECT count(*) FILTER (WHERE status = 'won') AS won, count(*) FILTER (WHERE status = 'lost') AS lost,
    count(*) FILTER (WHERE status = 'won') / nullif(count(*), 0) AS win_rate,
    sum(amount * CASE currency WHEN 'EUR' THEN 1.08 ELSE 1 END) FILTER (WHERE status = 'won') AS won_amount
FROM opportunities
WHERE status IN ('won', 'lost') AND closed_at >= getvariable('range_from') AND closed_at < getvariable('range_to');

-- linear attribution: won revenue in range shared equally by the marketing touches of
-- the opportunity's lead in the 365 days before the opportunity was created
WITH won AS (
    SELECT opportunity_id, lead_id, created_at,
        amount * CASE currency WHEN 'EUR' THEN 1.08 ELSE 1 END AS revenue
    FROM opportunities
    WHERE status = 'won' AND lead_id IS NOT NULL
        AND closed_at >= getvariable('range_from') AND closed_at < getvariable('range_to')
), path AS (
    SELECT w.opportunity_id, w.revenue, t.channel
    FROM won w JOIN touches t ON t.lead_id = w.lead_id AND t.team = 'marketing'
        AND t.occurred_at <= w.created_at AND t.occurred_at > w.created_at - INTERVAL 365 DAY
), credit AS (
    SELECT channel, revenue / count(*) OVER (PARTITION BY opportunity_id) AS credit FROM path
)
SELECT channel, sum(credit) AS revenue FROM credit GROUP BY channel ORDER BY revenue DESC;
