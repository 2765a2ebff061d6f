-- The same load as `funnel ingest` of a native export: typed columns, timestamps in
-- UTC, one row per key (the latest updated_at wins where the table has one), derived
-- touch ids for touches without one (SPEC §2). `{dir}` is replaced by bench.py.
SET TimeZone = 'UTC';

CREATE OR REPLACE TABLE leads AS
SELECT * FROM read_csv('{dir}/leads.csv', header = true, ignore_errors = true, columns = {
    'lead_id': 'VARCHAR', 'created_at': 'TIMESTAMPTZ', 'source': 'VARCHAR',
    'campaign_id': 'VARCHAR', 'owner_id': 'VARCHAR', 'segment': 'VARCHAR',
    'region': 'VARCHAR', 'account_id': 'VARCHAR', 'updated_at': 'TIMESTAMPTZ'})
WHERE lead_id IS NOT NULL AND created_at IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY updated_at DESC NULLS LAST) = 1;

CREATE OR REPLACE TABLE lead_stage_events AS
SELECT DISTINCT * FROM read_csv('{dir}/lead_stage_events.csv', header = true, ignore_errors = true, columns = {
    'lead_id': 'VARCHAR', 'stage': 'VARCHAR', 'entered_at': 'TIMESTAMPTZ'})
WHERE lead_id IS NOT NULL AND stage IS NOT NULL AND entered_at IS NOT NULL;

CREATE OR REPLACE TABLE touches AS
WITH raw AS (
    SELECT * FROM read_csv('{dir}/touches.csv', header = true, ignore_errors = true, columns = {
        'touch_id': 'VARCHAR', 'lead_id': 'VARCHAR', 'occurred_at': 'TIMESTAMPTZ',
        'channel': 'VARCHAR', 'action': 'VARCHAR', 'team': 'VARCHAR', 'campaign_id': 'VARCHAR'})
    WHERE lead_id IS NOT NULL AND occurred_at IS NOT NULL AND team IN ('marketing', 'sales')
)
SELECT * EXCLUDE (touch_id),
    coalesce(touch_id, sha256(concat_ws('|', lead_id, strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ'),
        coalesce(channel, ''), coalesce(action, ''), team, coalesce(campaign_id, '')))) AS touch_id
FROM raw
QUALIFY row_number() OVER (PARTITION BY coalesce(touch_id, sha256(concat_ws('|', lead_id,
    strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ'), coalesce(channel, ''), coalesce(action, ''),
    team, coalesce(campaign_id, ''))))) = 1;

CREATE OR REPLACE TABLE campaigns AS
SELECT * FROM read_csv('{dir}/campaigns.csv', header = true, ignore_errors = true, columns = {
    'campaign_id': 'VARCHAR', 'name': 'VARCHAR', 'channel': 'VARCHAR', 'started_at': 'TIMESTAMPTZ',
    'ended_at': 'TIMESTAMPTZ', 'cost': 'DOUBLE', 'currency': 'VARCHAR'})
QUALIFY row_number() OVER (PARTITION BY campaign_id) = 1;

CREATE OR REPLACE TABLE opportunities AS
SELECT * FROM read_csv('{dir}/opportunities.csv', header = true, ignore_errors = true, columns = {
    'opportunity_id': 'VARCHAR', 'lead_id': 'VARCHAR', 'account_id': 'VARCHAR', 'owner_id': 'VARCHAR',
    'pipeline': 'VARCHAR', 'created_at': 'TIMESTAMPTZ', 'close_date': 'DATE', 'closed_at': 'TIMESTAMPTZ',
    'status': 'VARCHAR', 'stage': 'VARCHAR', 'amount': 'DOUBLE', 'currency': 'VARCHAR',
    'source': 'VARCHAR', 'updated_at': 'TIMESTAMPTZ'})
WHERE status IN ('open', 'won', 'lost')
QUALIFY row_number() OVER (PARTITION BY opportunity_id ORDER BY updated_at DESC NULLS LAST) = 1;

CREATE OR REPLACE TABLE opportunity_stage_events AS
SELECT DISTINCT ON (opportunity_id, stage, entered_at) * FROM read_csv('{dir}/opportunity_stage_events.csv',
    header = true, ignore_errors = true, columns = {
    'opportunity_id': 'VARCHAR', 'stage': 'VARCHAR', 'entered_at': 'TIMESTAMPTZ', 'amount': 'DOUBLE'});

CREATE OR REPLACE TABLE quotas AS
SELECT * FROM read_csv('{dir}/quotas.csv', header = true, columns = {
    'owner_id': 'VARCHAR', 'period_start': 'DATE', 'period_end': 'DATE', 'amount': 'DOUBLE'});

CREATE OR REPLACE TABLE owners AS
SELECT * FROM read_csv('{dir}/owners.csv', header = true, columns = {
    'owner_id': 'VARCHAR', 'name': 'VARCHAR', 'team': 'VARCHAR', 'manager_id': 'VARCHAR', 'region': 'VARCHAR'});
