//! `lint`: data-quality findings with fixed ids, counts and example ids, so a number
//! that looks wrong can be traced to its rows (docs/metrics.md).

use polars::prelude::*;

use super::model::{collect, lead_funnel, mapped_events, opportunities, Tables, FUNNEL, STAGES};
use super::params::{local_date, Params};
use crate::config::norm;
use crate::error::{PolarsContext, Result};
use crate::model::columns::{CAMPAIGNS, LEADS, OPPORTUNITIES, OPPORTUNITY_STAGE_EVENTS, TOUCHES};
use crate::model::warehouse::Manifest;

/// One finding: rows concerned and up to five example ids, smallest first.
struct Finding {
    check: &'static str,
    count: i64,
    examples: Vec<String>,
}

/// The first exact sighting of each funnel stage, in funnel order.
fn seen_columns() -> Vec<Expr> {
    STAGES[..FUNNEL]
        .iter()
        .map(|s| col(format!("seen_{s}")))
        .collect()
}

/// Counts the rows of `lf` and takes the five smallest distinct values of `id`.
fn finding(check: &'static str, lf: Option<LazyFrame>, id: &str) -> Result<Finding> {
    let Some(lf) = lf else {
        return Ok(Finding {
            check,
            count: 0,
            examples: vec![],
        });
    };
    // One pass: the ids of every finding row, counted and sampled here.
    let start = std::time::Instant::now();
    let ids = super::model::collect_streaming(
        lf.select([col(id).cast(DataType::String).alias("id")]),
        "lint",
    )?;
    crate::observe::timing(&format!("lint {check}"), start);
    let count = ids.height() as i64;
    let ex = ids
        .lazy()
        .filter(col("id").is_not_null())
        .unique(None, UniqueKeepStrategy::First)
        .sort(["id"], SortMultipleOptions::default())
        .limit(5)
        .collect()
        .context(|| "lint".to_string())?;
    let examples = ex
        .column("id")
        .ok()
        .map(|c| {
            (0..c.len())
                .filter_map(|i| c.get(i).ok().and_then(|v| v.get_str().map(String::from)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Finding {
        check,
        count,
        examples,
    })
}

/// The touches (`touch_id`, `lead_id`) whose lead is not in `known` (its one column
/// `lead_id`), as a plan: stored at ingest with the derived tables
/// ([`super::derived`]) and read from there when the tables carry them. The lead
/// ids are compared first on their own, and the few unknown ones then pick their
/// touches: reading every touch's `touch_id` (one distinct string per row) to keep
/// a handful cost more than the comparison.
pub fn unknown_lead_touches(tables: &Tables, known: LazyFrame) -> Result<LazyFrame> {
    if let Some(lf) = &tables.unknown_lead_touches {
        return Ok(lf.clone());
    }
    let start = std::time::Instant::now();
    let unknown_of = |touches: LazyFrame, known: LazyFrame| {
        touches
            .select([col("lead_id")])
            .anti_join(known, col("lead_id"), col("lead_id"))
            .unique(None, UniqueKeepStrategy::Any)
    };
    let touches = tables.or_empty(&TOUCHES);
    let unknown = match tables.by_lead_partition(known.clone(), "lint", unknown_of)? {
        Some(lf) => lf,
        None => unknown_of(touches.clone(), known),
    };
    let unknown = super::model::collect_streaming(unknown, "lint")?;
    crate::observe::timing("lint touch_unknown_lead ids", start);
    let columns = [col("touch_id"), col("lead_id")];
    if unknown.height() == 0 {
        return Ok(touches.select(columns).limit(0));
    }
    // A null lead id is unknown too (nulls never match in the anti join), so it
    // matches a null among the ids.
    if unknown.height() > super::model::NARROW_SET_MAX {
        // Many unknown leads (touches of leads created after an earlier as-of, say):
        // a join, where a set test would cost per touch as the set grows.
        return Ok(touches
            .join(
                unknown.lazy(),
                [col("lead_id")],
                [col("lead_id")],
                JoinArgs {
                    nulls_equal: true,
                    ..JoinArgs::new(JoinType::Semi)
                },
            )
            .select(columns));
    }
    let ids = unknown.column("lead_id").context(|| "lint".to_string())?;
    Ok(touches
        .filter(col("lead_id").is_in(
            lit(ids.as_materialized_series().clone()).implode(false),
            true,
        ))
        .select(columns))
}

/// The lifecycle events (`mapped_events`) with what the event checks ask of their
/// lead, in memory: `lead_id`, `__known` (the lead exists), `__before` (entered
/// before the lead was created) and `__unmapped` (its stage value is mapped nowhere).
fn events_with_leads(events: LazyFrame, leads: LazyFrame) -> Result<LazyFrame> {
    let start = std::time::Instant::now();
    let joined = super::model::collect_streaming(
        events
            .select([col("lead_id"), col("entered_at"), col("stage_idx")])
            .join(
                leads.select([
                    col("lead_id"),
                    col("created_at").alias("__created"),
                    lit(true).alias("__known"),
                ]),
                [col("lead_id")],
                [col("lead_id")],
                JoinArgs::new(JoinType::Left),
            )
            .select([
                col("lead_id"),
                col("__known").fill_null(lit(false)),
                col("entered_at")
                    .lt(col("__created"))
                    .fill_null(lit(false))
                    .alias("__before"),
                col("stage_idx").is_null().alias("__unmapped"),
            ]),
        "lint",
    )?;
    crate::observe::timing("lint events with their leads", start);
    Ok(joined.lazy())
}

/// Every lead's `lead_id` and `created_at`: from the lead funnel when the tables
/// carry it (one row per lead; in memory in a report), else from the leads table.
fn lead_creations(tables: &Tables) -> LazyFrame {
    let columns = [col("lead_id"), col("created_at")];
    match &tables.funnel {
        Some(funnel) => funnel.clone().select(columns),
        None => tables.or_empty(&LEADS).select(columns),
    }
}

fn concat_ids(parts: Vec<LazyFrame>) -> Option<LazyFrame> {
    if parts.is_empty() {
        None
    } else {
        Some(concat(parts, UnionArgs::default()).expect("same schema"))
    }
}

/// **lint** — every check of docs/metrics.md with its count (rows of the table
/// concerned) and up to five example ids. Checks are listed in ascending order of
/// their id. A table the warehouse lacks has no rows to find.
pub fn lint(tables: &Tables, p: &Params, manifest: Option<&Manifest>) -> Result<DataFrame> {
    let input = Input::read(tables, p, manifest)?;
    let mut findings = CHECKS
        .iter()
        .map(|check| check(&input))
        .collect::<Result<Vec<_>>>()?;
    findings.sort_by_key(|f| f.check);
    let n = findings.len();
    let examples: Vec<Series> = findings
        .iter()
        .map(|f| Series::new("".into(), f.examples.clone()))
        .collect();
    let examples = Series::new("examples".into(), examples);
    DataFrame::new(
        n,
        vec![
            Column::new(
                "check".into(),
                findings.iter().map(|f| f.check).collect::<Vec<_>>(),
            ),
            Column::new(
                "count".into(),
                findings.iter().map(|f| f.count).collect::<Vec<_>>(),
            ),
            examples.into_column(),
        ],
    )
    .context(|| "lint".to_string())
}

/// What the checks read, computed once.
struct Input<'a> {
    tables: &'a Tables,
    p: &'a Params,
    manifest: Option<&'a Manifest>,
    /// The lead ids the warehouse knows (one column `lead_id`).
    known_leads: LazyFrame,
    /// The modelled opportunities, in memory, with only the columns the checks read.
    opps: LazyFrame,
    /// The lead funnel's first sightings, in memory (the whole funnel of three
    /// million leads is about a gigabyte).
    funnel: LazyFrame,
    /// Every lifecycle event with what the event checks ask of its lead
    /// ([`events_with_leads`]): one join for three checks.
    events: LazyFrame,
}

impl<'a> Input<'a> {
    fn read(tables: &'a Tables, p: &'a Params, manifest: Option<&'a Manifest>) -> Result<Self> {
        let leads = tables.or_empty(&LEADS);
        let opp_columns = [
            "opportunity_id",
            "lead_id",
            "linked",
            "status",
            "amount",
            "amount_base",
            "created_at",
            "closed_at",
            "close_date",
        ];
        let opps = collect(
            opportunities(tables, p).select(opp_columns.map(col)),
            "lint",
        )?;
        let funnel_columns: Vec<Expr> = std::iter::once(col("lead_id"))
            .chain(seen_columns())
            .collect();
        let funnel = collect(lead_funnel(tables, p).select(funnel_columns), "lint")?;
        Ok(Input {
            tables,
            p,
            manifest,
            known_leads: leads.clone().select([col("lead_id")]),
            opps: opps.lazy(),
            funnel: funnel.lazy(),
            events: events_with_leads(mapped_events(tables, p), lead_creations(tables))?,
        })
    }

    /// The modelled opportunities matching `cond`, as a finding.
    fn opportunities_where(&self, check: &'static str, cond: Expr) -> Result<Finding> {
        finding(
            check,
            Some(self.opps.clone().filter(cond)),
            "opportunity_id",
        )
    }
}

/// One lint check.
type Check = fn(&Input<'_>) -> Result<Finding>;

/// Every check, each a function named after its id.
const CHECKS: &[Check] = &[
    duplicate_keys_merged,
    stage_backfilled,
    events_out_of_order,
    event_before_lead_created,
    event_in_future,
    opportunity_without_lead,
    touch_unknown_lead,
    event_unknown_lead,
    event_unknown_opportunity,
    stage_without_opportunity,
    unmapped_stage_value,
    unmapped_source,
    won_without_amount,
    closed_without_closed_at,
    closed_before_created,
    open_past_close_date,
    amount_without_rate,
];

/// Rows that collapsed into another with the same key within one input, as recorded
/// by the latest ingest.
fn duplicate_keys_merged(input: &Input<'_>) -> Result<Finding> {
    let (count, examples) = input
        .manifest
        .and_then(|m| m.runs.last())
        .map(|run| {
            let n: u64 = run.tables.values().map(|t| t.duplicates).sum();
            let mut ex: Vec<String> = run
                .tables
                .values()
                .flat_map(|t| t.duplicate_examples.clone())
                .collect();
            ex.sort();
            ex.dedup();
            ex.truncate(5);
            (n as i64, ex)
        })
        .unwrap_or((0, vec![]));
    Ok(Finding {
        check: "duplicate_keys_merged",
        count,
        examples,
    })
}

/// Leads that reached a stage without being seen at exactly it.
fn stage_backfilled(input: &Input<'_>) -> Result<Finding> {
    let seen = seen_columns();
    let mut cond = lit(false);
    for (i, stage) in seen.iter().enumerate().take(FUNNEL - 1) {
        let later = seen[i + 1..]
            .iter()
            .map(|c| c.clone().is_not_null())
            .reduce(|a, b| a.or(b))
            .expect("a later stage");
        cond = cond.or(stage.clone().is_null().and(later));
    }
    finding(
        "stage_backfilled",
        Some(input.funnel.clone().filter(cond)),
        "lead_id",
    )
}

/// A later funnel stage first seen before an earlier one.
fn events_out_of_order(input: &Input<'_>) -> Result<Finding> {
    let seen = seen_columns();
    let mut cond = lit(false);
    for (i, earlier) in seen.iter().enumerate() {
        for later in &seen[i + 1..] {
            cond = cond.or(later.clone().lt(earlier.clone()).fill_null(lit(false)));
        }
    }
    finding(
        "events_out_of_order",
        Some(input.funnel.clone().filter(cond)),
        "lead_id",
    )
}

/// Events of known leads entered before their lead was created (an unknown lead has
/// no creation time to be before; the stage mapping plays no part).
fn event_before_lead_created(input: &Input<'_>) -> Result<Finding> {
    finding(
        "event_before_lead_created",
        Some(input.events.clone().filter(col("__before"))),
        "lead_id",
    )
}

/// Rows with an event dated after the latest ingest began (a typo in a year?): the
/// default as-of leaves them out. Examples are the rows' keys.
fn event_in_future(input: &Input<'_>) -> Result<Finding> {
    let reference = input
        .manifest
        .and_then(|m| m.runs.last())
        .and_then(|run| crate::time::parse_timestamp(&run.started_at, chrono_tz::Tz::UTC).ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    let parts = super::EVENT_INSTANTS
        .iter()
        .map(|(table, column)| {
            input
                .tables
                .uncut(table)
                .filter(super::model::us(column).gt(lit(reference)))
                .select([col(table.key[0]).alias("id")])
        })
        .collect();
    finding("event_in_future", concat_ids(parts), "id")
}

fn opportunity_without_lead(input: &Input<'_>) -> Result<Finding> {
    input.opportunities_where("opportunity_without_lead", col("linked").not())
}

fn touch_unknown_lead(input: &Input<'_>) -> Result<Finding> {
    let unknown = unknown_lead_touches(input.tables, input.known_leads.clone())?;
    finding("touch_unknown_lead", Some(unknown), "touch_id")
}

fn event_unknown_lead(input: &Input<'_>) -> Result<Finding> {
    finding(
        "event_unknown_lead",
        Some(input.events.clone().filter(col("__known").not())),
        "lead_id",
    )
}

fn event_unknown_opportunity(input: &Input<'_>) -> Result<Finding> {
    let unknown = input.tables.or_empty(&OPPORTUNITY_STAGE_EVENTS).anti_join(
        input
            .tables
            .or_empty(&OPPORTUNITIES)
            .select([col("opportunity_id")]),
        col("opportunity_id"),
        col("opportunity_id"),
    );
    finding("event_unknown_opportunity", Some(unknown), "opportunity_id")
}

/// Leads seen at exactly the `opportunity` or `customer` stage that no opportunity
/// links to — e.g. a CRM status saying "converted" while the conversion never
/// happened (an addition of ours to the usual checks).
fn stage_without_opportunity(input: &Input<'_>) -> Result<Finding> {
    let reached = input.funnel.clone().filter(
        col("seen_opportunity")
            .is_not_null()
            .or(col("seen_customer").is_not_null()),
    );
    let linked = input
        .opps
        .clone()
        .filter(col("lead_id").is_not_null())
        .select([col("lead_id")]);
    finding(
        "stage_without_opportunity",
        Some(reached.anti_join(linked, col("lead_id"), col("lead_id"))),
        "lead_id",
    )
}

/// Lifecycle values mapped nowhere (events of known leads), and opportunity stages
/// not in their pipeline's list.
fn unmapped_stage_value(input: &Input<'_>) -> Result<Finding> {
    let lifecycle = input
        .events
        .clone()
        .filter(col("__unmapped").and(col("__known")))
        .select([col("lead_id").alias("id")]);
    let opportunity = unmapped_opportunity_stages(
        input.tables.or_empty(&OPPORTUNITY_STAGE_EVENTS),
        input.tables.or_empty(&OPPORTUNITIES),
        input.p,
    )
    .select([col("opportunity_id").alias("id")]);
    finding(
        "unmapped_stage_value",
        concat_ids(vec![lifecycle, opportunity]),
        "id",
    )
}

/// Lead (and opportunity) sources listed under no `[sources]` team.
fn unmapped_source(input: &Input<'_>) -> Result<Finding> {
    let listed = input.p.config.listed_sources();
    let unlisted = |lf: LazyFrame, id: &str| {
        lf.filter(
            col("source").is_not_null().and(
                col("source")
                    .str()
                    .to_lowercase()
                    .is_in(
                        lit(Series::new("".into(), listed.clone())).implode(false),
                        false,
                    )
                    .not(),
            ),
        )
        .select([col(id).alias("id")])
    };
    let sources = vec![
        unlisted(input.tables.or_empty(&LEADS), "lead_id"),
        unlisted(input.tables.or_empty(&OPPORTUNITIES), "opportunity_id"),
    ];
    finding("unmapped_source", concat_ids(sources), "id")
}

fn won_without_amount(input: &Input<'_>) -> Result<Finding> {
    input.opportunities_where(
        "won_without_amount",
        col("status").eq(lit("won")).and(col("amount").is_null()),
    )
}

fn closed_without_closed_at(input: &Input<'_>) -> Result<Finding> {
    input.opportunities_where(
        "closed_without_closed_at",
        col("status")
            .neq(lit("open"))
            .and(col("closed_at").is_null()),
    )
}

fn closed_before_created(input: &Input<'_>) -> Result<Finding> {
    input.opportunities_where(
        "closed_before_created",
        col("closed_at").lt(col("created_at")).fill_null(lit(false)),
    )
}

/// Open opportunities whose `close_date` is before the as-of local date.
fn open_past_close_date(input: &Input<'_>) -> Result<Finding> {
    let today = (local_date(input.p.as_of, input.p.tz)
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid"))
    .num_days() as i32;
    input.opportunities_where(
        "open_past_close_date",
        col("status").eq(lit("open")).and(
            col("close_date")
                .cast(DataType::Int32)
                .lt(lit(today))
                .fill_null(lit(false)),
        ),
    )
}

/// Amounts (opportunities) and costs (campaigns) whose currency has no rate to the
/// base currency.
fn amount_without_rate(input: &Input<'_>) -> Result<Finding> {
    let amounts = input
        .opps
        .clone()
        .filter(
            col("amount")
                .is_not_null()
                .and(col("amount_base").is_null()),
        )
        .select([col("opportunity_id").alias("id")]);
    let costs =
        input
            .tables
            .or_empty(&CAMPAIGNS)
            .filter(col("cost").is_not_null().and(
                super::model::to_base(col("cost"), col("currency"), &input.p.config).is_null(),
            ))
            .select([col("campaign_id").alias("id")]);
    finding(
        "amount_without_rate",
        concat_ids(vec![amounts, costs]),
        "id",
    )
}

/// Opportunity stage events whose stage is not in the stage list of the
/// opportunity's pipeline (events of unknown opportunities use the default list).
pub fn unmapped_opportunity_stages(events: LazyFrame, opps: LazyFrame, p: &Params) -> LazyFrame {
    let o = &p.config.opportunity;
    let (mut pk, mut sk) = (Vec::new(), Vec::new());
    for s in &o.stages {
        pk.push(String::new());
        sk.push(norm(s));
    }
    for (name, pl) in &o.pipelines {
        for s in &pl.stages {
            pk.push(norm(name));
            sk.push(norm(s));
        }
    }
    let n = pk.len();
    let known = DataFrame::new(
        n,
        vec![
            Column::new("__pkey".into(), pk),
            Column::new("__skey".into(), sk),
        ],
    )
    .expect("equal lengths")
    .lazy();
    let names: Vec<String> = o.pipelines.keys().map(|k| norm(k)).collect();
    let pl = col("pipeline").str().to_lowercase();
    let key = if names.is_empty() {
        lit("")
    } else {
        when(
            pl.clone()
                .is_in(lit(Series::new("".into(), names)).implode(false), false),
        )
        .then(pl)
        .otherwise(lit(""))
    };
    events
        .join(
            opps.select([col("opportunity_id"), col("pipeline")]),
            [col("opportunity_id")],
            [col("opportunity_id")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            key.fill_null(lit("")).alias("__pkey"),
            col("stage").str().to_lowercase().alias("__skey"),
        ])
        .join(
            known,
            [col("__pkey"), col("__skey")],
            [col("__pkey"), col("__skey")],
            JoinArgs::new(JoinType::Anti),
        )
}
