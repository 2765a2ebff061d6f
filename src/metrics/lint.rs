//! `lint`: data-quality findings with fixed ids, counts and example ids, so a number
//! that looks wrong can be traced to its rows (docs/metrics.md).

use polars::prelude::*;

use super::model::{collect, lead_funnel, mapped_events, opportunities, Tables, FUNNEL, STAGES};
use super::params::{local_date, Params};
use crate::config::norm;
use crate::error::{PolarsContext, Result};
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

/// The touches whose lead is not in `known` (its one column `lead_id`). The lead ids
/// are compared first on their own, and the few unknown ones then pick their touches:
/// reading every touch's `touch_id` (one distinct string per row) to keep a handful
/// cost more than the comparison. None when every touch's lead is known (the touches
/// are then not read a second time).
fn unknown_lead_touches(
    tables: &Tables,
    touches: &LazyFrame,
    known: &LazyFrame,
) -> Result<Option<LazyFrame>> {
    let start = std::time::Instant::now();
    let unknown_of = |touches: LazyFrame, known: LazyFrame| {
        touches
            .select([col("lead_id")])
            .anti_join(known, col("lead_id"), col("lead_id"))
            .unique(None, UniqueKeepStrategy::Any)
    };
    let unknown = match tables.by_lead_partition(known.clone(), "lint", unknown_of)? {
        Some(lf) => lf,
        None => unknown_of(touches.clone(), known.clone()),
    };
    let unknown = super::model::collect_streaming(unknown, "lint")?;
    crate::observe::timing("lint touch_unknown_lead ids", start);
    if unknown.height() == 0 {
        return Ok(None);
    }
    let ids = unknown.column("lead_id").context(|| "lint".to_string())?;
    // A null lead id is unknown too (nulls never match in the join), so it matches
    // a null among the ids.
    Ok(Some(touches.clone().filter(col("lead_id").is_in(
        lit(ids.as_materialized_series().clone()).implode(false),
        true,
    ))))
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

fn concat_ids(parts: Vec<LazyFrame>) -> Option<LazyFrame> {
    if parts.is_empty() {
        None
    } else {
        Some(concat(parts, UnionArgs::default()).expect("same schema"))
    }
}

/// **lint** — every check of docs/metrics.md with its count (rows of the table concerned) and
/// up to five example ids. Checks are listed in ascending order of their id.
pub fn lint(tables: &Tables, p: &Params, manifest: Option<&Manifest>) -> Result<DataFrame> {
    let mut findings = Vec::new();
    let known_leads = tables.leads.clone().map(|l| l.select([col("lead_id")]));
    // Computed once and held, with only the columns the checks below read (the whole
    // lead funnel of three million leads is about a gigabyte).
    let opps = match opportunities(tables, p) {
        Some(o) => Some(
            collect(
                o.select(
                    [
                        "opportunity_id",
                        "lead_id",
                        "linked",
                        "status",
                        "amount",
                        "amount_base",
                        "created_at",
                        "closed_at",
                        "close_date",
                    ]
                    .map(col),
                ),
                "lint",
            )?
            .lazy(),
        ),
        None => None,
    };
    let funnel = match lead_funnel(tables, p) {
        Some(f) => Some(
            collect(
                f.select(
                    std::iter::once(col("lead_id"))
                        .chain(seen_columns())
                        .collect::<Vec<_>>(),
                ),
                "lint",
            )?
            .lazy(),
        ),
        None => None,
    };
    // Three checks of the lifecycle events need each event's lead: one join for all.
    let events = match (mapped_events(tables, p), tables.leads.clone()) {
        (Some(e), Some(l)) => Some(events_with_leads(e, l)?),
        _ => None,
    };

    // duplicate_keys_merged: rows that collapsed into another with the same key within
    // one input, as recorded by the latest ingest.
    let (dups, dup_examples) = manifest
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
    findings.push(Finding {
        check: "duplicate_keys_merged",
        count: dups,
        examples: dup_examples,
    });

    // stage_backfilled: leads that reached a stage without being seen at exactly it.
    findings.push(finding(
        "stage_backfilled",
        funnel.clone().map(|f| {
            let seen = seen_columns();
            let mut cond = lit(false);
            for (i, stage) in seen.iter().enumerate().take(FUNNEL - 1) {
                let later = seen[i + 1..]
                    .iter()
                    .map(|c| c.clone().is_not_null())
                    .reduce(|a, b| a.or(b))
                    .expect("non-empty");
                cond = cond.or(stage.clone().is_null().and(later));
            }
            f.filter(cond)
        }),
        "lead_id",
    )?);

    // events_out_of_order: a later funnel stage first seen before an earlier one.
    findings.push(finding(
        "events_out_of_order",
        funnel.clone().map(|f| {
            let seen = seen_columns();
            let mut cond = lit(false);
            for (i, earlier) in seen.iter().enumerate() {
                for later in &seen[i + 1..] {
                    cond = cond.or(later.clone().lt(earlier.clone()).fill_null(lit(false)));
                }
            }
            f.filter(cond)
        }),
        "lead_id",
    )?);

    findings.push(finding(
        "event_before_lead_created",
        // Only known leads' events (what `lead_events` gives): an unknown lead has no
        // creation time to be before. The stage mapping plays no part.
        events.clone().map(|e| e.filter(col("__before"))),
        "lead_id",
    )?);

    findings.push(finding(
        "opportunity_without_lead",
        opps.clone().map(|o| o.filter(col("linked").not())),
        "opportunity_id",
    )?);

    findings.push(finding(
        "touch_unknown_lead",
        match (&tables.touches, &known_leads) {
            (Some(t), Some(l)) => unknown_lead_touches(tables, t, l)?,
            (t, None) => t.clone(),
            (None, _) => None,
        },
        "touch_id",
    )?);

    findings.push(finding(
        "event_unknown_lead",
        match &events {
            Some(e) => Some(e.clone().filter(col("__known").not())),
            // Without leads every event's lead is unknown.
            None => tables.lead_stage_events.clone(),
        },
        "lead_id",
    )?);

    findings.push(finding(
        "event_unknown_opportunity",
        tables
            .opportunity_stage_events
            .clone()
            .map(|e| match &tables.opportunities {
                Some(o) => e.anti_join(
                    o.clone().select([col("opportunity_id")]),
                    col("opportunity_id"),
                    col("opportunity_id"),
                ),
                None => e,
            }),
        "opportunity_id",
    )?);

    // stage_without_opportunity (an addition of ours): leads seen at exactly the
    // `opportunity` or `customer` stage that no opportunity links to — e.g. a CRM
    // status saying "converted" while the conversion never happened.
    findings.push(finding(
        "stage_without_opportunity",
        funnel.clone().map(|f| {
            let reached = f.filter(
                col("seen_opportunity")
                    .is_not_null()
                    .or(col("seen_customer").is_not_null()),
            );
            match &opps {
                Some(o) => reached.anti_join(
                    o.clone()
                        .filter(col("lead_id").is_not_null())
                        .select([col("lead_id")]),
                    col("lead_id"),
                    col("lead_id"),
                ),
                None => reached,
            }
        }),
        "lead_id",
    )?);

    // unmapped_stage_value: lifecycle values mapped nowhere, opportunity stages not in
    // their pipeline's list.
    let mut unmapped = Vec::new();
    // Unmapped values first (few), then only those of known leads (`lead_events`).
    if let Some(e) = &events {
        unmapped.push(
            e.clone()
                .filter(col("__unmapped").and(col("__known")))
                .select([col("lead_id").alias("id")]),
        );
    }
    if let (Some(e), Some(o)) = (
        tables.opportunity_stage_events.clone(),
        tables.opportunities.clone(),
    ) {
        unmapped
            .push(unmapped_opportunity_stages(e, o, p).select([col("opportunity_id").alias("id")]));
    }
    findings.push(finding("unmapped_stage_value", concat_ids(unmapped), "id")?);

    // unmapped_source: lead (and opportunity) sources listed under no [sources] team.
    let listed: Vec<String> = p
        .config
        .sources
        .values()
        .flatten()
        .map(|s| norm(s))
        .collect();
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
    let mut sources = Vec::new();
    if let Some(l) = tables.leads.clone() {
        sources.push(unlisted(l, "lead_id"));
    }
    if let Some(o) = tables.opportunities.clone() {
        sources.push(unlisted(o, "opportunity_id"));
    }
    findings.push(finding("unmapped_source", concat_ids(sources), "id")?);

    let opp_check = |check: &'static str, cond: Expr| -> Result<Finding> {
        finding(
            check,
            opps.clone().map(|o| o.filter(cond)),
            "opportunity_id",
        )
    };
    findings.push(opp_check(
        "won_without_amount",
        col("status").eq(lit("won")).and(col("amount").is_null()),
    )?);
    findings.push(opp_check(
        "closed_without_closed_at",
        col("status")
            .neq(lit("open"))
            .and(col("closed_at").is_null()),
    )?);
    findings.push(opp_check(
        "closed_before_created",
        col("closed_at").lt(col("created_at")).fill_null(lit(false)),
    )?);
    let today = (local_date(p.as_of, p.tz)
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid"))
    .num_days() as i32;
    findings.push(opp_check(
        "open_past_close_date",
        col("status").eq(lit("open")).and(
            col("close_date")
                .cast(DataType::Int32)
                .lt(lit(today))
                .fill_null(lit(false)),
        ),
    )?);

    // amount_without_rate: amounts (opportunities) and costs (campaigns) whose currency
    // has no rate to the base currency.
    let mut no_rate = Vec::new();
    if let Some(o) = opps.clone() {
        no_rate.push(
            o.filter(
                col("amount")
                    .is_not_null()
                    .and(col("amount_base").is_null()),
            )
            .select([col("opportunity_id").alias("id")]),
        );
    }
    if let Some(c) = tables.campaigns.clone() {
        no_rate.push(
            c.filter(
                col("cost")
                    .is_not_null()
                    .and(super::model::to_base(col("cost"), col("currency"), &p.config).is_null()),
            )
            .select([col("campaign_id").alias("id")]),
        );
    }
    findings.push(finding("amount_without_rate", concat_ids(no_rate), "id")?);

    findings.sort_by_key(|f| f.check);
    let n = findings.len();
    let examples: Vec<Series> = findings
        .iter()
        .map(|f| Series::new("".into(), f.examples.clone()))
        .collect();
    let examples = Series::new("examples".into(), examples);
    Ok(DataFrame::new(
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
    .expect("equal lengths"))
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
